"""What a handler may return besides a plain JSON value."""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Complete:
    value: object = None
    next_steps: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One request for a decision (docs/approvals.md); validated when the step pauses."""

    tool_name: str
    arguments: object = None
    reason: str | None = None
    call_id: str | None = None
    assignees: tuple[Any, ...] = ()
    groups: tuple[Any, ...] = ()
    expires_in: float | datetime.timedelta | None = None
    on_expiry: str = "reject"


@dataclass(frozen=True, slots=True)
class WaitForApproval:
    """Pause the step on every request (one ``Approval`` each)."""

    requests: tuple[ApprovalRequest, ...]


@dataclass(frozen=True, slots=True)
class Handoff:
    delegated_role_id: str
    delegated_kind: str = "handoff"
    handoff_input: object = None
    projected_context: object = None
    # A bare string is kept (not split into characters) so validation can reject it.
    capability_tags: tuple[str | int, ...] | str = ()


@dataclass(frozen=True, slots=True)
class RetryLater:
    delay: float | datetime.timedelta
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Fail:
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def complete(
    value: object = None, *, next_steps: Iterable[Mapping[str, Any]] | None = ()
) -> Complete:
    """Complete the step with ``value``; ``next_steps`` are queued in the same run."""
    return Complete(value, tuple(next_steps or ()))


def _sequence(value: Any) -> tuple[Any, ...]:
    # A bare string is one entry, not a sequence of characters.
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        return (value,)
    return tuple(value)


def approval_request(
    tool_name: str,
    arguments: object = None,
    reason: str | None = None,
    *,
    call_id: str | None = None,
    assignees: Iterable[Any] = (),
    groups: Iterable[str] = (),
    expires_in: float | datetime.timedelta | None = None,
    on_expiry: str = "reject",
) -> ApprovalRequest:
    """Describe one request; pass several to ``wait_for_approvals``."""
    return ApprovalRequest(
        tool_name,
        arguments,
        reason,
        call_id,
        _sequence(assignees),
        _sequence(groups),
        expires_in,
        on_expiry,
    )


def wait_for_approval(
    tool_name: str,
    arguments: object = None,
    reason: str | None = None,
    *,
    assignees: Iterable[Any] = (),
    groups: Iterable[str] = (),
    expires_in: float | datetime.timedelta | None = None,
    on_expiry: str = "reject",
) -> WaitForApproval:
    """Pause the run for one person's decision (an ``Approval``); the step runs again once
    it is decided, with ``ctx.approval``."""
    return wait_for_approvals(
        [
            approval_request(
                tool_name,
                arguments,
                reason,
                assignees=assignees,
                groups=groups,
                expires_in=expires_in,
                on_expiry=on_expiry,
            )
        ]
    )


def wait_for_approvals(requests: Iterable[ApprovalRequest]) -> WaitForApproval:
    """Pause the step on several requests at once; it runs again when none is pending,
    with ``ctx.approvals`` in request order."""
    return WaitForApproval(_sequence(requests))


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


def retry_later(delay: float | datetime.timedelta, reason: str | None = None) -> RetryLater:
    """Run this step again after ``delay`` seconds (a poll of an external system); counts
    against the ``max_attempts`` of the handler's retry policy when it has one."""
    return RetryLater(delay, reason)


def fail(reason: str, **details: Any) -> Fail:
    """Fail the step (and so the run) with ``{"reason": reason, **details}``."""
    return Fail(reason, details)
