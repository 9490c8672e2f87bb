"""Approvals: deciding them (approve / reject / expiry), who may, and reading them.

A decision is a transition (``transitions.decide_approval``) made under the run's lock;
once a step has no pending approval left it goes back to ``queued`` (same step id) and
its handler sees every decision of its pause as ``ctx.approval`` / ``ctx.approvals``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.functions import Now
from django.utils.module_loading import import_string

from .. import transitions
from ..conf import scoria_settings
from ..exceptions import (
    ApprovalNotAllowed,
    InvalidFilter,
    InvalidOption,
    NotFound,
    NotResumable,
)
from ..identity import Identity
from ..identity import identity as make_identity
from ..ids import parse_uuid, run_pk
from ..payloads import check_json
from ..records import ApprovalSummary, RunSummary
from ..states import ApprovalStatus, OnExpiry, RunStatus, StepStatus
from ..transitions import ClaimLost, locked_run
from ..transitions.approvals import DECISIONS
from .executor import run_after_commit
from .handlers import handler_path, resolve_handlers
from .reads import get_run

logger = logging.getLogger(__name__)

MAX_COMMENT = 2000

# -- who may decide ----------------------------------------------------------------


def default_policy(approval: ApprovalSummary, identity: Identity) -> bool:
    """Anyone, when the approval names no assignees and no groups; otherwise an assignee,
    or a member of one of its groups (Django ``Group`` names of the user whose pk is the
    identity's ``actor_id``)."""
    if not approval.assignees and not approval.groups:
        return True
    actor_id = identity.actor_id
    if actor_id is None:
        return False
    if actor_id in approval.assignees:
        return True
    return bool(approval.groups) and _member_of(actor_id, approval.groups)


def _member_of(actor_id: str, groups: list[str]) -> bool:
    users = get_user_model().objects
    try:
        return users.filter(pk=actor_id, groups__name__in=groups).exists()
    except (ValueError, TypeError):
        return False  # an actor id that is no user pk belongs to no group


def may_decide(approval: ApprovalSummary, identity: Identity) -> bool:
    """``SCORIA_APPROVAL_POLICY`` asked about one approval."""
    policy = import_string(scoria_settings.APPROVAL_POLICY)
    return bool(policy(approval, identity))


# -- decisions ------------------------------------------------------------------------


def approve(
    run_id: str | uuid.UUID,
    *,
    approval_id: str | uuid.UUID | None = None,
    identity: Identity | Mapping[str, Any] | None = None,
    input: Any = None,
    arguments: Any = None,
    comment: str | None = None,
    handlers: dict[str, Any] | None = None,
) -> RunSummary:
    """Approve one pending approval of the run (``approval_id``) or all of them.

    ``arguments`` replaces the requested arguments (the handler sees the edited ones);
    ``input`` reaches the handler as ``ctx.approval["input"]``.
    """
    return _decide(
        run_id,
        "approve",
        approval_id=approval_id,
        identity=identity,
        input=input,
        arguments=arguments,
        comment=comment,
        reason=None,
        handlers=handlers,
    )


def reject(
    run_id: str | uuid.UUID,
    *,
    approval_id: str | uuid.UUID | None = None,
    identity: Identity | Mapping[str, Any] | None = None,
    reason: str | None = None,
    input: Any = None,
) -> RunSummary:
    """Reject one pending approval of the run (``approval_id``) or all of them. The step
    runs again and decides what a rejection means: the run does not fail by itself."""
    return _decide(
        run_id,
        "reject",
        approval_id=approval_id,
        identity=identity,
        input=input,
        arguments=None,
        comment=None,
        reason=reason,
        handlers=None,
    )


def _text(value, field):
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_COMMENT:
        raise InvalidOption(f"{field} must be a string of at most {MAX_COMMENT} chars", field=field)
    check_json(value, field=field)
    return value


def _decide(run_id, name, *, approval_id, identity, input, arguments, comment, reason, handlers):
    pk = run_pk(run_id)
    ident = make_identity(identity)
    wanted = None
    if approval_id is not None:
        wanted = parse_uuid(approval_id)
        if wanted is None:
            raise NotFound(f"approval {approval_id!s} does not exist")
    check_json(input, field="input")
    check_json(arguments, field="arguments")
    comment, reason = _text(comment, "comment"), _text(reason, "reason")
    resolved = resolve_handlers(handlers)
    with locked_run(pk) as journal:
        if journal.run.status != RunStatus.WAITING_FOR_APPROVAL:
            raise NotResumable(f"run {pk} is {journal.run.status}; nothing waits for a decision")
        pending = transitions.pending_approvals(journal, wanted)
        if not pending:
            if wanted is not None and not _in_run(journal, wanted):
                raise NotFound(f"approval {approval_id!s} does not exist in run {pk}")
            raise NotResumable(f"run {pk} has no pending approval to decide")
        decide_pending(
            journal,
            pending,
            name,
            ident,
            input=input,
            arguments=arguments,
            comment=comment,
            reason=reason,
            handlers=resolved,
        )
    return get_run(pk)


def decide_pending(
    journal,
    pending: list,
    name: str,
    ident: Identity,
    *,
    input: Any = None,
    arguments: Any = None,
    comment: str | None = None,
    reason: str | None = None,
    handlers: dict | None = None,
) -> None:
    """Decide ``pending`` approvals of the locked run for ``ident`` (every one must be
    allowed by the policy, or nothing is written), then continue the steps they free."""
    for approval in pending:
        if not may_decide(ApprovalSummary.from_approval(approval), ident):
            raise ApprovalNotAllowed(
                f"{ident.actor_id or 'this identity'} may not decide approval {approval.pk}"
            )
    if handlers:
        journal.set_run(handlers={**journal.run.handlers, **handlers})
    for approval in pending:
        transitions.decide_approval(
            journal,
            approval,
            name,
            decided_by=ident.actor_id,
            comment=comment,
            reason=reason,
            input=input,
            edited_arguments=arguments if name == "approve" else None,
        )
    continue_decided_steps(journal, pending, actor_id=ident.actor_id, input=input)


def _in_run(journal, approval_pk) -> bool:
    from ..models import Approval

    return (
        Approval.objects.using(journal.alias).filter(pk=approval_pk, run_id=journal.run.pk).exists()
    )


def continue_decided_steps(journal, decided: list, *, actor_id: str | None, input: Any) -> None:
    """Every step whose approvals are now all decided runs again; the run leaves
    ``waiting_for_approval`` once no step of it waits any more."""
    steps: dict[Any, Any] = {}
    for approval in decided:
        steps.setdefault(approval.step_id, approval.step)
    ready = [
        step
        for step_id, step in steps.items()
        if step.status == StepStatus.WAITING_FOR_APPROVAL
        and not transitions.step_has_pending(journal, step_id)
    ]
    if not ready:
        return
    still_waiting = transitions.steps_of_run(journal, StepStatus.WAITING_FOR_APPROVAL)
    if not [step for step in still_waiting if step.pk not in {s.pk for s in ready}]:
        transitions.reopen_run(
            journal, "approval", actor_id=actor_id, step_ids=[str(s.pk) for s in ready]
        )
    for step in ready:
        decisions = [decision_of(a) for a in transitions.round_of(journal, step)]
        transitions.reopen_step(
            journal,
            step,
            "approval",
            actor_id=actor_id,
            input=input,
            resumed_with={
                "mode": "approval",
                "actor_id": actor_id,
                "input": input,
                "approval": decisions[0],
                "approvals": decisions,
            },
        )
        if path := handler_path(journal.run.handlers, step.kind):
            run_after_commit(journal, step, path)


def decision_of(approval) -> dict[str, Any]:
    """What the handler sees of one decided approval (``ctx.approval``)."""
    decision = {
        ApprovalStatus.APPROVED: "approved",
        ApprovalStatus.REJECTED: "rejected",
    }.get(approval.status, "expired")
    seen = {
        "approval_id": str(approval.pk),
        "decision": decision,
        "decided_by": approval.decided_by,
        "tool_name": approval.tool_name,
        "arguments": (
            approval.edited_arguments
            if approval.edited_arguments is not None
            else approval.arguments
        ),
        "input": approval.decision_input,
        "reason": approval.decision_reason,
        "comment": approval.comment,
        "call_id": approval.call_id,
    }
    if decision == "approved":
        seen["approved_by"] = approval.decided_by
    return seen


# -- expiry -------------------------------------------------------------------------


def due_approvals(limit: int) -> list:
    """Pending approvals whose ``expires_at`` passed (database clock)."""
    from ..models import Approval

    due = Approval.objects.filter(status=ApprovalStatus.PENDING, expires_at__lt=Now())
    return list(due.order_by("expires_at").values("id", "run_id")[:limit])


def expire(candidate: Mapping[str, Any]) -> str | None:
    """Apply one due approval's ``on_expiry``; None if someone else did (or it was decided)."""
    try:
        with locked_run(candidate["run_id"]) as journal:
            found = transitions.pending_approvals(journal, candidate["id"])
            if not found or found[0].expires_at is None:
                return None
            approval = found[0]
            if journal.run.status != RunStatus.WAITING_FOR_APPROVAL:
                return None
            action = approval.on_expiry
            name = "approve" if action == OnExpiry.APPROVE else "expire"
            transitions.decide_approval(
                journal,
                approval,
                name,
                decided_by=None,
                reason="expired",
                event_type="approval_expired",
            )
            if action == OnExpiry.CANCEL:
                reason = {"reason": "approval_expired", "approval_id": str(approval.pk)}
                transitions.finish_run(journal, "cancel", reason)
            else:
                continue_decided_steps(journal, [approval], actor_id=None, input=None)
            return str(action)
    except (NotFound, ClaimLost):
        return None


# -- reads ----------------------------------------------------------------------------


def get_approval(approval_id: str | uuid.UUID) -> ApprovalSummary:
    from ..models import Approval

    pk = parse_uuid(approval_id)
    approval = Approval.objects.filter(pk=pk).first() if pk else None
    if approval is None:
        raise NotFound(f"approval {approval_id!s} does not exist")
    return ApprovalSummary.from_approval(approval)


def list_approvals(
    *,
    identity: Identity | Mapping[str, Any] | None = None,
    status: str | None = "pending",
    mine: bool = False,
    run_id: str | uuid.UUID | None = None,
    limit: int | None = None,
) -> list[ApprovalSummary]:
    """The identity's tenant's approvals, oldest request first; ``mine`` keeps those the
    identity may decide (``SCORIA_APPROVAL_POLICY``); ``status=None`` means any."""
    from ..models import Approval

    ident = make_identity(identity)
    if limit is not None and (type(limit) is not int or limit <= 0):
        raise InvalidFilter("limit must be a positive integer", field="limit")
    if status is not None and status not in ApprovalStatus.values:
        raise InvalidFilter(f"unknown approval status {status!r}", field="status")
    approvals = Approval.objects.for_tenant(ident.tenant_id).order_by("requested_at", "position")
    if status is not None:
        approvals = approvals.filter(status=status)
    if run_id is not None:
        run_pk = parse_uuid(run_id)
        if run_pk is None:
            raise InvalidFilter("run_id must be a run UUID", field="run_id")
        approvals = approvals.filter(run_id=run_pk)
    summaries = []
    for approval in approvals.iterator():
        summary = ApprovalSummary.from_approval(approval)
        if mine and not may_decide(summary, ident):
            continue
        summaries.append(summary)
        if limit is not None and len(summaries) >= limit:
            break
    return summaries


__all__ = [
    "DECISIONS",
    "approve",
    "continue_decided_steps",
    "decision_of",
    "decide_pending",
    "default_policy",
    "due_approvals",
    "expire",
    "get_approval",
    "list_approvals",
    "may_decide",
    "reject",
]
