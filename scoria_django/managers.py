"""The transaction-guarded lifecycle verbs of SPEC section 2 (a port of BeamAgent.Runs).

Reads live on the QuerySets, writes on the Managers, rules in ``states``. Every verb
is one ``transaction.atomic()`` holding the run's row lock (see ``journal``).
"""

import datetime
import uuid

from django.db import IntegrityError, models
from django.utils import timezone

from . import sql, states
from .exceptions import (
    ActiveSteps,
    AlreadyExists,
    ConcurrentUpdate,
    EventImmutable,
    InconsistentParentScope,
    InvalidFilter,
    InvalidRunOpt,
    InvalidScope,
    InvalidStatusTransition,
    InvalidStepOpt,
    NotFound,
    ParentRunNotFound,
    RunNotActive,
    SessionIdRequiredForThread,
    UnsupportedFilter,
    UnsupportedRunOpt,
    UnsupportedScopeKey,
    UnsupportedStepOpt,
)
from .ids import parse_uuid
from .journal import locked_run, new_run
from .names import MAX_KIND_LENGTH, is_name
from .payloads import check_json
from .states import RunStatus, StepStatus

SCOPE_KEYS = ("session_id", "thread_id", "parent_run_id")
RUN_OPTS = ("run_id", "kind", "input", "metadata")
STEP_OPTS = ("step_id", "kind", "input", "metadata")
RUN_FILTERS = ("session_id", "thread_id", "parent_run_id", "kind", "status", "since", "limit")


def _check_options(opts, allowed, unsupported):
    for key in opts:
        if key not in allowed:
            raise unsupported(f"unsupported option {key!r}", field=str(key))


def _explicit_uuid(value, invalid, field):
    if value is None:
        return uuid.uuid4()
    parsed = parse_uuid(value)
    if parsed is None:
        raise invalid(f"{field} must be a UUID", field=field)
    return parsed


def _kind_and_metadata(opts, invalid):
    kind = opts.get("kind", "generic")
    if not is_name(kind, MAX_KIND_LENGTH):
        raise invalid("kind must be a non-blank string of at most 100 characters", field="kind")
    metadata = opts.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        raise invalid("metadata must be a dict", field="metadata")
    check_json(metadata, field="metadata")
    check_json(opts.get("input"), field="input")
    return kind, metadata


def parse_scope(scope):
    """Normalise a scope (a session id string, a dict, or None) to a dict of the three keys."""
    if scope is None:
        scope = {}
    elif isinstance(scope, str):
        scope = {"session_id": scope}
    elif not isinstance(scope, dict):
        raise InvalidScope("scope must be a session id string or a dict", field="scope")
    for key in scope:
        if key not in SCOPE_KEYS:
            raise UnsupportedScopeKey(f"unsupported scope key {key!r}", field=str(key))
    parsed = {}
    for key in SCOPE_KEYS:
        value = scope.get(key)
        if value is None:
            continue
        if key == "parent_run_id":
            value = parse_uuid(value)
            if value is None:
                raise InvalidScope("parent_run_id must be a run UUID", field=key)
        elif not is_name(value):
            raise InvalidScope(f"{key} must be a non-blank string", field=key)
        parsed[key] = value
    return parsed


class RunQuerySet(models.QuerySet):
    def for_session(self, session_id):
        return self.filter(session_id=session_id).order_by("-created_at", "-id")

    def for_tenant(self, tenant_id):
        """Runs visible to a tenant; ``None`` means the runs stored without a tenant."""
        return self.filter(tenant_id=tenant_id)

    def active(self):
        return self.filter(status__in=states.RUN_ACTIVE)


class RunManager(models.Manager.from_queryset(RunQuerySet)):
    def start(self, scope=None, /, **opts):
        """Create a run directly in ``running`` for a host that drives its steps itself."""
        scope = parse_scope(scope)
        _check_options(opts, RUN_OPTS, UnsupportedRunOpt)
        run_id = _explicit_uuid(opts.get("run_id"), InvalidRunOpt, "run_id")
        kind, metadata = _kind_and_metadata(opts, InvalidRunOpt)
        scope = self._inherit_parent_scope(scope)
        if scope.get("thread_id") and not scope.get("session_id"):
            raise SessionIdRequiredForThread("a thread_id needs a session_id")
        return self.create_running(
            run_id=run_id,
            session_id=scope.get("session_id"),
            thread_id=scope.get("thread_id"),
            parent_run_id=scope.get("parent_run_id"),
            kind=kind,
            input=opts.get("input"),
            metadata=metadata,
        )

    def _inherit_parent_scope(self, scope):
        parent_id = scope.get("parent_run_id")
        if parent_id is None:
            return scope
        parent = self.filter(pk=parent_id).values("session_id", "thread_id").first()
        if parent is None:
            raise ParentRunNotFound(f"parent run {parent_id} does not exist", field="parent_run_id")
        for key in ("session_id", "thread_id"):
            if key in scope and scope[key] != parent[key]:
                raise InconsistentParentScope(
                    f"{key} differs from the parent run's {key}", field=key
                )
        return {**scope, "session_id": parent["session_id"], "thread_id": parent["thread_id"]}

    def create_running(self, *, run_id, **fields):
        """Insert a new ``running`` run and its ``run_started`` event in one transaction."""
        run = self.model(id=run_id, status=RunStatus.RUNNING, **fields)
        try:
            with new_run(run) as journal:
                run.started_at = journal.now
                journal.record(
                    "run_started",
                    actor_id=run.actor_id,
                    run_status=str(RunStatus.RUNNING),
                    kind=run.kind,
                )
        except IntegrityError:
            if self.filter(pk=run_id).exists():
                raise AlreadyExists(f"run {run_id} already exists", field="run_id") from None
            raise
        return run

    def complete(self, run_id, output=None):
        check_json(output, field="output")
        with locked_run(run_id) as journal:
            journal.move_run(RunStatus.COMPLETED, output=output)
            if journal.run.steps.filter(status__in=states.STEP_ACTIVE).exists():
                raise ActiveSteps("the run still has queued, running or waiting steps")
            journal.record("run_completed", run_status=str(RunStatus.COMPLETED))
        return journal.run

    def fail(self, run_id, error):
        check_json(error, field="error")
        with locked_run(run_id) as journal:
            finish_run(journal, RunStatus.FAILED, error)
        return journal.run

    def cancel(self, run_id, reason=None):
        check_json(reason, field="reason")
        with locked_run(run_id) as journal:
            finish_run(journal, RunStatus.CANCELLED, reason)
        return journal.run

    def list_runs(self, filters=None):
        """Runs matching exact filters, ``updated_at`` newest first, then ``id``."""
        if filters is None:
            filters = {}
        if not isinstance(filters, dict):
            raise InvalidFilter("filters must be a dict", field="filters")
        queryset = self.all()
        limit = None
        for key, value in filters.items():
            if key not in RUN_FILTERS:
                raise UnsupportedFilter(f"unsupported filter {key!r}", field=str(key))
            if key == "limit":
                if type(value) is not int or value <= 0:
                    raise InvalidFilter("limit must be a positive integer", field=key)
                limit = value
            elif key == "since":
                queryset = queryset.filter(updated_at__gte=_parse_since(value))
            elif key == "status":
                if value not in RunStatus.values:
                    raise InvalidFilter(f"unknown status {value!r}", field=key)
                queryset = queryset.filter(status=value)
            elif key == "parent_run_id":
                parsed = parse_uuid(value)
                if parsed is None:
                    raise InvalidFilter("parent_run_id must be a run UUID", field=key)
                queryset = queryset.filter(parent_run_id=parsed)
            else:
                if not is_name(value):
                    raise InvalidFilter(f"{key} must be a non-blank string", field=key)
                queryset = queryset.filter(**{key: value})
        queryset = queryset.order_by("-updated_at", "id")
        return list(queryset[:limit] if limit else queryset)


def _parse_since(value):
    if isinstance(value, datetime.datetime):
        if timezone.is_naive(value):
            raise InvalidFilter("since must be timezone-aware", field="since")
        return value
    if type(value) is int and value >= 0:
        # Integer arithmetic: a float division could land a microsecond off the millisecond.
        seconds, millis = divmod(value, 1000)
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC) + datetime.timedelta(
            milliseconds=millis
        )
    raise InvalidFilter("since must be a datetime or epoch milliseconds", field="since")


# The stored field and the event key of each unsuccessful ending.
_FINISH_FIELDS = {
    RunStatus.FAILED: ("error", "error"),
    RunStatus.CANCELLED: ("cancel_reason", "reason"),
}


def finish_run(journal, target, value, *, actor_id=None):
    """Fail or cancel the locked run, cascading the same payload to every unfinished step."""
    field, event_key = _FINISH_FIELDS[target]
    journal.move_run(target, **{field: value})
    cascade_steps(journal, StepStatus(str(target)), **{field: value})
    journal.record(f"run_{target}", actor_id=actor_id, run_status=str(target), **{event_key: value})


def cascade_steps(journal, target, **payload):
    """Move every non-terminal step of the locked run to ``target`` (fail / cancel cascade)."""
    from .models import Step

    active = Step.objects.filter(run_id=journal.run.pk, status__in=states.STEP_ACTIVE)
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
    event_type = f"step_{target}"
    for step_id in step_ids:
        journal.record(event_type, step_id=step_id, step_status=str(target), cascaded=True)
    return step_ids


class StepQuerySet(models.QuerySet):
    def of_run(self, run_id):
        return self.filter(run_id=run_id).order_by("sequence")


class StepManager(models.Manager.from_queryset(StepQuerySet)):
    def start(self, run_id, /, **opts):
        """Create a step directly in ``running`` inside a running run."""
        step_id = None
        try:
            with locked_run(run_id) as journal:
                run = journal.run
                # Checked before the options: a terminal run refuses any request.
                if run.status != RunStatus.RUNNING:
                    raise RunNotActive(f"run {run.pk} is {run.status}")
                _check_options(opts, STEP_OPTS, UnsupportedStepOpt)
                step_id = _explicit_uuid(opts.get("step_id"), InvalidStepOpt, "step_id")
                kind, metadata = _kind_and_metadata(opts, InvalidStepOpt)
                if self.filter(pk=step_id).exists():
                    raise AlreadyExists(f"step {step_id} already exists", field="step_id")
                step = journal.add_step(
                    id=step_id,
                    kind=kind,
                    role_id=run.root_role_id,
                    status=StepStatus.RUNNING,
                    input=opts.get("input"),
                    metadata=metadata,
                    started_at=journal.now,
                )
                journal.set_run(current_step_id=step.pk)
                journal.record("step_started", step_id=step.pk, step_status=str(StepStatus.RUNNING))
        except IntegrityError:
            # The run lock does not cover other runs: one of them may have inserted the
            # same explicit step_id between our check and our insert.
            if step_id is not None and self.filter(pk=step_id).exists():
                raise AlreadyExists(f"step {step_id} already exists", field="step_id") from None
            raise
        return step

    def complete(self, run_id, step_id, output=None):
        check_json(output, field="output")
        return self._finish(run_id, step_id, StepStatus.COMPLETED, output=output)

    def fail(self, run_id, step_id, error):
        check_json(error, field="error")
        return self._finish(run_id, step_id, StepStatus.FAILED, error=error)

    def cancel(self, run_id, step_id, reason=None):
        check_json(reason, field="reason")
        return self._finish(run_id, step_id, StepStatus.CANCELLED, cancel_reason=reason)

    def _finish(self, run_id, step_id, target, **payload):
        with locked_run(run_id) as journal:
            step = self._locked_step(journal.run, step_id)
            move_step(journal, step, target, **payload)
        return step

    def _locked_step(self, run, step_id):
        pk = parse_uuid(step_id)
        step = sql.fetch(self.model, {"id": pk, "run_id": run.pk}) if pk else None
        if step is None:
            raise NotFound(f"step {step_id!s} does not exist in run {run.pk}")
        return step

    def list_steps(self, run_id):
        from .models import Run

        pk = parse_uuid(run_id)
        if pk is None or not Run.objects.filter(pk=pk).exists():
            raise NotFound(f"run {run_id!s} does not exist")
        return list(self.of_run(pk))


def move_step(
    journal, step, target, *, retry=False, event_type=None, event=None, actor_id=None, **fields
):
    """Conditionally move one step of the locked run; the row count proves the move held."""
    allowed = (
        states.step_can_retry(step.status) if retry else states.step_can_move(step.status, target)
    )
    if not allowed:
        raise InvalidStatusTransition(step.status, target)
    if states.is_step_terminal(target):
        fields.setdefault("completed_at", journal.now)
        fields.setdefault("claim_token", None)
        fields.setdefault("lease_expires_at", None)
    fields["updated_at"] = journal.now
    updated = sql.update(
        type(step), {"id": step.pk, "status": step.status}, {"status": target, **fields}
    )
    if updated != 1:
        raise InvalidStatusTransition(step.status, target, detail="the step changed concurrently")
    previous = step.status
    for name, value in fields.items():
        setattr(step, name, value)
    step.status = target
    journal.record(
        event_type or f"step_{target}",
        step_id=step.pk,
        actor_id=actor_id,
        step_status=str(target),
        previous_status=str(previous),
        **(event or {}),
    )
    return step


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise EventImmutable("events are append-only")

    def delete(self):
        raise EventImmutable("events are deleted only with their run")

    def bulk_update(self, objs, fields, batch_size=None):
        # Refused before Django opens its savepoint-less atomic block, so the
        # caller's own transaction is not left broken.
        raise EventImmutable("events are append-only")


class EventManager(models.Manager.from_queryset(EventQuerySet)):
    pass
