"""With an inline task backend the transaction that makes a step runnable also claims it.

``ImmediateBackend`` runs a task in this process as soon as it is enqueued, so the task's
own claim transaction would be one commit spent on nothing: start_run, start_handoff_run
and resume_run claim the first runnable step themselves, and this process runs it right
after commit. A host transaction around the call, or a queuing backend, keeps the task.
"""

import datetime
from unittest import mock

import pytest
from django.db import connections, transaction
from django.test import override_settings
from django.utils import timezone

import scoria_django as scoria
from scoria_django.compat import DUMMY_BACKEND, default_task_backend, task_enqueued
from scoria_django.models import Step
from scoria_django.runtime.recovery import recover
from tests import handlers

CHAIN = {"chain": "tests.handlers.chain", "echo": "tests.handlers.echo"}
APPROVAL = {"approval": "tests.handlers.wait_for_approval"}


def fan_out(ctx):
    """Queues two steps that each wait for approval."""
    return scoria.complete("fanned", next_steps=[{"kind": "approval"}, {"kind": "approval"}])


def event_types(run_id):
    return [event["event_type"] for event in scoria.get_run_detail(run_id).events]


class Commits:
    """Counts the commits of the default connection."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        connection = connections["default"]
        original = connection._commit

        def counting():
            self.count += 1
            return original()

        self._patch = mock.patch.object(connection, "_commit", counting)
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()


@pytest.mark.django_db(transaction=True)
def test_a_three_step_lifecycle_commits_four_times_with_the_first_claim_in_the_start():
    scoria.start_run(None, initial_step={"kind": "chain", "role_id": "executor"}, handlers=CHAIN)
    with Commits() as commits:
        summary = scoria.start_run(
            None, initial_step={"kind": "chain", "role_id": "executor"}, handlers=CHAIN
        )
    assert summary.status == "completed"
    # start + claim 1; complete 1 + claim 2; complete 2 + claim 3; complete 3 + the run.
    assert commits.count == 4
    assert event_types(summary.run_id)[:3] == ["run_started", "step_queued", "step_claimed"]
    first = scoria.get_run_detail(summary.run_id).events[2]
    assert first["payload"] == {"step_status": "running", "attempt": 1}


@pytest.mark.django_db(transaction=True)
def test_an_approval_round_trip_commits_four_times_with_the_claim_in_the_resume():
    with Commits() as commits:
        waiting = scoria.start_run(
            None, initial_step={"kind": "approval", "role_id": "executor"}, handlers=APPROVAL
        )
        assert waiting.status == "waiting_for_approval"
        done = scoria.resume_run(waiting.run_id, identity={"actor_id": "boss"})
    assert done.status == "completed"
    assert commits.count == 4  # start + claim, waiting, resume + claim, completed
    types = event_types(done.run_id)
    resumed = types.index("resume_requested")
    assert types[resumed : resumed + 3] == ["resume_requested", "step_claimed", "step_completed"]


@pytest.mark.django_db(transaction=True)
def test_inside_a_host_transaction_the_step_is_left_queued_until_the_task_runs_it():
    # A claim taken inside the host's transaction would age its lease until that commits.
    with transaction.atomic():
        summary = scoria.start_run(
            None, initial_step={"kind": "echo", "role_id": "executor"}, handlers=CHAIN
        )
        step = Step.objects.get(pk=summary.current_step_id)
        assert (step.status, step.claim_token, step.lease_expires_at) == ("queued", None, None)
        assert event_types(summary.run_id) == ["run_started", "step_queued"]
    assert scoria.get_run(summary.run_id).status == "completed"
    assert len(handlers.CALLS) == 1


@pytest.mark.django_db(transaction=True)
def test_a_queuing_backend_gets_a_task_and_nothing_is_claimed():
    with override_settings(TASKS={"default": {"BACKEND": DUMMY_BACKEND}}):
        summary = scoria.start_run(
            None, initial_step={"kind": "echo", "role_id": "executor"}, handlers=CHAIN
        )
        assert len(default_task_backend.results) == 1
    assert Step.objects.get(pk=summary.current_step_id).status == "queued"
    assert event_types(summary.run_id) == ["run_started", "step_queued"]


@pytest.mark.django_db
def test_a_process_that_dies_after_the_start_commit_leaves_a_lease_recovery_takes_over(
    django_capture_on_commit_callbacks,
):
    # The start commits its claim; the callback that would run the step never runs.
    with django_capture_on_commit_callbacks(execute=False):
        summary = scoria.start_run(
            None, initial_step={"kind": "echo", "role_id": "executor"}, handlers=CHAIN
        )
    step = Step.objects.get(pk=summary.current_step_id)
    assert step.status == "running"
    assert step.claim_token is not None and step.lease_expires_at is not None
    assert handlers.CALLS == []
    assert recover().actions == []  # the lease is live: nobody else may take the step
    Step.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert recover().summary() == "requeued=1 failed=0 reenqueued=0"
    assert scoria.get_run(summary.run_id).status == "completed"
    assert Step.objects.get(pk=step.pk).attempt == 2
    assert len(handlers.CALLS) == 1


@pytest.mark.django_db(transaction=True)
def test_a_resume_of_two_waiting_steps_claims_one_and_enqueues_the_other():
    summary = scoria.start_run(
        None,
        initial_step={"kind": "fan_out", "role_id": "executor"},
        handlers={"fan_out": fan_out, **APPROVAL},
    )
    assert summary.status == "waiting_for_approval"
    enqueued = []

    def record(sender, task_result, **kwargs):
        enqueued.append(task_result.args)

    task_enqueued.connect(record)
    try:
        done = scoria.resume_run(summary.run_id, identity={"actor_id": "boss"})
    finally:
        task_enqueued.disconnect(record)
    assert done.status == "completed"
    waiting = Step.objects.filter(run_id=summary.run_id, kind="approval").order_by("sequence")
    assert [step.status for step in waiting] == ["completed", "completed"]
    # The first runs on the resume's claim; only the second goes through the backend.
    assert enqueued == [[summary.run_id, str(waiting[1].pk)]]
