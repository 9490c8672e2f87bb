"""Approval transitions: requesting approvals, deciding one, cancelling the pending ones.

An approval is decided once: each move of ``states.APPROVAL_TRANSITIONS`` leaves
``pending`` with one guarded UPDATE (``WHERE status = 'pending'``) whose row count is
checked, so of concurrent decisions exactly one writes.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Max

from .. import signals, states
from ..exceptions import InvalidStatusTransition
from ..states import ApprovalStatus
from . import _sql
from .journal import RunJournal
from .steps import ClaimLost

if TYPE_CHECKING:
    from ..models import Approval, Step

# The decision a transition records, as ``ctx.approval["decision"]`` shows it.
DECISIONS = {"approve": "approved", "reject": "rejected", "expire": "expired"}


def reused_call_id(journal: RunJournal, step_id, requests: list[dict]) -> str | None:
    """A ``call_id`` of ``requests`` the step already used in an earlier pause, if any."""
    from ..models import Approval

    asked = [r["call_id"] for r in requests if r["call_id"] is not None]
    if not asked:
        return None
    taken = Approval.objects.using(journal.alias).filter(step_id=step_id, call_id__in=asked)
    return taken.values_list("call_id", flat=True).first()


def request_approvals(journal: RunJournal, step: Step, requests: list[dict]) -> list:
    """One ``pending`` Approval per request of ``step`` (which now waits for them); the
    caller checked ``reused_call_id`` first."""
    from ..models import Approval

    existing = Approval.objects.using(journal.alias).filter(step_id=step.pk)
    position = existing.aggregate(last=Max("position"))["last"] or 0
    rows = []
    for offset, request in enumerate(requests, start=1):
        expires_in = request["expires_in"]
        rows.append(
            Approval(
                run_id=journal.run.pk,
                step_id=step.pk,
                tenant_id=journal.run.tenant_id,
                position=position + offset,
                call_id=request["call_id"],
                status=ApprovalStatus.PENDING,
                tool_name=request["tool_name"],
                arguments=request["arguments"],
                reason=request["reason"],
                assignees=request["assignees"],
                groups=request["groups"],
                requested_at=journal.now,
                expires_at=(
                    journal.now + datetime.timedelta(seconds=expires_in) if expires_in else None
                ),
                on_expiry=request["on_expiry"],
            )
        )
    journal.after_flush(lambda: _sql.insert(rows, journal.connection))
    for row in rows:
        journal.record(
            "approval_requested",
            step_id=step.pk,
            approval_id=str(row.pk),
            tool_name=row.tool_name,
            call_id=row.call_id,
            assignees=row.assignees,
            groups=row.groups,
            expires_at=row.expires_at.isoformat() if row.expires_at else None,
            on_expiry=row.on_expiry,
        )
        journal.signal(
            signals.approval_requested,
            approval_id=str(row.pk),
            step_id=str(step.pk),
            tool_name=row.tool_name,
            call_id=row.call_id,
            assignees=list(row.assignees),
            groups=list(row.groups),
            expires_at=row.expires_at,
        )
    return rows


def pending_approvals(journal: RunJournal, approval_id=None) -> list:
    """The locked run's pending approvals (one, with ``approval_id``), in request order."""
    from ..models import Approval

    pending = Approval.objects.using(journal.alias).filter(
        run_id=journal.run.pk, status=ApprovalStatus.PENDING
    )
    if approval_id is not None:
        pending = pending.filter(pk=approval_id)
    return list(pending.select_related("step").order_by("step__sequence", "position"))


def decide_approval(
    journal: RunJournal,
    approval: Approval,
    name: str,
    *,
    decided_by: str | None,
    comment: str | None = None,
    reason: str | None = None,
    input: Any = None,
    edited_arguments: Any = None,
    event_type: str = "approval_decided",
) -> None:
    """Apply ``approve``, ``reject`` or ``expire`` to a pending approval of the locked run.

    Raises ``ClaimLost`` when someone decided it first (the guarded write matched nothing).
    """
    from ..models import Approval

    transition = states.APPROVAL_TRANSITIONS[name]
    if not transition.allows(approval.status):
        raise InvalidStatusTransition(approval.status, transition.target)
    values = {
        "status": transition.target,
        "decided_at": journal.now,
        "decided_by": decided_by,
        "comment": comment,
        "decision_reason": reason,
        "decision_input": input,
        "edited_arguments": edited_arguments,
    }
    guard = {"id": approval.pk, "status": ApprovalStatus.PENDING}
    if _sql.update(Approval, guard, values, journal.connection) != 1:
        raise ClaimLost
    for field, value in values.items():
        setattr(approval, field, value)
    decision = DECISIONS.get(name, name)
    journal.record(
        event_type,
        step_id=approval.step_id,
        actor_id=decided_by,
        approval_id=str(approval.pk),
        approval_status=str(transition.target),
        decision=decision,
        comment=comment,
        reason=reason,
        edited_arguments=edited_arguments,
    )
    journal.signal(
        signals.approval_decided,
        approval_id=str(approval.pk),
        step_id=str(approval.step_id),
        decision=decision,
        decided_by=decided_by,
    )


def cancel_pending_approvals(journal: RunJournal, *, step_id=None) -> list:
    """The run ended (or, with ``step_id``, that step stopped waiting): every pending
    approval of it is cancelled (same transaction)."""
    from ..models import Approval

    pending = Approval.objects.using(journal.alias).filter(
        run_id=journal.run.pk, status=ApprovalStatus.PENDING
    )
    if step_id is not None:
        pending = pending.filter(step_id=step_id)
    ids = list(pending.values_list("id", "step_id"))
    if not ids:
        return []
    target = states.APPROVAL_TRANSITIONS["cancel"].target
    updated = pending.filter(pk__in=[pk for pk, _ in ids]).update(
        status=target, decided_at=journal.now
    )
    if updated != len(ids):
        raise ClaimLost
    for approval_id, step_id in ids:
        journal.record(
            "approval_cancelled",
            step_id=step_id,
            approval_id=str(approval_id),
            approval_status=str(target),
        )
    return ids


def round_of(journal: RunJournal, step: Step) -> list:
    """The approvals of the step's latest pause, in request order."""
    from ..models import Approval

    approvals = Approval.objects.using(journal.alias).filter(step_id=step.pk)
    latest = approvals.aggregate(latest=Max("requested_at"))["latest"]
    return list(approvals.filter(requested_at=latest).order_by("position"))


def step_has_pending(journal: RunJournal, step_id) -> bool:
    from ..models import Approval

    return (
        Approval.objects.using(journal.alias)
        .filter(step_id=step_id, status=ApprovalStatus.PENDING)
        .exists()
    )
