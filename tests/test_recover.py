"""scoria_recover (docs/execution.md) requeues expired claims and wakes forgotten queued steps."""

import datetime
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import override_settings
from django.utils import timezone

import scoria_django as scoria
from scoria_django.models import Step
from scoria_django.runtime.executor import claim_step, execute, invoke, record_outcome
from scoria_django.runtime.recovery import recover
from tests import runtime_handlers

RECORDING_TASKS = {"default": {"BACKEND": "tests.runtime_handlers.RecordingBackend"}}
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("recording_backend"),
]


@pytest.fixture
def recording_backend():
    runtime_handlers.reset()
    with override_settings(TASKS=RECORDING_TASKS):
        yield runtime_handlers.ENQUEUED


def queued_run(kind="counting", handler=runtime_handlers.counting):
    summary = scoria.start_run(
        None,
        initial_step={"kind": kind, "role_id": "executor"},
        handlers={kind: handler},
    )
    runtime_handlers.ENQUEUED.clear()
    return summary


def expire(step_id):
    Step.objects.filter(pk=step_id).update(
        lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )


def crash(summary):
    """A worker claims the step and dies: its lease runs out."""
    claim = claim_step(summary.run_id, summary.current_step_id)
    assert claim is not None
    expire(summary.current_step_id)
    return claim


def enqueued():
    return list(runtime_handlers.ENQUEUED)


def step_of(summary):
    return Step.objects.get(pk=summary.current_step_id)


def event_types(summary):
    return [event["event_type"] for event in scoria.get_run_detail(summary.run_id).events]


def test_an_expired_claim_is_requeued_with_the_next_attempt_and_enqueued_once():
    summary = queued_run()
    crash(summary)
    report = recover()
    assert report.summary() == "requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"
    step = step_of(summary)
    assert (step.status, step.attempt, step.claim_token, step.lease_expires_at) == (
        "queued",
        2,
        None,
        None,
    )
    requeued = scoria.get_run_detail(summary.run_id).events[-1]
    assert requeued["event_type"] == "step_requeued"
    assert requeued["payload"] == {
        "step_status": "queued",
        "attempt": 2,
        "previous_attempt": 1,
        "reason": "lease_expired",
    }
    assert enqueued() == [(summary.run_id, summary.current_step_id)]
    assert recover().actions == []  # nothing left to do
    execute(summary.run_id, summary.current_step_id)
    assert scoria.get_run(summary.run_id).status == "completed"


def test_after_max_attempts_lost_claims_the_step_and_run_fail_with_lease_expired():
    summary = queued_run()
    for attempt in (1, 2):
        crash(summary)
        assert recover().summary() == "requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"
        assert step_of(summary).attempt == attempt + 1
    crash(summary)
    report = recover()
    assert report.summary() == "requeued=0 failed=1 reenqueued=0 expired=0 overdue=0"
    step = step_of(summary)
    assert (step.status, step.error) == ("failed", {"reason": "lease_expired", "attempt": 3})
    run = scoria.get_run(summary.run_id)
    assert run.status == "failed"
    assert event_types(summary)[-2:] == ["step_failed", "run_failed"]
    assert len(enqueued()) == 2


@override_settings(SCORIA_MAX_ATTEMPTS=1)
def test_max_attempts_is_a_setting():
    summary = queued_run()
    crash(summary)
    assert recover().summary() == "requeued=0 failed=1 reenqueued=0 expired=0 overdue=0"


@override_settings(SCORIA_MAX_ATTEMPTS=2)
def test_a_retry_after_lease_expired_gets_a_fresh_budget():
    summary = queued_run()
    crash(summary)
    recover()
    crash(summary)
    recover()
    assert step_of(summary).status == "failed"
    scoria.resume_run(summary.run_id)
    assert step_of(summary).attempt == 3
    crash(summary)
    assert recover().summary() == "requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"


def test_live_leases_and_host_driven_steps_are_left_alone():
    summary = queued_run()
    claim_step(summary.run_id, summary.current_step_id)  # lease in the future
    host_run = scoria.start_run(None)
    Step.objects.start(host_run.run_id, kind="manual")  # running, no lease
    assert recover().actions == []
    assert step_of(summary).status == "running"


def test_an_expired_and_taken_over_claim_cannot_record_its_late_result():
    summary = queued_run()
    zombie = crash(summary)
    late_result = invoke(zombie)  # the zombie's handler finishes after all
    recover()
    successor = claim_step(summary.run_id, summary.current_step_id)
    assert successor.token != zombie.token

    assert record_outcome(zombie, late_result) is None
    step = step_of(summary)
    assert (step.status, step.claim_token, step.output) == ("running", successor.token, None)
    late = scoria.get_run_detail(summary.run_id).events[-1]
    assert (late["event_type"], late["payload"]) == (
        "late_result_discarded",
        {"attempt": 1, "reason": "claim_lost"},
    )

    record_outcome(successor, {"fresh": True})
    step = step_of(summary)
    assert (step.status, step.output, step.attempt) == ("completed", {"fresh": True}, 2)
    assert event_types(summary).count("step_completed") == 1


@override_settings(SCORIA_REQUEUE_AFTER=60)
def test_a_forgotten_queued_step_is_enqueued_again_once():
    summary = queued_run()
    Step.objects.filter(pk=summary.current_step_id).update(
        updated_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    report = recover()
    assert report.summary() == "requeued=0 failed=0 reenqueued=1 expired=0 overdue=0"
    assert enqueued() == [(summary.run_id, summary.current_step_id)]
    assert recover().actions == []  # touched: not stale any more
    assert step_of(summary).status == "queued"
    assert step_of(summary).attempt == 1


@override_settings(SCORIA_REQUEUE_AFTER=60)
def test_fresh_queued_steps_and_steps_without_a_handler_are_not_enqueued():
    fresh = queued_run()
    manual = scoria.start_run(None, initial_step={"kind": "manual", "role_id": "host"})
    Step.objects.filter(pk=manual.current_step_id).update(
        updated_at=timezone.now() - datetime.timedelta(minutes=5)
    )
    assert recover().actions == []
    assert enqueued() == []
    assert step_of(fresh).status == "queued"


def test_dry_run_reports_and_changes_nothing():
    summary = queued_run()
    crash(summary)
    before = event_types(summary)
    report = recover(dry_run=True)
    assert report.summary() == "dry run: requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"
    assert report.actions[0].describe(dry_run=True).startswith("would requeue step")
    assert step_of(summary).status == "running"
    assert event_types(summary) == before
    assert enqueued() == []


def test_the_command_prints_what_it_did():
    summary = queued_run()
    crash(summary)
    out = StringIO()
    call_command("scoria_recover", "--dry-run", stdout=out)
    assert f"would requeue step {summary.current_step_id}" in out.getvalue()
    assert "dry run: requeued=1" in out.getvalue()
    out = StringIO()
    call_command("scoria_recover", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"requeued step {summary.current_step_id} (counting, attempt 2) of run {summary.run_id}"
    )
    assert lines[1] == "scoria_recover: requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"


def test_the_command_loops_with_an_interval():
    out = StringIO()
    call_command("scoria_recover", "--interval", "0.01", "--max-loops", "3", stdout=out)
    assert (
        out.getvalue().count("scoria_recover: requeued=0 failed=0 reenqueued=0 expired=0 overdue=0")
        == 3
    )


@pytest.mark.django_db  # nothing to commit
@pytest.mark.parametrize(
    "args",
    [["--interval", "0"], ["--interval", "soon"], ["--max-loops", "-1"], ["--limit", "0"]],
)
def test_the_command_rejects_bad_arguments(args):
    with pytest.raises(CommandError):
        call_command("scoria_recover", *args, stdout=StringIO())


def test_two_recoverers_at_once_act_once_per_step(require_postgres):
    summaries = [queued_run() for _ in range(6)]
    for summary in summaries:
        crash(summary)
    barrier = threading.Barrier(2)
    reports = []

    def recoverer():
        try:
            barrier.wait(10)
            reports.append(recover())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recoverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(report.count("requeued") for report in reports) == 6
    assert sorted(enqueued()) == sorted((s.run_id, s.current_step_id) for s in summaries)
    for summary in summaries:
        assert step_of(summary).attempt == 2
        assert event_types(summary).count("step_requeued") == 1


@override_settings(SCORIA_REQUEUE_AFTER=60)
def test_two_recoverers_wake_a_forgotten_step_once(require_postgres):
    summaries = [queued_run() for _ in range(6)]
    Step.objects.update(updated_at=timezone.now() - datetime.timedelta(minutes=5))
    barrier = threading.Barrier(2)

    def recoverer():
        try:
            barrier.wait(10)
            recover()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=recoverer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(enqueued()) == sorted((s.run_id, s.current_step_id) for s in summaries)
