"""What a handler may return besides a plain JSON value."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Complete:
    value: object = None
    next_steps: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class WaitForApproval:
    tool_name: str
    arguments: object = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Handoff:
    delegated_role_id: str
    delegated_kind: str = "handoff"
    handoff_input: object = None
    projected_context: object = None
    # A bare string is kept (not split into characters) so validation can reject it.
    capability_tags: tuple[str | int, ...] | str = ()


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def complete(
    value: object = None, *, next_steps: Iterable[Mapping[str, Any]] | None = ()
) -> Complete:
    """Complete the step with ``value``; ``next_steps`` are queued in the same run."""
    return Complete(value, tuple(next_steps or ()))


def wait_for_approval(
    tool_name: str, arguments: object = None, reason: str | None = None
) -> WaitForApproval:
    """Pause the run until ``resume_run``; the request is stored on the step."""
    return WaitForApproval(tool_name, arguments, reason)


def handoff(
    delegated_role_id: str,
    delegated_kind: str = "handoff",
    handoff_input: dict[str, Any] | None = None,
    projected_context: dict[str, Any] | None = None,
    capability_tags: Iterable[str | int] | None = (),
) -> Handoff:
    """Delegate a bounded slice of context to another role as a queued child step."""
    return Handoff(
        delegated_role_id,
        delegated_kind,
        handoff_input,
        projected_context,
        # A bare string stays a string so validation rejects it instead of splitting it.
        capability_tags if isinstance(capability_tags, str) else tuple(capability_tags or ()),
    )


def fail(reason: str, **details: Any) -> Fail:
    """Fail the step (and so the run) with ``{"reason": reason, **details}``."""
    return Fail(reason, details)
