"""The transition layer: the only code that changes the ``status`` of a run, a step or an
approval.

Every move is named in ``states.RUN_TRANSITIONS`` / ``states.STEP_TRANSITIONS``; the
functions here ask that table, do the guarded write (the row count is checked), append
the event with the run's gapless sequence, and queue the signal for commit. The manager
verbs, the runtime (start, claim, outcome, resume, retry, cancel) and recovery all call
them. ``tests/test_transition_layer.py`` fails if any other module writes a status.
"""

from .agent import record_usage, save_agent_state
from .approvals import (
    cancel_pending_approvals,
    decide_approval,
    pending_approvals,
    request_approvals,
    reused_call_id,
    round_of,
    step_has_pending,
)
from .journal import RunJournal, db_alias, lock_session, locked_run, read_run
from .progress import record_progress
from .runs import (
    begin_run,
    complete_run,
    complete_run_if_done,
    fail_run_if_active,
    finish_run,
    reopen_run,
    wait_for_approval,
)
from .steps import (
    ClaimLost,
    add_completed_step,
    cascade_steps,
    claim_new_step,
    claim_queued_step,
    delegate_step,
    expired_claim,
    expired_steps,
    fail_expired_step,
    move_step,
    queue_step,
    reopen_step,
    requeue_expired_step,
    reschedule_claimed_step,
    settle_claimed_step,
    start_step,
    step_of_run,
    steps_of_run,
)

__all__ = [
    "cancel_pending_approvals",
    "decide_approval",
    "pending_approvals",
    "request_approvals",
    "reused_call_id",
    "round_of",
    "step_has_pending",
    "ClaimLost",
    "RunJournal",
    "add_completed_step",
    "begin_run",
    "cascade_steps",
    "claim_new_step",
    "claim_queued_step",
    "complete_run",
    "complete_run_if_done",
    "delegate_step",
    "db_alias",
    "expired_claim",
    "expired_steps",
    "fail_expired_step",
    "fail_run_if_active",
    "finish_run",
    "lock_session",
    "locked_run",
    "move_step",
    "queue_step",
    "read_run",
    "record_progress",
    "record_usage",
    "reopen_run",
    "reopen_step",
    "requeue_expired_step",
    "reschedule_claimed_step",
    "save_agent_state",
    "settle_claimed_step",
    "start_step",
    "step_of_run",
    "steps_of_run",
    "wait_for_approval",
]
