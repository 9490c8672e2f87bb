"""Run transitions: begin, wait, reopen (resume / retry), complete, fail and cancel.

The run row itself is written once per transaction by the journal's flush, guarded by the
event counter read under the row lock; these functions decide the move (asking
``states.RUN_TRANSITIONS``), record its event and queue its signal for commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import signals
from ..exceptions import ActiveSteps
from ..states import STEP_ACTIVE, RunStatus, StepStatus
from . import _sql
from .approvals import cancel_pending_approvals
from .journal import RunJournal, new_run
from .steps import cascade_steps

if TYPE_CHECKING:
    from ..models import Run


@contextmanager
def begin_run(run: Run) -> Iterator[RunJournal]:
    """One transaction inserting ``run``, ``running`` from the start, with its
    ``run_started`` event and signal."""
    run.status = RunStatus.RUNNING
    with new_run(run) as journal:
        run.started_at = journal.now
        journal.record(
            "run_started", actor_id=run.actor_id, run_status=str(RunStatus.RUNNING), kind=run.kind
        )
        journal.signal(
            signals.run_started,
            session_id=run.session_id,
            actor_id=run.actor_id,
            tenant_id=run.tenant_id,
        )
        yield journal


def wait_for_approval(journal: RunJournal, step_id, approval_request: Any) -> None:
    """A step asked for approval: the run waits with it (if it is not waiting already)."""
    if journal.run.status == RunStatus.RUNNING:
        journal.move_run("wait")
        journal.record(
            "run_waiting_for_approval",
            step_id=step_id,
            run_status=str(RunStatus.WAITING_FOR_APPROVAL),
        )
    journal.signal(
        signals.run_waiting_for_approval,
        step_id=str(step_id),
        approval_request=approval_request,
    )


def reopen_run(journal: RunJournal, mode: str, *, actor_id: str | None, step_ids: list) -> None:
    """``resume`` a waiting run (mode ``approval``) or ``retry`` a failed one."""
    # Sent before the steps' own signals: receivers hear of the resume before any outcome.
    journal.signal(signals.run_resumed, actor_id=actor_id, mode=mode, step_ids=step_ids)
    journal.move_run("retry" if mode == "retry" else "resume", error=None)


def complete_run(journal: RunJournal, output: Any) -> None:
    """The host completes its run (``Run.objects.complete``): no step may be unfinished."""
    from ..models import Step

    journal.move_run("complete", output=output)
    unfinished = Step.objects.using(journal.alias).filter(
        run_id=journal.run.pk, status__in=STEP_ACTIVE
    )
    if unfinished.exists():
        raise ActiveSteps("the run still has queued, running or waiting steps")
    _completed(journal)


# Steps that keep a run from completing by itself: it completes only when every step is
# terminal and none failed (a host may have failed a step it drives itself).
_UNFINISHED_OR_FAILED = sorted({*STEP_ACTIVE, StepStatus.FAILED})


def complete_run_if_done(journal: RunJournal, output: Any) -> bool:
    """After a step completed: complete the run when nothing is left to do."""
    from ..models import Step

    left = _sql.exists(
        Step, {"run_id": journal.run.pk, "status": _UNFINISHED_OR_FAILED}, journal.connection
    )
    if left:
        return False
    journal.move_run("complete", output=output)
    _completed(journal)
    return True


def _completed(journal: RunJournal) -> None:
    journal.record("run_completed", run_status=str(RunStatus.COMPLETED))
    journal.signal(signals.run_finished, status=str(RunStatus.COMPLETED))


# The stored field and the event key of each unsuccessful ending.
_FINISH_FIELDS = {"fail": ("error", "error"), "cancel": ("cancel_reason", "reason")}


def finish_run(journal: RunJournal, name: str, value: Any, *, actor_id: str | None = None) -> None:
    """``fail`` or ``cancel`` the locked run, cascading the same payload to every unfinished
    step in the same transaction."""
    field, event_key = _FINISH_FIELDS[name]
    # Approvals are pending only while their step, and so the run, waits.
    waited = journal.run.status == RunStatus.WAITING_FOR_APPROVAL
    journal.move_run(name, **{field: value})
    target = str(journal.run.status)
    cascade_steps(journal, name, **{field: value})
    if waited:
        cancel_pending_approvals(journal)
    journal.record(f"run_{target}", actor_id=actor_id, run_status=target, **{event_key: value})
    journal.signal(signals.run_finished, status=target)


def fail_run_if_active(journal: RunJournal, error: Any) -> None:
    """A failed step fails its run, unless the run has ended already."""
    if journal.run.status in (RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL):
        finish_run(journal, "fail", error)
