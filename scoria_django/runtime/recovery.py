"""Recovery: wake the steps whose worker vanished. Safe to run from several processes at once.

Two cases, both judged on the database clock:

* a ``running`` step whose lease expired (its worker died or hung without heartbeats)
  goes back to ``queued`` with ``attempt + 1`` and is enqueued again, until the step
  has lost ``SCORIA_MAX_ATTEMPTS`` claims in a row; then it fails with reason
  ``lease_expired`` and so does its run;
* a ``queued`` step untouched for ``SCORIA_REQUEUE_AFTER`` seconds (its task was lost
  by the backend) is enqueued again.

Every write is a conditional UPDATE whose row count is checked, so of two recoverers
looking at the same step exactly one acts; the other sees nothing left to do.
"""

import datetime
import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from .. import transitions
from ..conf import scoria_settings
from ..exceptions import NotFound
from ..states import RUN_ACTIVE, StepStatus
from ..transitions import ClaimLost, db_alias, locked_run
from . import approvals
from .dispatch import enqueue_step
from .executor import past_deadline
from .handlers import handler_path

logger = logging.getLogger(__name__)

REQUEUED = "requeued"
FAILED = "failed"
REENQUEUED = "reenqueued"
LEASE_EXPIRED = "lease_expired"
# Events after which a step's claims are counted afresh: a person queued it again.
_FRESH_START = ("step_queued", "resume_requested", "retry_requested")


@dataclass(frozen=True)
class RecoveryAction:
    action: str  # REQUEUED, FAILED or REENQUEUED
    run_id: str
    step_id: str
    kind: str
    attempt: int

    def describe(self, dry_run=False):
        verb = {
            REQUEUED: ("requeued", "would requeue"),
            FAILED: ("failed (lease_expired)", "would fail (lease_expired)"),
            REENQUEUED: ("re-enqueued", "would re-enqueue"),
        }[self.action][dry_run]
        return (
            f"{verb} step {self.step_id} ({self.kind}, attempt {self.attempt}) of run {self.run_id}"
        )


@dataclass(frozen=True)
class ExpiredApproval:
    approval_id: str
    run_id: str
    on_expiry: str

    def describe(self, dry_run=False):
        verb = "would expire" if dry_run else "expired"
        return (
            f"{verb} approval {self.approval_id} of run {self.run_id} (on_expiry={self.on_expiry})"
        )


@dataclass(frozen=True)
class OverdueRun:
    run_id: str

    def describe(self, dry_run=False):
        verb = "would fail" if dry_run else "failed"
        return f"{verb} run {self.run_id} (deadline_exceeded)"


@dataclass
class RecoveryReport:
    dry_run: bool = False
    actions: list = field(default_factory=list)
    expired: list = field(default_factory=list)
    overdue: list = field(default_factory=list)

    def count(self, action):
        return sum(1 for item in self.actions if item.action == action)

    def summary(self):
        prefix = "dry run: " if self.dry_run else ""
        return (
            f"{prefix}requeued={self.count(REQUEUED)} failed={self.count(FAILED)} "
            f"reenqueued={self.count(REENQUEUED)} expired={len(self.expired)} "
            f"overdue={len(self.overdue)}"
        )


def recover(*, dry_run=False, limit=500):
    """One pass over expired leases, forgotten queued steps and due approvals."""
    report = RecoveryReport(dry_run=dry_run)
    for candidate in expired_claims(limit):
        action = _recover_expired(candidate, dry_run)
        if action is not None:
            report.actions.append(action)
    for candidate in stale_queued(limit):
        action = _reenqueue(candidate, dry_run)
        if action is not None:
            report.actions.append(action)
    for overdue in overdue_runs(limit):
        failed = _fail_overdue(overdue, dry_run)
        if failed is not None:
            report.overdue.append(failed)
    for due in approvals.due_approvals(limit):
        expired = _expire(due, dry_run)
        if expired is not None:
            report.expired.append(expired)
    for action in [*report.actions, *report.overdue, *report.expired]:
        logger.info("scoria_recover %s dry_run=%s", action.describe(dry_run), dry_run)
    return report


def overdue_runs(limit):
    """Active runs past their ``deadline``."""
    from ..models import Run

    overdue = Run.objects.filter(status__in=sorted(RUN_ACTIVE), deadline__lt=Now())
    return list(overdue.order_by("deadline").values_list("id", flat=True)[:limit])


def _fail_overdue(run_id, dry_run):
    if dry_run:
        return OverdueRun(str(run_id))
    try:
        with locked_run(run_id) as journal:
            if journal.run.status not in RUN_ACTIVE:
                return None
            if not past_deadline(journal):
                return None
    except NotFound:
        return None
    return OverdueRun(str(run_id))


def _expire(due, dry_run):
    """Apply one due approval's ``on_expiry`` (exactly once across recoverers)."""
    if dry_run:
        from ..models import Approval

        on_expiry = Approval.objects.filter(pk=due["id"]).values_list("on_expiry", flat=True)
        return ExpiredApproval(str(due["id"]), str(due["run_id"]), on_expiry.first() or "")
    applied = approvals.expire(due)
    if applied is None:
        return None
    return ExpiredApproval(str(due["id"]), str(due["run_id"]), applied)


def expired_claims(limit):
    """Running steps whose lease ran out. Host-driven steps have no lease and never expire."""
    from ..models import Step

    return list(
        Step.objects.filter(status=StepStatus.RUNNING, lease_expires_at__lt=Now())
        .order_by("lease_expires_at")
        .values("id", "run_id", "claim_token")[:limit]
    )


def stale_queued(limit):
    """Queued steps of active runs that nobody touched for ``SCORIA_REQUEUE_AFTER`` seconds
    (unless not due yet), and timers that came due."""
    from ..models import Step

    grace = datetime.timedelta(seconds=scoria_settings.REQUEUE_AFTER)
    forgotten = Q(updated_at__lt=Now() - grace) & (
        Q(not_before__isnull=True) | Q(not_before__lte=Now())
    )
    # A timer that came due and was not woken since (backends that cannot defer a task,
    # the inline default among them, rely on this).
    due = Q(not_before__lte=Now(), updated_at__lt=F("not_before"))
    return list(
        Step.objects.filter(
            forgotten | due, status=StepStatus.QUEUED, run__status__in=sorted(RUN_ACTIVE)
        )
        .order_by("updated_at")
        .values("id", "run_id", "kind", "attempt", "updated_at", "run__handlers")[:limit]
    )


def _lost_claims(step):
    """Claims this step lost to expired leases since it was last queued by a person."""
    from ..models import Event

    lost = 0
    types = Event.objects.filter(
        run_id=step.run_id, step_id=step.pk, event_type__in=(*_FRESH_START, "step_requeued")
    ).order_by("-sequence")
    for event_type in types.values_list("event_type", flat=True).iterator():
        if event_type != "step_requeued":
            break
        lost += 1
    return lost


def _recover_expired(candidate, dry_run):
    if dry_run:
        expired = transitions.expired_steps(db_alias(), candidate["id"], candidate["claim_token"])
        step = expired.first()
        return None if step is None else _decide(step)
    try:
        with locked_run(candidate["run_id"]) as journal:
            step = transitions.expired_claim(journal, candidate["id"], candidate["claim_token"])
            if step is None or journal.run.status not in RUN_ACTIVE:
                return None  # recorded, renewed or recovered by someone else meanwhile
            action = _decide(step)
            if action.action == FAILED:
                error = {"reason": LEASE_EXPIRED, "attempt": step.attempt}
                transitions.fail_expired_step(journal, step, error)
                transitions.fail_run_if_active(journal, error)
            else:
                transitions.requeue_expired_step(journal, step, reason=LEASE_EXPIRED)
                if handler_path(journal.run.handlers, step.kind):
                    journal.wake(step.pk)
    except (NotFound, ClaimLost):
        return None
    return action


def _decide(step):
    """Requeue (reporting the new attempt) or, at the claim budget, fail."""
    claims = _lost_claims(step) + 1
    run_id, step_id = str(step.run_id), str(step.pk)
    if claims >= scoria_settings.MAX_ATTEMPTS:
        return RecoveryAction(FAILED, run_id, step_id, step.kind, step.attempt)
    return RecoveryAction(REQUEUED, run_id, step_id, step.kind, step.attempt + 1)


def _reenqueue(candidate, dry_run):
    from ..models import Step

    action = RecoveryAction(
        REENQUEUED,
        str(candidate["run_id"]),
        str(candidate["id"]),
        candidate["kind"],
        candidate["attempt"],
    )
    if not handler_path(candidate["run__handlers"], candidate["kind"]):
        return None  # the host drives this step itself
    if dry_run:
        return action
    # Touching updated_at on the exact row we read makes the wake-up ours alone.
    touched_on = db_alias()
    touched = (
        Step.objects.using(touched_on)
        .filter(pk=candidate["id"], status=StepStatus.QUEUED, updated_at=candidate["updated_at"])
        .update(updated_at=timezone.now())
    )
    if touched != 1:
        return None
    run_id, step_id = candidate["run_id"], candidate["id"]
    transaction.on_commit(lambda: enqueue_step(run_id, step_id), using=touched_on, robust=True)
    return action
