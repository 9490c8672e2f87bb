"""Statuses and the transition tables. Pure Python: no ORM, no database.

Every verb asks this module whether a move is allowed before it writes.
"""

from django.db.models import TextChoices


class RunStatus(TextChoices):
    RUNNING = "running"
    """The run is active: its steps are queued, running, or driven by the host."""
    WAITING_FOR_APPROVAL = "waiting_for_approval"
    """A step asked for human approval; ``resume_run`` continues the same run."""
    COMPLETED = "completed"
    """Every step finished and none failed. Terminal."""
    FAILED = "failed"
    """A step failed (or the host failed the run). Terminal for the manager verbs;
    the runtime's ``resume_run`` may retry it."""
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
    """Finished with an error. Terminal, except for the runtime retry."""
    CANCELLED = "cancelled"
    """Cancelled, usually by the run's cancel cascade. Terminal."""


# A handoff has no status of its own: its child's, or this while no child exists yet.
CHILD_STEP_PENDING = "child_step_pending"

RUN_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED})
STEP_TERMINAL = frozenset({StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED})
STEP_ACTIVE = frozenset({StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING_FOR_APPROVAL})
RUN_ACTIVE = frozenset({RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL})

# The moves of the lifecycle verbs (SPEC section 2) and of the runtime (SPEC section 1).
# Terminal states absorb: they have no outgoing moves here. The single exception is
# the runtime's explicit retry of a failed run (RETRY_MOVES), used only by resume_run.
RUN_MOVES = {
    RunStatus.RUNNING: frozenset(
        {
            RunStatus.WAITING_FOR_APPROVAL,
            RunStatus.COMPLETED,
            RunStatus.FAILED,
            RunStatus.CANCELLED,
        }
    ),
    RunStatus.WAITING_FOR_APPROVAL: frozenset(
        {RunStatus.RUNNING, RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED}
    ),
}

STEP_MOVES = {
    StepStatus.QUEUED: frozenset({StepStatus.RUNNING, StepStatus.FAILED, StepStatus.CANCELLED}),
    StepStatus.RUNNING: frozenset(
        {
            StepStatus.COMPLETED,
            StepStatus.FAILED,
            StepStatus.CANCELLED,
            StepStatus.WAITING_FOR_APPROVAL,
            StepStatus.QUEUED,  # lease expired: recovery re-queues it
        }
    ),
    StepStatus.WAITING_FOR_APPROVAL: frozenset(
        {StepStatus.QUEUED, StepStatus.FAILED, StepStatus.CANCELLED}
    ),
}

RUN_RETRY_MOVES = {RunStatus.FAILED: frozenset({RunStatus.RUNNING})}
STEP_RETRY_MOVES = {StepStatus.FAILED: frozenset({StepStatus.QUEUED})}


def run_can_move(current, target):
    return target in RUN_MOVES.get(current, ())


def step_can_move(current, target):
    return target in STEP_MOVES.get(current, ())


def run_can_retry(current):
    return RunStatus.RUNNING in RUN_RETRY_MOVES.get(current, ())


def step_can_retry(current):
    return StepStatus.QUEUED in STEP_RETRY_MOVES.get(current, ())


def is_run_terminal(status):
    return status in RUN_TERMINAL


def is_step_terminal(status):
    return status in STEP_TERMINAL


def run_statuses_from(target):
    """The run statuses a conditional UPDATE to ``target`` may start from."""
    return [status for status, targets in RUN_MOVES.items() if target in targets]


def step_statuses_from(target):
    """The step statuses a conditional UPDATE to ``target`` may start from."""
    return [status for status, targets in STEP_MOVES.items() if target in targets]


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
