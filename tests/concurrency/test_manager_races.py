"""Real threads racing the lifecycle verbs on PostgreSQL.

SQLite serialises every writer (IMMEDIATE transactions), so it cannot show a race:
these tests are skipped there, never faked. Each thread uses its own database
connection and closes it at its end; one pool of 16 threads serves every repetition,
lined up by a cyclic ``threading.Barrier`` so each round starts at the same moment.
"""

import threading
import uuid

import pytest
from django.db import connection

from scoria_django.exceptions import AlreadyExists, InvalidStatusTransition
from scoria_django.models import Event, Run, Step

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("require_postgres"),
]

THREADS = 16


def race(rounds, action):
    """Run ``action(thread_index, round_index)`` on THREADS threads for each round.

    Returns ``outcomes[round][thread]``: the value returned or the exception raised.
    """
    barrier = threading.Barrier(THREADS, timeout=60)
    outcomes = [[None] * THREADS for _ in range(rounds)]

    def worker(index):
        try:
            for round_index in range(rounds):
                barrier.wait()
                try:
                    outcomes[round_index][index] = action(index, round_index)
                except Exception as error:  # every outcome is asserted by the caller
                    outcomes[round_index][index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def _sequences(run_id):
    return list(
        Event.objects.filter(run_id=run_id).order_by("sequence").values_list("sequence", flat=True)
    )


def test_complete_against_cancel_ends_in_exactly_one_terminal_state():
    rounds = 100
    run_ids = [Run.objects.start(f"race-{n}").pk for n in range(rounds)]

    def action(index, round_index):
        run_id = run_ids[round_index]
        if index % 2:
            return Run.objects.cancel(run_id, {"by": index}).status
        return Run.objects.complete(run_id, {"by": index}).status

    outcomes = race(rounds, action)

    for run_id, results in zip(run_ids, outcomes, strict=True):
        winners = [result for result in results if isinstance(result, str)]
        losers = [result for result in results if isinstance(result, InvalidStatusTransition)]
        assert len(winners) == 1, results
        assert len(losers) == THREADS - 1, results
        run = Run.objects.get(pk=run_id)
        assert run.status == winners[0]
        assert run.status in {"completed", "cancelled"}
        assert run.completed_at is not None
        # Each loser saw the winner's state under the lock, not a half-written one.
        assert {loser.current for loser in losers} == {run.status}
        terminal = Event.objects.filter(
            run_id=run_id, event_type__in=["run_completed", "run_cancelled"]
        )
        assert [event.event_type for event in terminal] == [f"run_{run.status}"]
        assert _sequences(run_id) == [1, 2]


def test_the_same_explicit_step_id_is_created_once_in_one_run():
    rounds = 10
    run_ids = [Run.objects.start("race").pk for _ in range(rounds)]
    step_ids = [uuid.uuid4() for _ in range(rounds)]

    def action(index, round_index):
        return Step.objects.start(run_ids[round_index], step_id=step_ids[round_index]).pk

    outcomes = race(rounds, action)

    for run_id, step_id, results in zip(run_ids, step_ids, outcomes, strict=True):
        assert results.count(step_id) == 1, results
        assert sum(isinstance(result, AlreadyExists) for result in results) == THREADS - 1
        assert list(Step.objects.filter(run_id=run_id).values_list("pk", "sequence")) == [
            (step_id, 1)
        ]
        assert _sequences(run_id) == [1, 2]


def test_the_same_explicit_step_id_is_created_once_across_runs():
    # Each thread holds a different run's lock, so only the primary key decides.
    rounds = 10
    run_ids = [[Run.objects.start("race").pk for _ in range(THREADS)] for _ in range(rounds)]
    step_ids = [uuid.uuid4() for _ in range(rounds)]

    def action(index, round_index):
        return Step.objects.start(run_ids[round_index][index], step_id=step_ids[round_index]).pk

    outcomes = race(rounds, action)

    for runs, step_id, results in zip(run_ids, step_ids, outcomes, strict=True):
        assert results.count(step_id) == 1, results
        assert sum(isinstance(result, AlreadyExists) for result in results) == THREADS - 1
        assert Step.objects.filter(pk=step_id).count() == 1
        # The losers' runs hold nothing but their first event.
        assert Event.objects.filter(run_id__in=runs).count() == THREADS + 1


def test_concurrent_steps_of_one_run_get_gapless_sequences():
    run_id = Run.objects.start("race").pk

    outcomes = race(1, lambda index, round_index: Step.objects.start(run_id).sequence)

    assert sorted(outcomes[0]) == list(range(1, THREADS + 1))
    assert _sequences(run_id) == list(range(1, THREADS + 2))
    assert Run.objects.get(pk=run_id).last_step_sequence == THREADS
