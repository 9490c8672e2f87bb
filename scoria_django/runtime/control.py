"""``resume_run`` and ``cancel_run``: operator and host control of one exact run."""

import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from .. import transitions
from ..exceptions import NotFound, NotResumable
from ..identity import Identity
from ..identity import identity as make_identity
from ..ids import run_pk
from ..payloads import check_json
from ..records import RunSummary
from ..states import RunStatus, StepStatus
from .approvals import decide_pending
from .executor import run_after_commit
from .handlers import handler_path, resolve_handlers
from .reads import get_run


def _missing(pk: uuid.UUID, ident: Identity):
    """The ``not_found`` raised for a run id that names no run. A newcomer's usual slip is
    passing the session id (a UUID too): then the error says so and what to pass."""

    def missing(message: str) -> NotFound:
        from ..models import Run

        value = str(pk)
        if ident.session_id == value or Run.objects.filter(session_id=value).exists():
            return NotFound(
                f"{value} looks like a session id, not a run id: pass the run_id that "
                "start_run returned (list_runs_for_session(session_id) lists the runs "
                "of a session)",
                field="run_id",
            )
        return NotFound(message)

    return missing


def resume_run(
    run_id: str | uuid.UUID,
    *,
    handlers: dict[str, Any] | None = None,
    identity: Identity | Mapping[str, Any] | None = None,
    input: Any = None,
) -> RunSummary:
    """Continue a waiting run (approval) or retry a failed one; never creates a run."""
    pk = run_pk(run_id)
    ident = make_identity(identity)
    resolved = resolve_handlers(handlers)
    check_json(input, field="input")
    with transitions.locked_run(pk, missing=_missing(pk, ident)) as journal:
        _resume_locked(journal, ident, resolved, input)
    return get_run(pk)


def _resume_locked(journal, ident, resolved, input):
    run, actor_id = journal.run, ident.actor_id
    if run.status == RunStatus.WAITING_FOR_APPROVAL:
        if pending := transitions.pending_approvals(journal):
            # Resuming a waiting run approves what it waits for, as the identity.
            decide_pending(journal, pending, "approve", ident, input=input, handlers=resolved)
            return
        # A step that paused before approvals were records (no Approval rows).
        mode, from_status = "approval", StepStatus.WAITING_FOR_APPROVAL
    elif run.status == RunStatus.FAILED:
        mode, from_status = "retry", StepStatus.FAILED
    else:
        raise NotResumable(f"run {run.pk} is {run.status}; only waiting or failed runs resume")
    if resolved:
        journal.set_run(handlers={**run.handlers, **resolved})
    steps = transitions.steps_of_run(journal, from_status)
    if not steps:
        # Nothing would run again: moving the run to running would strand it there.
        raise NotResumable(f"run {run.pk} is {run.status} but has no {from_status} step")
    transitions.reopen_run(journal, mode, actor_id=actor_id, step_ids=[str(s.pk) for s in steps])
    for step in steps:
        transitions.reopen_step(
            journal,
            step,
            mode,
            actor_id=actor_id,
            input=input,
            resumed_with=_resumed_with(step, mode, actor_id, input),
        )
        if path := handler_path(run.handlers, step.kind):
            run_after_commit(journal, step, path)


def _resumed_with(step, mode, actor_id, input):
    """What the step's next run sees as ``ctx.approval`` / ``ctx.resume_input``.

    A retry keeps an approval the step already received: retrying a failure is not a
    reason to ask the approver again.
    """
    resumed = {"mode": mode, "actor_id": actor_id, "input": input}
    previous = step.resumed_with or {}
    if mode == "approval":
        resumed["approval"] = {"approved_by": actor_id, "input": input}
    elif previous.get("approval"):
        resumed["approval"] = previous["approval"]
        if previous.get("approvals"):
            resumed["approvals"] = previous["approvals"]
    return resumed


def cancel_run(
    run_id: str | uuid.UUID,
    *,
    reason: Any = None,
    identity: Identity | Mapping[str, Any] | None = None,
) -> RunSummary:
    """Cancel a run and every unfinished step; a running handler's result will be discarded."""
    pk = run_pk(run_id)
    ident = make_identity(identity)
    actor_id = ident.actor_id
    check_json(reason, field="reason")
    with transaction.atomic(using=transitions.db_alias()):
        with transitions.locked_run(pk, missing=_missing(pk, ident)) as journal:
            transitions.finish_run(journal, "cancel", reason, actor_id=actor_id)
        cancel_children(pk, actor_id)
    return get_run(pk)


def cancel_tree(run_id, reason: Any, actor_id: str | None) -> None:
    """Cancel ``run_id`` if it is still active, and its child runs recursively, in the
    caller's transaction."""
    from ..states import RUN_ACTIVE

    with transitions.locked_run(run_id) as journal:
        if journal.run.status in RUN_ACTIVE:
            transitions.finish_run(journal, "cancel", reason, actor_id=actor_id)
    cancel_children(run_id, actor_id)


def cancel_children(parent_id, actor_id: str | None) -> None:
    """Every active descendant of ``parent_id`` is cancelled (reason ``parent_cancelled``)."""
    from ..models import Run
    from ..states import RUN_ACTIVE

    runs = Run.objects.using(transitions.db_alias())
    frontier = [parent_id]
    while frontier:
        children = list(runs.filter(parent_run_id__in=frontier).values_list("id", "parent_run_id"))
        for child_id, parent in children:
            with transitions.locked_run(child_id) as journal:
                if journal.run.status in RUN_ACTIVE:
                    reason = {"reason": "parent_cancelled", "parent_run_id": str(parent)}
                    transitions.finish_run(journal, "cancel", reason, actor_id=actor_id)
        frontier = [child_id for child_id, _ in children]
