"""Bounded handoffs: a completed delegating step, a Handoff row and a queued child step."""

from .. import transitions
from ..exceptions import (
    InvalidDelegatedKind,
    InvalidDelegatedRoleId,
    InvalidHandoffInput,
    InvalidOption,
    InvalidRootRoleId,
)
from ..names import MAX_KIND_LENGTH, check_name
from ..payloads import check_json
from ..projection import check_projected_context


def record_handoff(journal, parent_step, handoff):
    """Write the Handoff and its queued child under ``journal``; return the child step."""
    return transitions.delegate_step(journal, parent_step, handoff)


def check_delegated_role_id(value):
    return check_name(value, field="delegated_role_id", error=InvalidDelegatedRoleId)


def check_root_role_id(value):
    return check_name(value, field="root_role_id", error=InvalidRootRoleId)


def check_delegated_kind(value):
    return check_name(
        value, field="delegated_kind", error=InvalidDelegatedKind, max_length=MAX_KIND_LENGTH
    )


def check_handoff_input(value):
    if not isinstance(value, dict):
        raise InvalidHandoffInput("handoff_input must be a dict", field="handoff_input")
    return check_json(value, field="handoff_input", error=InvalidHandoffInput)


def check_capability_tags(tags):
    """Tags are stored as strings: ``["read", 2]`` -> ``["read", "2"]``; None means none."""
    if tags is None:
        return []
    if isinstance(tags, str | bytes | dict) or not isinstance(tags, list | tuple | set | frozenset):
        raise InvalidOption("capability_tags must be a list of strings", field="capability_tags")
    if isinstance(tags, set | frozenset):
        tags = sorted(tags, key=str)  # a set has no order of its own; store a stable one
    stored = []
    for tag in tags:
        if isinstance(tag, bool) or not isinstance(tag, str | int):
            raise InvalidOption(f"capability tag {tag!r} is not a string", field="capability_tags")
        stored.append(str(tag))
    return check_json(stored, field="capability_tags", error=InvalidOption)


def delegation(
    delegated_role_id,
    delegated_kind,
    handoff_input,
    context,
    capability_tags,
    *,
    context_field="projected_context",
):
    """The handoff dict both entry points write, checked after the role ids."""
    return {
        "delegated_role_id": delegated_role_id,
        "delegated_kind": check_delegated_kind(delegated_kind),
        "handoff_input": check_handoff_input(handoff_input),
        "projected_context": check_projected_context(context, field=context_field),
        "capability_tags": check_capability_tags(capability_tags),
    }


def validate_handoff(
    delegated_role_id,
    root_role_id,
    delegated_kind,
    handoff_input,
    projected_context,
    scoped_context,
    capability_tags,
):
    """The handoff checks, in the order docs/handoffs.md gives, before any write; returns the
    handoff dict."""
    check_delegated_role_id(delegated_role_id)
    check_root_role_id(root_role_id)
    # ``scoped_context`` is the preferred name; ``projected_context`` is its alias.
    field = "scoped_context" if scoped_context is not None else "projected_context"
    return delegation(
        delegated_role_id,
        delegated_kind,
        handoff_input,
        scoped_context if scoped_context is not None else projected_context,
        capability_tags,
        context_field=field,
    )
