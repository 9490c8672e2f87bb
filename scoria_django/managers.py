"""The host-driven lifecycle verbs (docs/lifecycle.md): reads on the QuerySets, writes on
the Managers, rules in ``states``.

Every verb validates its arguments, then calls the transition layer
(``scoria_django.transitions``) inside one transaction holding the run's row lock.
"""

import datetime
import uuid

from django.db import IntegrityError, models
from django.utils import timezone

from . import states, transitions
from .exceptions import (
    AlreadyExists,
    EventImmutable,
    InconsistentParentScope,
    InvalidFilter,
    InvalidRunOpt,
    InvalidScope,
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
from .names import MAX_KIND_LENGTH, is_name
from .payloads import check_json
from .states import RunStatus

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


# A module-level base, the form of from_queryset() django-stubs can follow.
_RunManagerBase = models.Manager.from_queryset(RunQuerySet)


class RunManager(_RunManagerBase):
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
        run = self.model(id=run_id, **fields)
        try:
            with transitions.begin_run(run):
                pass
        except IntegrityError:
            if self.filter(pk=run_id).exists():
                raise AlreadyExists(f"run {run_id} already exists", field="run_id") from None
            raise
        return run

    def complete(self, run_id, output=None):
        check_json(output, field="output")
        with transitions.locked_run(run_id) as journal:
            transitions.complete_run(journal, output)
        return journal.run

    def fail(self, run_id, error):
        check_json(error, field="error")
        with transitions.locked_run(run_id) as journal:
            transitions.finish_run(journal, "fail", error)
        return journal.run

    def cancel(self, run_id, reason=None):
        check_json(reason, field="reason")
        with transitions.locked_run(run_id) as journal:
            transitions.finish_run(journal, "cancel", reason)
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


class StepQuerySet(models.QuerySet):
    def of_run(self, run_id):
        return self.filter(run_id=run_id).order_by("sequence")


_StepManagerBase = models.Manager.from_queryset(StepQuerySet)


class StepManager(_StepManagerBase):
    def start(self, run_id, /, **opts):
        """Create a step directly in ``running`` inside a running run."""
        step_id = None
        try:
            with transitions.locked_run(run_id) as journal:
                run = journal.run
                # Checked before the options: a terminal run refuses any request.
                if run.status != RunStatus.RUNNING:
                    raise RunNotActive(f"run {run.pk} is {run.status}")
                _check_options(opts, STEP_OPTS, UnsupportedStepOpt)
                step_id = _explicit_uuid(opts.get("step_id"), InvalidStepOpt, "step_id")
                kind, metadata = _kind_and_metadata(opts, InvalidStepOpt)
                if self.filter(pk=step_id).exists():
                    raise AlreadyExists(f"step {step_id} already exists", field="step_id")
                step = transitions.start_step(
                    journal,
                    id=step_id,
                    kind=kind,
                    role_id=run.root_role_id,
                    input=opts.get("input"),
                    metadata=metadata,
                )
        except IntegrityError:
            # The run lock does not cover other runs: one of them may have inserted the
            # same explicit step_id between our check and our insert.
            if step_id is not None and self.filter(pk=step_id).exists():
                raise AlreadyExists(f"step {step_id} already exists", field="step_id") from None
            raise
        return step

    def complete(self, run_id, step_id, output=None):
        check_json(output, field="output")
        return self._move(run_id, step_id, "complete", output=output)

    def fail(self, run_id, step_id, error):
        check_json(error, field="error")
        return self._move(run_id, step_id, "fail", error=error)

    def cancel(self, run_id, step_id, reason=None):
        check_json(reason, field="reason")
        return self._move(run_id, step_id, "cancel", cancel_reason=reason)

    def _move(self, run_id, step_id, name, **payload):
        with transitions.locked_run(run_id) as journal:
            pk = parse_uuid(step_id)
            step = transitions.step_of_run(journal, pk) if pk else None
            if step is None:
                raise NotFound(f"step {step_id!s} does not exist in run {journal.run.pk}")
            transitions.move_step(journal, step, name, **payload)
        return step

    def list_steps(self, run_id):
        from .models import Run

        pk = parse_uuid(run_id)
        if pk is None or not Run.objects.filter(pk=pk).exists():
            raise NotFound(f"run {run_id!s} does not exist")
        return list(self.of_run(pk))


class ApprovalQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id):
        return self.filter(tenant_id=tenant_id)

    def pending(self):
        return self.filter(status=states.ApprovalStatus.PENDING)


class EventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise EventImmutable("events are append-only")

    def delete(self):
        raise EventImmutable("events are deleted only with their run")

    def bulk_update(self, objs, fields, batch_size=None):
        # Refused before Django opens its savepoint-less atomic block, so the
        # caller's own transaction is not left broken.
        raise EventImmutable("events are append-only")


_EventManagerBase = models.Manager.from_queryset(EventQuerySet)


class EventManager(_EventManagerBase):
    pass
