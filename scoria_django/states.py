"""Statuses and the transition table. Pure Python: no ORM, no database.

The transition layer (``scoria_django.transitions``) asks this module whether a move is
allowed before it writes; nothing else changes a status.
"""

from typing import NamedTuple

from django.db.models import TextChoices


class RunStatus(TextChoices):
    RUNNING = "running"
    """The run is active: its steps are queued, running, or driven by the host."""
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    """A step asked for human approval; ``resume_run`` continues the same run."""
    COMPLETED = "completed"
    """Every step finished and none failed. Terminal."""
    FAILED = "failed"
    """A step failed (or the host failed the run). Terminal: only the explicit ``retry``
    transition (``resume_run``) reopens it."""
    CANCELLED = "cancelled"
    """Cancelled by the host or an operator. Terminal."""


class StepStatus(TextChoices):
    QUEUED = "queued"
    """Waiting for a worker to claim it."""
    RUNNING = "running"
    """Claimed by a worker (runtime) or started by the host (manager verbs)."""
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    """Its handler asked for approval; the run waits with it."""
    COMPLETED = "completed"
    """Finished with an output. Terminal."""
    FAILED = "failed"
    """Finished with an error. Terminal: only the explicit ``retry`` transition reopens it."""
    CANCELLED = "cancelled"
    """Cancelled, usually by the run's cancel cascade. Terminal."""


class ApprovalStatus(TextChoices):
    PENDING = "pending"
    """Waiting for a decision."""
    APPROVED = "approved"
    """Approved by a person (or by its expiry, with ``on_expiry="approve"``). Final."""
    REJECTED = "rejected"
    """Rejected by a person. Final."""
    EXPIRED = "expired"
    """Its ``expires_at`` passed with ``on_expiry`` ``reject`` or ``cancel``. Final."""
    CANCELLED = "cancelled"
    """Its run ended (cancelled or failed) while it was pending. Final."""


class OnExpiry(TextChoices):
    REJECT = "reject"
    """The step runs again with decision ``expired``."""
    APPROVE = "approve"
    """The step runs again approved, with ``decided_by`` None."""
    CANCEL = "cancel"
    """The run is cancelled."""


# A handoff has no status of its own: its child's, or this while no child exists yet.
CHILD_STEP_PENDING = "child_step_pending"

RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
STEP_TERMINAL = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED})
STEP_ACTIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING_FOR_APPROVAL})
RUN_ACTIVE = frozenset({RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL})


class Transition(NamedTuple):
    """One named move: from any of ``sources`` to ``target``."""

    name: str
    sources: frozenset[str]
    target: str

    def allows(self, current: str) -> bool:
        return current in self.sources


def _table(*transitions: Transition) -> dict[str, Transition]:
    return {transition.name: transition for transition in transitions}


_RUN_ACTIVE = frozenset({RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL})
_STEP_ACTIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING_FOR_APPROVAL})

# The one rule set, for host-driven (manager verbs) and runtime-driven runs alike. Terminal
# states absorb: no transition leaves them, except ``retry``, which reopens a failed run or
# step on purpose (``resume_run`` of a failed run). A host that never calls it sees failed
# as final.
RUN_TRANSITIONS = _table(
    Transition("wait", frozenset({RunStatus.RUNNING}), RunStatus.WAITING_FOR_APPROVAL),
    Transition("resume", frozenset({RunStatus.WAITING_FOR_APPROVAL}), RunStatus.RUNNING),
    Transition("complete", _RUN_ACTIVE, RunStatus.COMPLETED),
    Transition("fail", _RUN_ACTIVE, RunStatus.FAILED),
    Transition("cancel", _RUN_ACTIVE, RunStatus.CANCELLED),
    Transition("retry", frozenset({RunStatus.FAILED}), RunStatus.RUNNING),
)

STEP_TRANSITIONS = _table(
    Transition("claim", frozenset({StepStatus.QUEUED}), StepStatus.RUNNING),
    Transition("complete", frozenset({StepStatus.RUNNING}), StepStatus.COMPLETED),
    Transition("wait", frozenset({StepStatus.RUNNING}), StepStatus.WAITING_FOR_APPROVAL),
    Transition("fail", _STEP_ACTIVE, StepStatus.FAILED),
    Transition("cancel", _STEP_ACTIVE, StepStatus.CANCELLED),
    # Its lease expired (the worker vanished): recovery queues it again.
    Transition("requeue", frozenset({StepStatus.RUNNING}), StepStatus.QUEUED),
    # Its handler failed with a retryable error, or asked to be retried later: queued
    # again with attempt + 1, not claimed before ``not_before``.
    Transition("reschedule", frozenset({StepStatus.RUNNING}), StepStatus.QUEUED),
    # An approval was decided: the same step runs again.
    Transition("resume", frozenset({StepStatus.WAITING_FOR_APPROVAL}), StepStatus.QUEUED),
    Transition("retry", frozenset({StepStatus.FAILED}), StepStatus.QUEUED),
)

# An approval is decided once: every transition leaves ``pending`` and none comes back.
APPROVAL_TRANSITIONS = _table(
    Transition("approve", frozenset({ApprovalStatus.PENDING}), ApprovalStatus.APPROVED),
    Transition("reject", frozenset({ApprovalStatus.PENDING}), ApprovalStatus.REJECTED),
    Transition("expire", frozenset({ApprovalStatus.PENDING}), ApprovalStatus.EXPIRED),
    Transition("cancel", frozenset({ApprovalStatus.PENDING}), ApprovalStatus.CANCELLED),
)

# The explicit exception to "terminal absorbs".
REOPENING = frozenset({"retry"})


def _can_move(table: dict[str, Transition], current: str, target: str) -> bool:
    return any(
        t.target == target and t.allows(current)
        for name, t in table.items()
        if name not in REOPENING
    )


def run_can_move(current: str, target: str) -> bool:
    """May a run move from ``current`` to ``target`` by an ordinary (not reopening) move?"""
    return _can_move(RUN_TRANSITIONS, current, target)


def step_can_move(current: str, target: str) -> bool:
    return _can_move(STEP_TRANSITIONS, current, target)


def run_can_retry(current: str) -> bool:
    return RUN_TRANSITIONS["retry"].allows(current)


def step_can_retry(current: str) -> bool:
    return STEP_TRANSITIONS["retry"].allows(current)


def is_run_terminal(status: str) -> bool:
    return status in RUN_TERMINAL


def is_step_terminal(status: str) -> bool:
    return status in STEP_TERMINAL


def run_statuses_from(target: str) -> list[str]:
    """The run statuses an ordinary move to ``target`` may start from."""
    return [s for s in RunStatus if run_can_move(s, target)]


def step_statuses_from(target: str) -> list[str]:
    """The step statuses an ordinary move to ``target`` may start from."""
    return [s for s in StepStatus if step_can_move(s, target)]


def fold_events(events):
    """Fold a run's events (oldest first) into ``(run_status, {step_id: status})``.

    Each status-changing event carries ``run_status`` and/or ``step_status`` in its
    payload, so the stored state can always be recomputed from the evidence.
    """
    run_status = None
    steps = {}
    for event in events:
        payload = event["payload"] or {}
        if "run_status" in payload:
            run_status = payload["run_status"]
        if "step_status" in payload and event.get("step_id") is not None:
            steps[str(event["step_id"])] = payload["step_status"]
    return run_status, steps
