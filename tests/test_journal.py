"""The journal: one locked run per transaction, written once, with evidence and side effects."""

import uuid

import pytest
from django.db import connection
from django.db.models import F

from scoria_django import signals
from scoria_django.exceptions import (
    ConcurrentUpdate,
    InvalidRunId,
    InvalidStatusTransition,
    NotFound,
)
from scoria_django.models import Event, Run, Step
from scoria_django.states import RunStatus, StepStatus
from scoria_django.transitions.journal import locked_run, new_run

pytestmark = pytest.mark.django_db


def _tables():
    return (
        list(Run.objects.order_by("id").values()),
        list(Step.objects.order_by("id").values()),
        list(Event.objects.order_by("id").values()),
    )


@pytest.mark.parametrize("run_id", [uuid.uuid4(), "not-a-uuid", None, 7])
def test_locked_run_of_an_unknown_run(run_id):
    with pytest.raises(NotFound), locked_run(run_id):
        pytest.fail("the block must not run")


def test_locked_run_can_raise_the_callers_own_error():
    with pytest.raises(InvalidRunId), locked_run(uuid.uuid4(), missing=InvalidRunId):
        pytest.fail("the block must not run")


def test_an_error_in_the_block_writes_nothing(django_capture_on_commit_callbacks):
    run = Run.objects.start("s")
    before = _tables()
    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError),
        locked_run(run.pk) as journal,
    ):
        journal.move_run("cancel", cancel_reason="x")
        journal.add_step(kind="k", status=StepStatus.QUEUED)
        journal.record("run_cancelled", run_status="cancelled")
        journal.after_commit(lambda: None)
        raise RuntimeError("host code failed after the verb's writes were prepared")
    assert _tables() == before
    assert callbacks == []


def test_one_block_writes_the_run_steps_and_events_together(django_capture_on_commit_callbacks):
    run = Run.objects.start({"session_id": "s", "thread_id": "t"})
    committed = []
    with django_capture_on_commit_callbacks(execute=True), locked_run(str(run.pk)) as journal:
        first = journal.add_step(kind="a", status=StepStatus.QUEUED)
        second = journal.add_step(kind="b", status=StepStatus.QUEUED)
        journal.set_run(current_step_id=first.pk)
        journal.record("step_queued", step_id=first.pk, step_status="queued")
        journal.record("step_queued", step_id=second.pk, step_status="queued")
        journal.after_commit(lambda: committed.append(Step.objects.count()))
        flushed = []
        journal.after_flush(lambda: flushed.append(Event.objects.filter(run=run).count()))
    assert flushed == [3]  # after_flush runs inside the transaction, after the inserts
    assert committed == [2]
    stored = Run.objects.get(pk=run.pk)
    assert stored.current_step_id == first.pk
    assert (stored.last_step_sequence, stored.last_event_sequence) == (2, 3)
    steps = list(Step.objects.filter(run=run).order_by("sequence"))
    assert [(step.sequence, step.kind) for step in steps] == [(1, "a"), (2, "b")]
    assert {(step.session_id, step.thread_id) for step in steps} == {("s", "t")}
    events = list(Event.objects.filter(run=run).order_by("sequence"))
    assert [event.sequence for event in events] == [1, 2, 3]
    # One clock reading per transaction: the evidence lines up with the rows.
    assert events[1].created_at == events[2].created_at == stored.updated_at == steps[0].created_at


def test_a_block_that_records_nothing_leaves_the_run_untouched():
    run = Run.objects.start("s")
    before = _tables()
    with locked_run(run.pk) as journal:
        assert journal.run.pk == run.pk
    assert _tables() == before


def test_move_run_asks_the_transition_table():
    run = Run.objects.start("s")
    Run.objects.complete(run.pk)
    with pytest.raises(InvalidStatusTransition), locked_run(run.pk) as journal:
        journal.move_run("resume")
    # Only the explicit retry transition leaves a terminal state, and only from failed.
    with locked_run(run.pk) as journal, pytest.raises(InvalidStatusTransition):
        journal.move_run("retry")
    failed = Run.objects.start("s")
    Run.objects.fail(failed.pk, {"reason": "x"})
    with locked_run(failed.pk) as journal:
        journal.move_run("retry")
        journal.record("retry_requested", run_status="running")
    assert Run.objects.get(pk=failed.pk).status == RunStatus.RUNNING


def test_a_counter_changed_behind_the_journal_is_a_concurrent_update():
    run = Run.objects.start("s")
    before = _tables()
    with pytest.raises(ConcurrentUpdate), locked_run(run.pk) as journal:
        # What a writer that ignored the row lock would do.
        Run.objects.filter(pk=run.pk).update(last_event_sequence=F("last_event_sequence") + 1)
        journal.record("run_completed", run_status="completed")
    assert _tables() == before


def test_signals_go_out_only_after_commit(django_capture_on_commit_callbacks):
    run = Run.objects.start("s")
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    signals.run_finished.connect(receiver)
    try:
        with django_capture_on_commit_callbacks() as callbacks:
            with locked_run(run.pk) as journal:
                journal.signal(signals.run_finished, status="completed")
            assert received == []
        for callback in callbacks:
            callback()
    finally:
        signals.run_finished.disconnect(receiver)
    assert len(received) == 1
    sender, kwargs = received[0]
    assert sender is Run
    assert (kwargs["run_id"], kwargs["status"]) == (str(run.pk), "completed")


def test_new_run_inserts_the_run_with_its_events():
    run = Run(status=RunStatus.RUNNING, session_id="s")
    with new_run(run) as journal:
        journal.record("run_started", run_status="running")
        journal.record("note")
    stored = Run.objects.get(pk=run.pk)
    assert stored.created_at == stored.updated_at == journal.now
    assert stored.last_event_sequence == 2
    assert list(Event.objects.filter(run=run).values_list("sequence", "event_type")) == [
        (1, "run_started"),
        (2, "note"),
    ]


def test_new_run_rolls_back_on_error():
    run = Run(status=RunStatus.RUNNING)
    with pytest.raises(RuntimeError), new_run(run) as journal:
        journal.record("run_started")
        raise RuntimeError("nope")
    assert not Run.objects.filter(pk=run.pk).exists()


def test_a_verb_is_a_fixed_handful_of_statements(django_assert_num_queries):
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    # On PostgreSQL, plus the NOTIFY that wakes the run's event streams at commit.
    notify = 1 if connection.vendor == "postgresql" else 0
    # savepoint, lock run, read step, update step, update run, insert event, release
    with django_assert_num_queries(7 + notify):
        Step.objects.complete(run.pk, step.pk, {"ok": True})
    # savepoint, lock run, read active steps, update them, update run, insert events, release
    others = [Step.objects.start(run.pk) for _ in range(5)]
    with django_assert_num_queries(7 + notify):
        Run.objects.cancel(run.pk, "stop")
    assert Step.objects.filter(pk__in=[s.pk for s in others], status="cancelled").count() == 5
