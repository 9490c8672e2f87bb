"""Bounded handoffs: a completed delegating step, a Handoff row and a queued child step."""

from .. import signals
from ..exceptions import (
    InvalidDelegatedKind,
    InvalidDelegatedRoleId,
    InvalidHandoffInput,
    InvalidRootRoleId,
)
from ..payloads import check_json
from ..projection import check_projected_context
from ..states import StepStatus


def record_handoff(journal, parent_step, handoff):
    """Write the Handoff and its queued child under ``journal``; return the child step."""
    from ..models import Handoff

    child = journal.add_step(
        kind=handoff["delegated_kind"],
        role_id=handoff["delegated_role_id"],
        status=StepStatus.QUEUED,
        parent_step_id=parent_step.pk,
        handoff_input=handoff["handoff_input"],
        projected_context=handoff["projected_context"],
    )
    row = Handoff(
        run_id=journal.run.pk,
        parent_step_id=parent_step.pk,
        child_step_id=child.pk,
        delegated_role_id=handoff["delegated_role_id"],
        delegated_kind=handoff["delegated_kind"],
        capability_tags=handoff["capability_tags"],
        handoff_input=handoff["handoff_input"],
        created_at=journal.now,
    )
    journal.after_flush(lambda: row.save(force_insert=True))
    journal.record(
        "handoff_created",
        step_id=parent_step.pk,
        handoff_id=str(row.pk),
        delegated_role_id=row.delegated_role_id,
        delegated_kind=row.delegated_kind,
        child_step_id=str(child.pk),
    )
    journal.record("step_queued", step_id=child.pk, step_status=str(StepStatus.QUEUED))
    journal.signal(
        signals.handoff_created,
        handoff_id=str(row.pk),
        delegated_role_id=row.delegated_role_id,
        delegated_kind=row.delegated_kind,
    )
    return child


def _blank(value):
    return not isinstance(value, str) or not value.strip()


def validate_handoff(
    delegated_role_id,
    root_role_id,
    delegated_kind,
    handoff_input,
    projected_context,
    scoped_context,
    capability_tags,
):
    """SPEC 1.5's checks, in its order, before any write; returns the handoff dict."""
    if _blank(delegated_role_id):
        raise InvalidDelegatedRoleId(
            "delegated_role_id must be a non-blank string", field="delegated_role_id"
        )
    if _blank(root_role_id):
        raise InvalidRootRoleId("root_role_id must be a non-blank string", field="root_role_id")
    if _blank(delegated_kind):
        raise InvalidDelegatedKind(
            "delegated_kind must be a non-blank string", field="delegated_kind"
        )
    if not isinstance(handoff_input, dict):
        raise InvalidHandoffInput("handoff_input must be a dict", field="handoff_input")
    check_json(handoff_input, field="handoff_input")
    field = "scoped_context" if scoped_context is not None else "projected_context"
    context = scoped_context if scoped_context is not None else projected_context
    check_projected_context(context, field=field)
    if isinstance(capability_tags, str) or not isinstance(
        capability_tags, list | tuple | set | frozenset
    ):
        raise InvalidHandoffInput(
            "capability_tags must be a list of strings", field="capability_tags"
        )
    return {
        "delegated_role_id": delegated_role_id,
        "delegated_kind": delegated_kind,
        "handoff_input": handoff_input,
        "projected_context": context,
        "capability_tags": [str(tag) for tag in capability_tags],
    }
