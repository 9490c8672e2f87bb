"""Retries with backoff and durable timers on real django-tasks-db workers (PostgreSQL):
all complete, none is claimed before it is due, none is lost when a worker is SIGKILLed."""

import datetime
import time

import pytest

import scoria_django as scoria
from scoria_django.models import Event, Run, Step

from .conftest import recover
from .harness import wait_until
from .runs import IDENTITY

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

RUNS = 50
HANDLERS = {
    "throttled": "tests.workers.handlers.throttled_twice",
    "timer": "tests.workers.handlers.timer_then_reminder",
    "reminder": "tests.workers.handlers.timer_then_reminder",
}


def _start(kind):
    return scoria.start_run(
        IDENTITY, initial_step={"kind": kind, "role_id": "worker"}, handlers=HANDLERS
    ).run_id


def test_retries_and_timers_complete_on_time_through_a_worker_kill(fleet):
    workers = fleet("db", 2, SCORIA_REQUEUE_AFTER=5)
    retried = [_start("throttled") for _ in range(RUNS)]
    timed = [_start("timer") for _ in range(RUNS)]
    time.sleep(1.0)  # retries and timers are in flight
    workers.kill(workers.workers()[0])
    workers.restart_dead()

    every = retried + timed
    wait_until(
        lambda: Run.objects.filter(pk__in=every, status="completed").count() == len(every),
        timeout=90,
        what="every retried and timed run to complete",
        every=0.5,
        tick=recover,
    )

    for run_id in retried:
        step = Step.objects.get(run_id=run_id)
        assert step.attempt >= 3 and step.output["attempt"] == step.attempt
        events = list(Event.objects.filter(step_id=step.pk).order_by("sequence"))
        due = None
        for event in events:
            if event.event_type == "step_retry_scheduled":
                due = datetime.datetime.fromisoformat(event.payload["not_before"])
            elif event.event_type == "step_claimed" and due is not None:
                assert event.created_at >= due, f"claimed before due: {step.pk}"
        # Each attempt after the first came from a scheduled retry or, for the step the
        # killed worker held, from recovery after its lease expired.
        scheduled = [e for e in events if e.event_type == "step_retry_scheduled"]
        requeued = [e for e in events if e.event_type == "step_requeued"]
        assert len(scheduled) + len(requeued) == step.attempt - 1
        assert scheduled and all(e.payload["delay"] > 0 for e in scheduled)

    for run_id in timed:
        reminder = Step.objects.get(run_id=run_id, kind="reminder")
        assert reminder.output["reminded"] is True
        assert reminder.started_at >= reminder.not_before, f"early: {reminder.pk}"
        timer = Step.objects.get(run_id=run_id, kind="timer")
        assert reminder.not_before - timer.completed_at == datetime.timedelta(seconds=2)
