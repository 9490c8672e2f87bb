"""Celery-only faults: a killed pool child under ``acks_late``, a broker redelivery, a lost
publish. Real workers (prefork pool, Redis broker) and PostgreSQL."""

import os
import signal

import pytest
from django.test import override_settings

import scoria_django as scoria
from scoria_django.compat import DUMMY_BACKEND
from scoria_django.models import Step

from .conftest import TASKS, deliveries, recover
from .harness import wait_for_mark, wait_until
from .runs import events, start, step_status

pytestmark = [pytest.mark.workers, pytest.mark.celery, pytest.mark.postgres]


def test_killed_pool_child_with_acks_late_completes_once(fleet, marks, tmp_path):
    fleet("celery", 1, SCORIA_REQUEUE_AFTER=60)
    run = start("hang", "hang_on_first_attempt", marks=str(marks), hang=60)
    step_id = run.current_step_id
    child = wait_for_mark(marks, step_id, 1)
    os.kill(child, signal.SIGKILL)  # the pool child, not the worker: Celery forks a new one

    # reject_on_worker_lost hands the message back: the same wake-up is delivered again,
    # finds the step claimed by the dead child, and changes nothing.
    first_task = deliveries(tmp_path)[0].task_id
    wait_until(
        lambda: [d for d in deliveries(tmp_path) if d.task_id == first_task][1:],
        timeout=20,
        what="the killed child's message to be delivered again",
    )
    wait_until(
        lambda: step_status(step_id, "completed"),
        timeout=30,
        what="the step to complete after lease expiry and recovery",
        every=0.3,
        tick=recover,
    )
    step = Step.objects.get(pk=step_id)
    assert step.attempt == 2
    assert step.output["pid"] != child
    assert len(events(step_id, "step_completed")) == 1
    assert [e.payload["attempt"] for e in events(step_id, "step_claimed")] == [1, 2]


def test_redelivery_after_visibility_timeout_changes_nothing(fleet, marks, tmp_path):
    # Two pool processes, and the broker gives the unacknowledged message to the
    # second one while the first still runs the step (visibility 1 s, step 6 s).
    fleet("celery", 1, concurrency=2, visibility=1, SCORIA_REQUEUE_AFTER=60)
    run = start("long", "sleep_for", marks=str(marks), seconds=6)
    step_id = run.current_step_id

    wait_until(
        lambda: len({d.pid for d in deliveries(tmp_path) if d.step_id == str(step_id)}) >= 2,
        timeout=20,
        what="the broker to redeliver the step's message to another pool process",
    )
    wait_until(
        lambda: step_status(step_id, "completed"),
        timeout=30,
        what="the step to complete",
        every=0.3,
        tick=recover,
    )
    step = Step.objects.get(pk=step_id)
    assert step.attempt == 1
    assert len(events(step_id, "step_claimed")) == 1
    assert len(events(step_id, "step_completed")) == 1
    assert len({d.task_id for d in deliveries(tmp_path) if d.step_id == str(step_id)}) == 1


def test_lost_publish_is_repaired_by_recovery(fleet, marks, worker_settings):
    fleet("celery", 1, SCORIA_REQUEUE_AFTER=0)
    lost = {**TASKS, "lost": {"BACKEND": DUMMY_BACKEND}}
    with override_settings(TASKS=lost, SCORIA_TASK_BACKEND="lost"):
        run = start("long", "sleep_for", marks=str(marks), seconds=0)
    assert scoria.get_run(run.run_id).status == "running"
    assert step_status(run.current_step_id, "queued")

    wait_until(
        lambda: scoria.get_run(run.run_id).status == "completed",
        timeout=30,
        what="recovery to publish the step again and a worker to run it",
        every=0.5,
        tick=recover,
    )
    assert len(events(run.current_step_id, "step_completed")) == 1
    assert scoria.get_run_detail(run.run_id).summary.status == "completed"
