"""Fault tests on real worker processes, for both transports, on PostgreSQL.

``db``: ``manage.py db_worker`` processes (django-tasks-db). ``celery``: Celery workers
with the prefork pool and the local Redis as broker. A handler runs in the worker process
itself for ``db`` and in a pool child for ``celery``; the mark file names that pid.
"""

import os
import signal

import pytest
from django_tasks_db.models import DBTaskResult

import scoria_django as scoria
from scoria_django.models import Step

from .conftest import LEASE, deliveries, queue_length, recover
from .harness import wait_for_mark, wait_until
from .runs import IDENTITY, events, start, step_status

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

TRANSPORTS = ["db", pytest.param("celery", marks=pytest.mark.celery)]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_killed_worker_step_completes_once_on_second_attempt(fleet, marks, transport):
    workers = fleet(transport, 1, SCORIA_REQUEUE_AFTER=60)
    run = start("hang", "hang_on_first_attempt", marks=str(marks), hang=60)
    pid = wait_for_mark(marks, run.current_step_id, 1)
    workers.kill(workers.name_of(pid))  # the whole worker, Celery's master included
    workers.restart_dead()

    wait_until(
        lambda: step_status(run.current_step_id, "completed"),
        timeout=30,
        what="the step to complete after lease expiry and recovery",
        every=0.3,
        tick=recover,
    )

    step = Step.objects.get(pk=run.current_step_id)
    assert step.attempt == 2
    assert step.output["attempt"] == 2
    assert step.output["pid"] != pid
    assert len(events(step.pk, "step_completed")) == 1
    assert [e.payload["attempt"] for e in events(step.pk, "step_claimed")] == [1, 2]
    assert [e.payload["attempt"] for e in events(step.pk, "step_requeued")] == [2]
    assert scoria.get_run(run.run_id).status == "completed"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_frozen_worker_late_result_is_discarded(fleet, marks, transport):
    workers = fleet(transport, 2, SCORIA_REQUEUE_AFTER=60)
    run = start("hang", "hang_on_first_attempt", marks=str(marks), hang=2)
    pid = wait_for_mark(marks, run.current_step_id, 1)
    os.kill(pid, signal.SIGSTOP)
    try:
        wait_until(
            lambda: step_status(run.current_step_id, "completed"),
            timeout=30,
            what="the other worker to complete the step while the first is frozen",
            every=0.3,
            tick=recover,
        )
    finally:
        os.kill(pid, signal.SIGCONT)

    late = wait_until(
        lambda: events(run.current_step_id, "late_result_discarded"),
        timeout=20,
        what="the thawed worker to report its discarded result",
    )
    assert [(e.payload["attempt"], e.payload["reason"]) for e in late] == [(1, "claim_lost")]
    assert (marks / f"{run.current_step_id}.1.heartbeat").read_text() == "False"
    step = Step.objects.get(pk=run.current_step_id)
    assert step.status == "completed"
    assert step.output["attempt"] == 2
    assert step.output["pid"] != pid
    assert len(events(step.pk, "step_completed")) == 1
    assert workers.name_of(pid) is not None  # the zombie lived on, harmless


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_handler_crashing_its_worker_fails_after_max_attempts(fleet, marks, tmp_path, transport):
    workers = fleet(transport, 1, SCORIA_REQUEUE_AFTER=60, SCORIA_MAX_ATTEMPTS=3)
    run = start("crash", "crash_worker", marks=str(marks))
    step_id = run.current_step_id

    def supervise_and_recover():
        workers.restart_dead()  # a Celery master replaces its pool child by itself
        recover()

    wait_until(
        lambda: scoria.get_run(run.run_id).status == "failed",
        timeout=60,
        what="the run to fail after the last attempt",
        every=0.3,
        tick=supervise_and_recover,
    )
    step = Step.objects.get(pk=step_id)
    assert step.status == "failed"
    assert step.error["reason"] == "lease_expired"
    assert step.attempt == 3
    assert [e.payload["attempt"] for e in events(step_id, "step_claimed")] == [1, 2, 3]
    assert [e.payload["attempt"] for e in events(step_id, "step_requeued")] == [2, 3]

    def wakeups():
        if transport == "db":
            return sum(
                1 for r in DBTaskResult.objects.all() if str(step_id) in r.args_kwargs["args"]
            )
        # Distinct task ids are publishes: a message handed back by reject_on_worker_lost
        # is delivered again under the same id, possibly after the queue looks empty.
        return len({d.task_id for d in deliveries(tmp_path) if d.step_id == str(step_id)})

    if transport == "celery":
        # The last crash handed its message back (reject_on_worker_lost): let it drain.
        queue = workers.env["SCORIA_CELERY_QUEUE"]
        wait_until(
            lambda: queue_length(queue) == 0,
            timeout=20,
            what="the handed-back message to be consumed",
        )
    enqueued = wakeups()
    assert enqueued >= 3  # every claim needed a wake-up
    for _ in range(3):
        supervise_and_recover()
        if transport == "celery":
            assert queue_length(queue) == 0  # a publish would be there already
    assert wakeups() == enqueued
    assert Step.objects.get(pk=step_id).status == "failed"
    assert len(events(step_id, "step_claimed")) == 3


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_live_handler_longer_than_its_lease_is_never_reclaimed(fleet, marks, transport):
    fleet(transport, 1, SCORIA_REQUEUE_AFTER=60)
    quiet = start("long", "sleep_for", marks=str(marks), seconds=LEASE * 3)
    beating = start("beat", "heartbeating", marks=str(marks), seconds=LEASE * 2)

    wait_until(
        lambda: all(step_status(r.current_step_id, "completed") for r in (quiet, beating)),
        timeout=40,
        what="both long steps to complete",
        every=0.2,
        tick=recover,  # a recovery pass every 0.2 s must find the leases renewed
    )
    for run in (quiet, beating):
        step = Step.objects.get(pk=run.current_step_id)
        assert step.attempt == 1
        assert len(events(step.pk, "step_claimed")) == 1
        assert len(events(step.pk, "step_completed")) == 1
        assert not events(step.pk, "step_requeued")
    beats = Step.objects.get(pk=beating.current_step_id).output
    assert beats["all_held"] is True
    assert beats["beats"] > 0


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_timeout_is_enforced_in_the_worker_process(fleet, marks, transport):
    fleet(transport, 1, SCORIA_REQUEUE_AFTER=60)
    run = scoria.start_run(
        IDENTITY,
        initial_step={
            "kind": "long",
            "role_id": "worker",
            "input": {"marks": str(marks), "seconds": 4},
        },
        handlers={"long": "tests.workers.handlers.sleep_for"},
        timeout=1,
    )
    wait_until(
        lambda: scoria.get_run(run.run_id).status == "failed",
        timeout=20,
        what="the worker to time the handler out",
    )
    step = Step.objects.get(pk=run.current_step_id)
    assert step.error["reason"] == "timeout"
    late = wait_until(
        lambda: events(step.pk, "late_result_discarded"),
        timeout=20,
        what="the abandoned handler's result to be discarded",
    )
    assert [e.payload["reason"] for e in late] == ["timeout"]
    assert not events(step.pk, "step_completed")
