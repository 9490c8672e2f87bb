"""Step transitions: creating steps in their first status, and every later move.

Each move asks ``states.STEP_TRANSITIONS``, writes one guarded UPDATE whose row count is
checked (the guard: the status read under the run lock, plus the claim token for a
worker's outcome), records the event on the journal and queues its signal for commit.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.db.models.functions import Now

from .. import signals, states, tracing
from ..exceptions import ConcurrentUpdate, InvalidStatusTransition
from ..states import STEP_TERMINAL, RunStatus, StepStatus
from . import _sql
from .journal import RunJournal

if TYPE_CHECKING:
    from ..models import Step

# What a step's transition announces on commit (a cascade announces nothing per step:
# the run's own ending says it).
_STEP_SIGNALS = {
    StepStatus.COMPLETED: (signals.step_completed, "output"),
    StepStatus.FAILED: (signals.step_failed, "error"),
}


class ClaimLost(Exception):
    """A guarded write matched no row: the claim or lease changed meanwhile."""


# -- reads under the run lock -------------------------------------------------------


def step_of_run(journal: RunJournal, step_id) -> Step | None:
    """One step of the locked run, or None."""
    from ..models import Step

    return _sql.fetch(Step, {"id": step_id, "run_id": journal.run.pk}, journal.connection)


def steps_of_run(journal: RunJournal, status: str) -> list:
    """The locked run's steps in ``status``, by sequence."""
    from ..models import Step

    return _sql.fetch_all(
        Step,
        {"run_id": journal.run.pk, "status": status},
        journal.connection,
        order_by=["sequence"],
    )


# -- new steps --------------------------------------------------------------


def queue_step(journal: RunJournal, **fields: Any) -> Step:
    """A new step, ``queued`` for a worker."""
    step = journal.add_step(status=StepStatus.QUEUED, **fields)
    journal.record("step_queued", step_id=step.pk, step_status=str(StepStatus.QUEUED))
    return step


def start_step(journal: RunJournal, **fields: Any) -> Step:
    """A new step, ``running`` from the start: a host drives it (``Step.objects.start``)."""
    if journal.run.status != RunStatus.RUNNING:
        raise InvalidStatusTransition(journal.run.status, RunStatus.RUNNING)
    step = journal.add_step(status=StepStatus.RUNNING, started_at=journal.now, **fields)
    journal.set_run(current_step_id=step.pk)
    journal.record("step_started", step_id=step.pk, step_status=str(StepStatus.RUNNING))
    return step


def add_completed_step(journal: RunJournal, **fields: Any) -> Step:
    """A new step that is already done when written (the delegating step of a handoff)."""
    step = journal.add_step(
        status=StepStatus.COMPLETED, started_at=journal.now, completed_at=journal.now, **fields
    )
    journal.record("step_completed", step_id=step.pk, step_status=str(StepStatus.COMPLETED))
    return step


def delegate_step(journal: RunJournal, parent_step: Step, handoff: dict) -> Step:
    """A handoff: the Handoff row and its child step, ``queued`` for the delegated role."""
    from django.db.models.signals import post_save, pre_save

    from ..models import Handoff

    child = journal.add_step(
        status=StepStatus.QUEUED,
        kind=handoff["delegated_kind"],
        role_id=handoff["delegated_role_id"],
        parent_step_id=parent_step.pk,
        handoff_input=handoff["handoff_input"],
        projected_context=handoff["projected_context"],
    )
    row = Handoff(
        run_id=journal.run.pk,
        parent_step_id=parent_step.pk,
        child_step_id=child.pk,
        delegated_role_id=handoff["delegated_role_id"],
        delegated_kind=handoff["delegated_kind"],
        capability_tags=handoff["capability_tags"],
        handoff_input=handoff["handoff_input"],
        created_at=journal.now,
    )
    # Saved with its model signals: a host's receiver runs inside this transaction and may
    # register on_commit work ahead of ours (``RunJournal.others_ran``).
    if pre_save.has_listeners(Handoff) or post_save.has_listeners(Handoff):
        journal.others_ran = True
    journal.after_flush(lambda: row.save(force_insert=True, using=journal.alias))
    journal.record(
        "handoff_created",
        step_id=parent_step.pk,
        handoff_id=str(row.pk),
        delegated_role_id=row.delegated_role_id,
        delegated_kind=row.delegated_kind,
        child_step_id=str(child.pk),
    )
    journal.record("step_queued", step_id=child.pk, step_status=str(StepStatus.QUEUED))
    journal.signal(
        signals.handoff_created,
        handoff_id=str(row.pk),
        delegated_role_id=row.delegated_role_id,
        delegated_kind=row.delegated_kind,
    )
    return child


# -- claims -------------------------------------------------------------------


def claim_queued_step(journal: RunJournal, step: Step, lease_seconds: float) -> uuid.UUID | None:
    """Claim a stored queued step in this transaction; None if it is not queued any more."""
    token = uuid.uuid4()
    try:
        _write(
            journal,
            step,
            "claim",
            {"id": step.pk, "status": StepStatus.QUEUED},
            event_type="step_claimed",
            event={"attempt": step.attempt},
            claim_token=token,
            lease_expires_at=_sql.DbNowPlus(lease_seconds),
            started_at=step.started_at or journal.now,
        )
    except ClaimLost:
        return None
    step.lease_expires_at = None  # computed by the database, not read back
    journal.set_run(current_step_id=step.pk)
    return token


def claim_new_step(journal: RunJournal, step: Step, lease_seconds: float) -> uuid.UUID:
    """A step this transaction adds (still ``queued`` in memory) is inserted claimed."""
    if not step._state.adding or not states.STEP_TRANSITIONS["claim"].allows(step.status):
        raise InvalidStatusTransition(step.status, StepStatus.RUNNING)
    token = uuid.uuid4()
    step.status, step.claim_token = StepStatus.RUNNING, token
    # DbNowPlus is _sql's marker for "database clock + seconds", written by its INSERT; the
    # stubs allow only a field's values and Django's own expressions on the attribute.
    step.lease_expires_at, step.started_at = _sql.DbNowPlus(lease_seconds), journal.now  # type: ignore[assignment]
    journal.set_run(current_step_id=step.pk)
    journal.record(
        "step_claimed", step_id=step.pk, step_status=str(StepStatus.RUNNING), attempt=step.attempt
    )
    return token


def settle_claimed_step(
    journal: RunJournal, step: Step, token: uuid.UUID, name: str, **fields: Any
) -> bool:
    """A worker's outcome (``complete``, ``wait`` or ``fail``), written only while its claim
    token still holds. False when the claim was lost (the result is discarded)."""
    event = {"attempt": step.attempt}
    if name == "wait":
        event["approval_request"] = fields["approval_request"]
        fields.update(claim_token=None, lease_expires_at=None)
    elif name == "fail":
        event["error"] = fields["error"]
    try:
        _write(
            journal,
            step,
            name,
            {"id": step.pk, "claim_token": token, "status": StepStatus.RUNNING},
            event=event,
            **fields,
        )
    except ClaimLost:
        return False
    return True


def reschedule_claimed_step(
    journal: RunJournal,
    step: Step,
    token: uuid.UUID,
    delay: float,
    reason: str | None,
    error: dict | None,
) -> bool:
    """A worker's outcome "again later": the step goes back to ``queued`` with attempt + 1,
    not to be claimed before now + ``delay``. False when the claim was lost."""
    import datetime

    previous_attempt = step.attempt
    not_before = journal.now + datetime.timedelta(seconds=delay)
    try:
        _write(
            journal,
            step,
            "reschedule",
            {"id": step.pk, "claim_token": token, "status": StepStatus.RUNNING},
            event_type="step_retry_scheduled",
            event={
                "attempt": previous_attempt + 1,
                "previous_attempt": previous_attempt,
                "delay": delay,
                "not_before": not_before.isoformat(),
                "reason": reason,
                "error": error,
            },
            attempt=previous_attempt + 1,
            not_before=not_before,
            claim_token=None,
            lease_expires_at=None,
        )
    except ClaimLost:
        return False
    return True


# -- host verbs, resume and retry -----------------------------------------------


def move_step(
    journal: RunJournal,
    step: Step,
    name: str,
    *,
    event_type: str | None = None,
    actor_id: str | None = None,
    event: dict | None = None,
    **fields: Any,
) -> Step:
    """Apply the step transition ``name`` to ``step`` of the locked run.

    Raises ``InvalidStatusTransition`` when the table refuses it or the row changed since
    it was read.
    """
    previous = step.status
    try:
        _write(
            journal,
            step,
            name,
            {"id": step.pk, "status": previous},
            event_type=event_type,
            actor_id=actor_id,
            event={"previous_status": str(previous), **(event or {})},
            **fields,
        )
    except ClaimLost:
        target = states.STEP_TRANSITIONS[name].target
        raise InvalidStatusTransition(
            previous, target, detail="the step changed concurrently"
        ) from None
    if previous == StepStatus.WAITING_FOR_APPROVAL and step.status in STEP_TERMINAL:
        # The step ended while it waited (a host failed or cancelled it): nothing can decide
        # for it any more, so its pending approvals end with it. (A continuation moves it
        # to queued only once none is pending: no query there.)
        from .approvals import cancel_pending_approvals

        cancel_pending_approvals(journal, step_id=step.pk)
    return step


def reopen_step(
    journal: RunJournal,
    step: Step,
    mode: str,
    *,
    actor_id: str | None,
    input: Any,
    resumed_with: dict,
) -> Step:
    """``resume`` (an approval was given) or ``retry`` (a failed step, with attempt + 1)."""
    name, event_type = ("resume", "resume_requested")
    # The resuming request's trace, when there is one: the step's next run continues it.
    fields: dict[str, Any] = {"resumed_with": resumed_with}
    if (headers := tracing.carrier()) is not None:
        fields["trace_context"] = headers
    if mode == "retry":
        name, event_type = ("retry", "retry_requested")
        fields.update(attempt=step.attempt + 1, completed_at=None, error=None)
    return move_step(
        journal,
        step,
        name,
        event_type=event_type,
        actor_id=actor_id,
        # The run's status once this transaction ends (it may still wait for other steps).
        event={"run_status": str(journal.run.status), "mode": mode, "input": input},
        **fields,
    )


def cascade_steps(journal: RunJournal, name: str, **payload: Any) -> list:
    """Move every unfinished step of the locked run by ``name`` (``fail`` or ``cancel``)."""
    from ..models import Step

    target = states.STEP_TRANSITIONS[name].target
    active = Step.objects.using(journal.alias).filter(
        run_id=journal.run.pk, status__in=states.STEP_TRANSITIONS[name].sources
    )
    step_ids = list(active.values_list("id", flat=True))
    if not step_ids:
        return []
    updated = active.filter(pk__in=step_ids).update(
        status=target,
        completed_at=journal.now,
        updated_at=journal.now,
        claim_token=None,
        lease_expires_at=None,
        **payload,
    )
    if updated != len(step_ids):
        raise ConcurrentUpdate(f"steps of run {journal.run.pk} changed during the cascade")
    for step_id in step_ids:
        journal.record(f"step_{target}", step_id=step_id, step_status=str(target), cascaded=True)
    return step_ids


# -- lease expiry (recovery) --------------------------------------------------------


def expired_claim(journal: RunJournal, step_id, token) -> Step | None:
    """The step, if it is still running under ``token`` with its lease run out."""
    return expired_steps(journal.alias, step_id, token).first()


def expired_steps(alias: str, step_id, token):
    """The step (a queryset of at most one) while it runs under ``token`` past its lease,
    on the database clock."""
    from ..models import Step

    return Step.objects.using(alias).filter(
        pk=step_id, status=StepStatus.RUNNING, claim_token=token, lease_expires_at__lt=Now()
    )


def requeue_expired_step(journal: RunJournal, step: Step, *, reason: str) -> None:
    """The worker vanished: the step goes back to ``queued`` with attempt + 1."""
    previous_attempt = step.attempt
    _write_expired(
        journal,
        step,
        "requeue",
        event={
            "attempt": previous_attempt + 1,
            "previous_attempt": previous_attempt,
            "reason": reason,
        },
        event_type="step_requeued",
        attempt=previous_attempt + 1,
        claim_token=None,
        lease_expires_at=None,
    )


def fail_expired_step(journal: RunJournal, step: Step, error: dict) -> None:
    """The step lost too many claims: it fails (its run is failed by the caller)."""
    _write_expired(
        journal, step, "fail", event={"attempt": step.attempt, "error": error}, error=error
    )


def _write_expired(journal, step, name, *, event, event_type=None, **fields):
    transition = states.STEP_TRANSITIONS[name]
    if not transition.allows(step.status):
        raise InvalidStatusTransition(step.status, transition.target)
    fields = _with_defaults(journal, transition.target, fields)
    moved = expired_steps(journal.alias, step.pk, step.claim_token).update(
        status=transition.target, **fields
    )
    if moved != 1:
        raise ClaimLost
    _applied(journal, step, transition.target, fields, event_type, None, event)


# -- the one guarded write ------------------------------------------------------------


def _with_defaults(journal: RunJournal, target: str, fields: dict) -> dict:
    if states.is_step_terminal(target):
        fields.setdefault("completed_at", journal.now)
        fields.setdefault("claim_token", None)
        fields.setdefault("lease_expires_at", None)
    fields["updated_at"] = journal.now
    return fields


def _write(
    journal: RunJournal,
    step: Step,
    name: str,
    guard: dict,
    *,
    event_type: str | None = None,
    actor_id: str | None = None,
    event: dict | None = None,
    **fields: Any,
) -> None:
    transition = states.STEP_TRANSITIONS[name]
    if not transition.allows(step.status):
        raise InvalidStatusTransition(step.status, transition.target)
    fields = _with_defaults(journal, transition.target, fields)
    values = {"status": transition.target, **fields}
    if _sql.update(type(step), guard, values, journal.connection) != 1:
        raise ClaimLost
    _applied(journal, step, transition.target, fields, event_type, actor_id, event)


def _applied(journal, step, target, fields, event_type, actor_id, event):
    """The row moved: mirror it on the instance, record the event, queue the signal."""
    for name, value in fields.items():
        setattr(step, name, value)
    step.status = target
    journal.record(
        event_type or f"step_{target}",
        step_id=step.pk,
        actor_id=actor_id,
        step_status=str(target),
        **(event or {}),
    )
    announced = _STEP_SIGNALS.get(target)
    if announced is not None:
        signal, value_field = announced
        journal.signal(
            signal,
            step_id=str(step.pk),
            kind=step.kind,
            **{value_field: getattr(step, value_field)},
        )
