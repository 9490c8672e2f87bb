"""One locked run inside one transaction: the unit every transition writes in.

A transition opens ``locked_run(run_id)`` (or ``new_run(run)``), asks ``states`` whether
its move is allowed, writes step rows with guarded UPDATEs, and records events on the
journal. On exit the journal writes the run row once (status, counters, ``updated_at``)
guarded by the event counter it read under the lock, inserts new steps and all events in
one statement each, and registers signals and task enqueues with ``on_commit``. On
PostgreSQL it also sends ``NOTIFY scoria_events, '<run_id>'`` when it recorded events: the
database delivers it at commit (never on rollback), which wakes the run's event streams
(``scoria_django.streaming``).

Everything happens on the database alias the router picks for scoria's models
(``db_alias()``), so a router may put scoria's tables on a database of their own.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.db import connections, router, transaction
from django.dispatch import Signal
from django.utils import timezone

from .. import states, tracing
from ..exceptions import ConcurrentUpdate, InvalidStatusTransition, NotFound
from ..ids import parse_uuid
from . import _sql

if TYPE_CHECKING:
    from ..models import Run, Step


# The PostgreSQL channel a transaction that recorded events notifies, with the run id as
# payload; ``streaming.notifications`` listens on it.
EVENTS_CHANNEL = "scoria_events"

# Called after commit with (run_id, step_id, run_after) for each step a transaction made
# runnable; installed by ``ScoriaConfig.ready()`` (``runtime.dispatch.enqueue_step``).
_waker: Callable[..., None] | None = None


def set_waker(waker: Callable[..., None]) -> None:
    global _waker
    _waker = waker


def _wake(run_id, step_id, run_after) -> None:
    if _waker is None:
        raise RuntimeError("scoria_django is not ready: add it to INSTALLED_APPS")
    _waker(run_id, step_id, run_after=run_after)


def db_alias() -> str:
    """The database alias holding scoria's tables (every scoria model lives on one)."""
    from ..models import Run

    return router.db_for_write(Run)


class RunJournal:
    def __init__(self, run: Run, now: datetime.datetime, alias: str, *, new=False, outermost=False):
        self.run = run
        self.now = now
        self.alias = alias
        self.connection = connections[alias]
        self.new = new
        # True when this transaction commits as soon as the verb ends (no host transaction
        # around it), so a step claimed here starts running right after its claim.
        self.outermost = outermost
        # The step this transaction claimed to run inline after commit (at most one).
        self.inline_claim: Any = None
        self._seen_event_sequence = run.last_event_sequence
        self._events: list = []
        self._steps: list = []
        self._run_fields: dict[str, Any] = {}
        self._after_commit: list[Callable[[], None]] = []
        self._after_flush: list[Callable[[], None]] = []
        # Set once code of others runs between this commit and the handler of a step it
        # claimed: a receiver of its signals, or a model-signal receiver inside it that may
        # have registered on_commit work ahead of ours. That code may have cancelled the
        # run (``Claim.held_at_start``).
        self.others_ran = False

    # -- run row -------------------------------------------------------------

    def set_run(self, **fields: Any) -> None:
        """Non-status fields of the run row, written at flush."""
        if "status" in fields:
            raise TypeError("a run's status changes only through move_run")
        self._write_run(fields)

    def _write_run(self, fields: dict[str, Any]) -> None:
        for name, value in fields.items():
            setattr(self.run, name, value)
        self._run_fields.update(fields)

    def move_run(self, name: str, **fields: Any) -> None:
        """Apply the run transition ``name`` of ``states.RUN_TRANSITIONS`` (checked here,
        written at flush under the event-counter guard)."""
        transition = states.RUN_TRANSITIONS[name]
        current = self.run.status
        if not transition.allows(current):
            raise InvalidStatusTransition(current, transition.target)
        completed_at = self.now if states.is_run_terminal(transition.target) else None
        self._write_run({"status": transition.target, "completed_at": completed_at, **fields})

    # -- new steps -------------------------------------------------------------

    def add_step(self, **fields: Any) -> Step:
        """Build a new step of this run (inserted at flush) with the next sequence."""
        from ..models import Step

        self.set_run(last_step_sequence=self.run.last_step_sequence + 1)
        step = Step(
            run_id=self.run.pk,
            sequence=self.run.last_step_sequence,
            session_id=self.run.session_id,
            thread_id=self.run.thread_id,
            created_at=self.now,
            updated_at=self.now,
            # The trace this step belongs to: the worker that claims it continues it.
            trace_context=tracing.carrier(),
            **fields,
        )
        self._steps.append(step)
        return step

    # -- evidence and side effects -----------------------------------------

    def record(self, event_type: str, *, step_id=None, actor_id=None, **payload: Any) -> None:
        from ..models import Event

        self.run.last_event_sequence += 1
        self._events.append(
            Event(
                run_id=self.run.pk,
                step_id=step_id,
                sequence=self.run.last_event_sequence,
                event_type=event_type,
                payload=payload,
                actor_id=actor_id,
                created_at=self.now,
            )
        )

    def after_commit(self, callback: Callable[[], None]) -> None:
        self._after_commit.append(callback)

    def wake(self, step_id, *, not_before: datetime.datetime | None = None) -> None:
        """Wake ``step_id`` (enqueue its task) once this transaction commits; a step that is
        not due yet is enqueued to run at ``not_before`` where the backend can defer."""
        run_id = self.run.pk
        run_after = not_before if not_before is not None and not_before > self.now else None
        self._after_commit.append(lambda: _wake(run_id, step_id, run_after))

    def after_flush(self, write: Callable[[], None]) -> None:
        """Run ``write`` inside the transaction once the run, steps and events exist."""
        self._after_flush.append(write)

    def signal(self, signal: Signal, **kwargs: Any) -> None:
        """Send ``signal`` (sender=Run) once the transaction commits."""
        from ..models import Run

        kwargs.setdefault("run_id", str(self.run.pk))

        def send():
            if signal.send(sender=Run, **kwargs):
                self.others_ran = True

        self._after_commit.append(send)

    def flush(self) -> None:
        from ..models import Run

        connection = self.connection
        if self.new:
            self.run.created_at = self.run.updated_at = self.now
            _sql.insert([self.run], connection)
        elif self._events or self._run_fields:
            self.run.updated_at = self.now
            updated = _sql.update(
                Run,
                {"id": self.run.pk, "last_event_sequence": self._seen_event_sequence},
                {
                    **self._run_fields,
                    "last_event_sequence": self.run.last_event_sequence,
                    "updated_at": self.now,
                },
                connection,
            )
            if updated != 1:
                raise ConcurrentUpdate(f"run {self.run.pk} changed while this transaction held it")
        _sql.insert(self._steps, connection)
        _sql.insert(self._events, connection)
        if self._events and connection.vendor == "postgresql":
            # Queued by the server until commit: streams wake only for committed events.
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_notify(%s, %s)", [EVENTS_CHANNEL, str(self.run.pk)])
        for write in self._after_flush:
            write()
        for callback in self._after_commit:
            transaction.on_commit(callback, using=self.alias, robust=True)


def read_run(run_id) -> Run | None:
    """The run row as the engine last wrote it (no lock), or None. The hot read behind
    every ``get_run``: one ready statement on the router's read alias."""
    from ..models import Run

    pk = parse_uuid(run_id)
    if pk is None:
        return None
    return _sql.fetch(Run, {"id": pk}, connections[router.db_for_read(Run)])


def lock_session(journal: RunJournal, tenant_id: str | None, session_id: str) -> None:
    """Serialise the starts of one session until this transaction ends (session
    concurrency). PostgreSQL: a transaction-level advisory lock on the session's key.
    SQLite: the transaction already holds the database's write lock (``IMMEDIATE``)."""
    if journal.connection.vendor != "postgresql":
        return
    key = f"scoria-session:{tenant_id or ''}:{session_id}"
    with journal.connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def lock_run(run_id, alias: str, *, missing=NotFound) -> Run:
    """Fetch and lock one run row (``SELECT ... FOR UPDATE``) or raise ``missing``."""
    from ..models import Run

    pk = parse_uuid(run_id)
    run = _sql.fetch(Run, {"id": pk}, connections[alias], for_update=True) if pk else None
    if run is None:
        raise missing(f"run {run_id!s} does not exist")
    return run


def _outermost(alias: str) -> bool:
    """No transaction is open around the verb: ours commits when the verb returns.

    Any enclosing one counts, including the one a ``TestCase`` wraps each test in (it never
    commits: a step claimed there would stay claimed) and manual ``set_autocommit(False)``.
    """
    connection = transaction.get_connection(alias)
    return connection.get_autocommit() and not connection.in_atomic_block


@contextmanager
def locked_run(run_id, *, missing=NotFound) -> Iterator[RunJournal]:
    """One transaction holding the run's row lock; yields its ``RunJournal``."""
    alias = db_alias()
    outermost = _outermost(alias)
    with transaction.atomic(using=alias):
        run = lock_run(run_id, alias, missing=missing)
        journal = RunJournal(run, timezone.now(), alias, outermost=outermost)
        yield journal
        journal.flush()


@contextmanager
def new_run(run: Run) -> Iterator[RunJournal]:
    """One transaction creating ``run``; yields its ``RunJournal``."""
    alias = db_alias()
    outermost = _outermost(alias)
    with transaction.atomic(using=alias):
        journal = RunJournal(run, timezone.now(), alias, new=True, outermost=outermost)
        yield journal
        journal.flush()
