"""Races on one run, with real threads on PostgreSQL (SQLite serialises writers)."""

import threading

import pytest
from django.db import connections
from django.test import override_settings

import scoria_django as scoria
from scoria_django.compat import DUMMY_BACKEND, default_task_backend
from scoria_django.models import Step
from scoria_django.runtime.executor import execute
from tests import runtime_handlers

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("require_postgres")]
DUMMY_TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}


@pytest.fixture(autouse=True)
def _reset():
    runtime_handlers.reset()


def all_at_once(count, work):
    """Run ``work(index)`` on ``count`` threads released together; return results or errors."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        try:
            barrier.wait(10)
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def event_types(run_id):
    return [event["event_type"] for event in scoria.get_run_detail(run_id).events]


def test_sixteen_concurrent_resumes_exactly_one_wins():
    started = scoria.start_run(
        None,
        initial_step={"kind": "gate", "role_id": "executor"},
        handlers={"gate": runtime_handlers.approve_then_probe},
    )
    assert started.status == "waiting_for_approval"

    results = all_at_once(
        16, lambda index: scoria.resume_run(started.run_id, identity={"actor_id": f"op{index}"})
    )

    winners = [result for result in results if isinstance(result, scoria.RunSummary)]
    losers = [result for result in results if isinstance(result, scoria.ScoriaError)]
    assert len(winners) == 1
    assert len(losers) == 15
    assert {error.code for error in losers} == {"not_resumable"}
    assert winners[0].run_id == started.run_id
    assert event_types(started.run_id).count("resume_requested") == 1
    assert len(runtime_handlers.SEEN) == 1  # the handler ran once after the resume
    assert scoria.get_run(started.run_id).status == "completed"
    approver = runtime_handlers.SEEN[0]["approval"]["approved_by"]
    resume = next(
        event
        for event in scoria.get_run_detail(started.run_id).events
        if event["event_type"] == "resume_requested"
    )
    assert resume["actor_id"] == approver


def test_the_same_step_task_delivered_three_times_runs_the_handler_once():
    with override_settings(TASKS=DUMMY_TASKS):
        started = scoria.start_run(
            None,
            initial_step={"kind": "counting", "role_id": "executor"},
            handlers={"counting": runtime_handlers.counting},
        )
        (delivery,) = default_task_backend.results

    all_at_once(3, lambda index: delivery.task.call(*delivery.args))

    key = f"{started.run_id}:{started.current_step_id}"
    assert dict(runtime_handlers.CALLS) == {key: 1}
    assert scoria.get_run(started.run_id).status == "completed"
    types = event_types(started.run_id)
    assert types.count("step_claimed") == 1
    assert types.count("step_completed") == 1


def test_a_cancel_racing_a_running_handler_wins_and_the_result_is_discarded():
    with override_settings(TASKS=DUMMY_TASKS):
        started = scoria.start_run(
            None,
            initial_step={"kind": "blocking", "role_id": "executor"},
            handlers={"blocking": runtime_handlers.blocking},
        )

    def work(index):
        if index == 0:
            return execute(started.run_id, started.current_step_id)
        assert runtime_handlers.STARTED.wait(10)
        try:
            return scoria.cancel_run(started.run_id)
        finally:
            runtime_handlers.RELEASE.set()

    all_at_once(2, work)
    assert Step.objects.get(pk=started.current_step_id).status == "cancelled"
    types = event_types(started.run_id)
    assert types.count("run_cancelled") == 1
    assert "step_completed" not in types
    assert types[-1] == "late_result_discarded"


def test_concurrent_starts_in_one_session_are_separate_runs():
    ident = scoria.identity(actor_id="u", session_id="busy")
    results = all_at_once(8, lambda index: scoria.start_run(ident, input={"turn": index}))
    assert len({result.run_id for result in results}) == 8
    assert len(scoria.list_runs_for_session("busy")) == 8
