"""One locked run inside one transaction: the shared machinery of every verb.

A verb opens ``locked_run(run_id)``, asks ``states`` whether its move is allowed,
writes step rows with conditional UPDATEs, and records events on the journal. On
exit the journal writes the run row once (status, counters, ``updated_at``) guarded
by the event counter it read under the lock, inserts new steps and all events in one
statement each, and registers signals and task enqueues with ``on_commit``.
"""

from contextlib import contextmanager

from django.db import transaction
from django.utils import timezone

from . import sql, states
from .exceptions import ConcurrentUpdate, InvalidStatusTransition, NotFound
from .ids import parse_uuid


class RunJournal:
    def __init__(self, run, now, *, new=False, outermost=False):
        self.run = run
        self.now = now
        self.new = new
        # True when this transaction commits as soon as the verb ends (no host transaction
        # around it), so a step claimed here starts running right after its claim.
        self.outermost = outermost
        # The step this transaction claimed to run inline after commit (at most one).
        self.inline_claim = None
        self._seen_event_sequence = run.last_event_sequence
        self._events = []
        self._steps = []
        self._run_fields = {}
        self._after_commit = []
        self._after_flush = []
        # Set once code of others runs between this commit and the handler of a step it
        # claimed: a receiver of its signals, or an on_commit callback registered before its
        # own. That code may have cancelled the run (``Claim.held_at_start``).
        self.others_ran = False

    # -- run row -------------------------------------------------------------

    def set_run(self, **fields):
        for name, value in fields.items():
            setattr(self.run, name, value)
        self._run_fields.update(fields)

    def move_run(self, target, *, retry=False, **fields):
        current = self.run.status
        allowed = states.run_can_retry(current) if retry else states.run_can_move(current, target)
        if not allowed:
            raise InvalidStatusTransition(current, target)
        terminal = {"completed_at": self.now} if states.is_run_terminal(target) else {}
        self.set_run(status=target, **terminal, **fields)

    # -- new steps -------------------------------------------------------------

    def add_step(self, **fields):
        """Build a new step of this run (inserted at flush) with the next sequence."""
        from .models import Step

        self.set_run(last_step_sequence=self.run.last_step_sequence + 1)
        step = Step(
            run_id=self.run.pk,
            sequence=self.run.last_step_sequence,
            session_id=self.run.session_id,
            thread_id=self.run.thread_id,
            created_at=self.now,
            updated_at=self.now,
            **fields,
        )
        self._steps.append(step)
        return step

    # -- evidence and side effects -----------------------------------------

    def record(self, event_type, *, step_id=None, actor_id=None, **payload):
        from .models import Event

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

    def after_commit(self, callback):
        self._after_commit.append(callback)

    def after_flush(self, write):
        """Run ``write`` inside the transaction once the run, steps and events exist."""
        self._after_flush.append(write)

    def signal(self, signal, **kwargs):
        """Send ``signal`` (sender=Run) once the transaction commits."""
        from .models import Run

        kwargs.setdefault("run_id", str(self.run.pk))

        def send():
            if signal.send(sender=Run, **kwargs):
                self.others_ran = True

        self._after_commit.append(send)

    def flush(self):
        from .models import Run

        # Ready SQL (``sql.py``): these statements run on every step of every run.
        if self.new:
            self.run.created_at = self.run.updated_at = self.now
            sql.insert([self.run])
        elif self._events or self._run_fields:
            self.run.updated_at = self.now
            updated = sql.update(
                Run,
                {"id": self.run.pk, "last_event_sequence": self._seen_event_sequence},
                {
                    **self._run_fields,
                    "last_event_sequence": self.run.last_event_sequence,
                    "updated_at": self.now,
                },
            )
            if updated != 1:
                raise ConcurrentUpdate(f"run {self.run.pk} changed while this transaction held it")
        sql.insert(self._steps)
        sql.insert(self._events)
        for write in self._after_flush:
            write()
        if self._after_commit and _on_commit_callbacks_pending():
            self.others_ran = True  # they run before ours
        for callback in self._after_commit:
            transaction.on_commit(callback, robust=True)


def _on_commit_callbacks_pending():
    """Has other code registered ``on_commit`` callbacks in this transaction (a host's
    ``post_save`` receiver, say)? Unknown counts as yes."""
    pending = getattr(transaction.get_connection(), "run_on_commit", None)
    return pending is None or bool(pending)


def lock_run(run_id, *, missing=NotFound):
    """Fetch and lock one run row (``SELECT ... FOR UPDATE``) or raise ``missing``."""
    from .models import Run

    pk = parse_uuid(run_id)
    run = sql.fetch(Run, {"id": pk}, for_update=True) if pk else None
    if run is None:
        raise missing(f"run {run_id!s} does not exist")
    return run


def _outermost():
    """No transaction is open around the verb: ours commits when the verb returns.

    Any enclosing one counts, including the one a ``TestCase`` wraps each test in (it never
    commits: a step claimed there would stay claimed) and manual ``set_autocommit(False)``.
    """
    connection = transaction.get_connection()
    return connection.get_autocommit() and not connection.in_atomic_block


@contextmanager
def locked_run(run_id, *, missing=NotFound):
    """One transaction holding the run's row lock; yields its ``RunJournal``."""
    outermost = _outermost()
    with transaction.atomic():
        journal = RunJournal(lock_run(run_id, missing=missing), timezone.now(), outermost=outermost)
        yield journal
        journal.flush()


@contextmanager
def new_run(run):
    """One transaction creating ``run``; yields its ``RunJournal``."""
    outermost = _outermost()
    with transaction.atomic():
        journal = RunJournal(run, timezone.now(), new=True, outermost=outermost)
        yield journal
        journal.flush()
