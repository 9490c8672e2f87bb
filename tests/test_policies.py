"""Execution policies: retries with backoff, durable timers, idempotent starts, session
concurrency, cancellation that reaches everything, and a run's rails."""

import datetime
import threading
import time

import pytest
from django.db import close_old_connections
from django.utils import timezone

import scoria_django as scoria
from scoria_django.models import Event, Run, Step
from scoria_django.runtime import control
from scoria_django.runtime.recovery import recover
from tests import policy_handlers
from tests.together import together

pytestmark = pytest.mark.django_db(transaction=True)

HANDLERS = {
    "flaky": policy_handlers.flaky,
    "wrong_error": policy_handlers.wrong_error,
    "polls": policy_handlers.polls,
    "timer": policy_handlers.timer,
    "reminder": policy_handlers.timer,
    "forever": policy_handlers.forever,
    "heartbeat": policy_handlers.loops_on_heartbeat,
    "cancelled": policy_handlers.loops_on_cancelled,
    "echo": "tests.handlers.echo",
}
WHO = {"actor_id": "u", "tenant_id": "t", "session_id": "s"}


@pytest.fixture(autouse=True)
def _reset():
    policy_handlers.reset()


def start(kind, identity=WHO, step_input=None, **options):
    return scoria.start_run(
        identity,
        initial_step={"kind": kind, "role_id": "executor", "input": step_input},
        handlers=HANDLERS,
        **options,
    )


def settle(run_id, seconds=10):
    """Run recovery (it wakes due timers under the inline backend) until the run ends."""
    limit = time.monotonic() + seconds
    while time.monotonic() < limit:
        status = Run.objects.get(pk=run_id).status
        if status in ("completed", "failed", "cancelled"):
            return status
        recover()
        time.sleep(0.02)
    return Run.objects.get(pk=run_id).status


def events(run_id, event_type):
    return [
        e.payload
        for e in Event.objects.filter(run_id=run_id, event_type=event_type).order_by("sequence")
    ]


# -- retries -------------------------------------------------------------------------------


def test_a_retryable_error_twice_then_success_completes_on_attempt_three():
    started = start("flaky")
    assert started.status == "running"  # the first retry waits for its backoff
    assert settle(started.run_id) == "completed"
    step = Step.objects.get(run_id=started.run_id)
    assert (step.attempt, step.output) == (3, {"attempt": 3})
    scheduled = events(started.run_id, "step_retry_scheduled")
    assert [e["attempt"] for e in scheduled] == [2, 3]
    assert [e["delay"] for e in scheduled] == [0.05, 0.1]  # growing: 0.05 * 2 ** (n - 1)
    assert all(e["error"]["type"].endswith("RateLimited") for e in scheduled)
    # Never claimed before it was due.
    claims = Event.objects.filter(run_id=started.run_id, event_type="step_claimed")
    due = [datetime.datetime.fromisoformat(e["not_before"]) for e in scheduled]
    assert all(claim.created_at >= when for claim, when in zip(claims[1:], due, strict=True))


def test_an_exception_the_policy_does_not_name_fails_at_once():
    failed = start("wrong_error")
    assert failed.status == "failed"
    step = Step.objects.get(run_id=failed.run_id)
    assert step.attempt == 1
    assert step.error["type"] == "builtins.KeyError"
    assert "retries_exhausted" not in step.error
    assert events(failed.run_id, "step_retry_scheduled") == []


def test_exhausted_retries_fail_with_retries_exhausted():
    started = start("flaky", step_input={"failures": 5})
    assert settle(started.run_id) == "failed"
    step = Step.objects.get(run_id=started.run_id)
    assert step.attempt == 3
    assert step.error["retries_exhausted"] is True
    assert step.error["type"].endswith("RateLimited")
    assert len(events(started.run_id, "step_retry_scheduled")) == 2


def test_retry_later_counts_against_the_policy():
    started = start("polls")
    assert settle(started.run_id) == "failed"
    step = Step.objects.get(run_id=started.run_id)
    assert step.attempt == 2
    assert step.error == {
        "reason": "retries_exhausted",
        "retries_exhausted": True,
        "retry_reason": "not ready",
    }


def test_a_bad_retry_policy_or_delay_is_refused():
    with pytest.raises(ValueError):
        scoria.RetryPolicy(max_attempts=0)
    with pytest.raises(TypeError):
        scoria.RetryPolicy(retry_on=("nope",))
    with pytest.raises(ValueError):
        scoria.handler(timeout=-1)


# -- timers --------------------------------------------------------------------------------


def test_a_next_step_with_a_delay_is_not_claimed_before_it_is_due():
    started = start("timer", step_input={"delay": 0.3})
    reminder = Step.objects.get(run_id=started.run_id, kind="reminder")
    assert reminder.status == "queued"
    assert reminder.not_before is not None
    recover()  # not due yet: nothing happens
    assert Step.objects.get(pk=reminder.pk).status == "queued"
    assert settle(started.run_id) == "completed"
    reminder.refresh_from_db()
    assert reminder.started_at >= reminder.not_before
    assert reminder.output == {"reminded": True}


def test_an_early_delivery_of_a_timer_changes_nothing():
    from scoria_django.runtime.executor import execute

    started = start("timer", step_input={"delay": 30})
    reminder = Step.objects.get(run_id=started.run_id, kind="reminder")
    execute(started.run_id, reminder.pk)  # a task that arrived early
    assert Step.objects.get(pk=reminder.pk).status == "queued"


# -- idempotent starts ---------------------------------------------------------------------


def test_a_repeated_start_with_the_same_key_returns_the_first_run():
    first = start("echo", idempotency_key="order-17")
    again = start("echo", idempotency_key="order-17")
    assert again.run_id == first.run_id
    assert Run.objects.filter(idempotency_key="order-17").count() == 1
    # Another tenant has its own keys.
    other = start("echo", identity={**WHO, "tenant_id": "t2"}, idempotency_key="order-17")
    assert other.run_id != first.run_id


def test_the_same_key_for_a_different_request_is_refused():
    start("echo", step_input={"a": 1}, idempotency_key="k")
    with pytest.raises(scoria.ScoriaConflict) as caught:
        start("echo", step_input={"a": 2}, idempotency_key="k")
    assert caught.value.code == "idempotency_key_reused"
    assert Run.objects.count() == 1


def test_a_blank_key_is_refused():
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        start("echo", idempotency_key="  ")
    assert caught.value.field == "idempotency_key"


# -- session concurrency -------------------------------------------------------------------


def test_reject_refuses_a_start_while_the_session_has_an_active_run():
    busy = start("timer", step_input={"delay": 30})
    assert busy.status == "running"
    with pytest.raises(scoria.ScoriaConflict) as caught:
        start("echo", on_busy="reject")
    assert caught.value.code == "session_busy"
    assert Run.objects.count() == 1
    # Another session is not busy.
    assert start("echo", identity={**WHO, "session_id": "s2"}, on_busy="reject")


def test_cancel_previous_supersedes_the_active_run(settings):
    settings.SCORIA_SESSION_CONCURRENCY = "cancel_previous"
    busy = start("timer", step_input={"delay": 30})
    fresh = start("echo")
    assert fresh.status == "completed"
    previous = Run.objects.get(pk=busy.run_id)
    assert previous.status == "cancelled"
    assert previous.cancel_reason == {"reason": "superseded", "by_run_id": fresh.run_id}


def test_an_unknown_on_busy_is_refused():
    with pytest.raises(scoria.ScoriaValidationError):
        start("echo", on_busy="queue")


# -- cancellation --------------------------------------------------------------------------


def _family(depth=3):
    """A parent run with children, grandchildren and great-grandchildren (two per level)."""
    root = Run.objects.start("s")
    level, everyone = [root], [root]
    for _ in range(depth):
        level = [Run.objects.start({"parent_run_id": p.pk}) for p in level for _ in range(2)]
        everyone += level
    return root, everyone


def test_cancelling_a_parent_cancels_three_levels_of_children():
    root, everyone = _family()
    scoria.cancel_run(root.pk, reason="stop")
    runs = Run.objects.filter(pk__in=[r.pk for r in everyone])
    assert {run.status for run in runs} == {"cancelled"}
    child = Run.objects.filter(parent_run_id=root.pk).first()
    assert child.cancel_reason == {"reason": "parent_cancelled", "parent_run_id": str(root.pk)}


def test_the_cascade_is_one_transaction(monkeypatch):
    root, everyone = _family()
    original = control.transitions.finish_run
    calls = []

    def finish(journal, name, value, **kwargs):
        calls.append(journal.run.pk)
        if len(calls) == 6:
            raise RuntimeError("crash in the middle of the cascade")
        return original(journal, name, value, **kwargs)

    monkeypatch.setattr(control.transitions, "finish_run", finish)
    with pytest.raises(RuntimeError):
        scoria.cancel_run(root.pk)
    assert set(Run.objects.values_list("status", flat=True)) == {"running"}


def test_the_manager_cancel_leaves_child_runs_alone():
    root, everyone = _family(depth=1)
    Run.objects.cancel(root.pk)
    assert Run.objects.filter(parent_run_id=root.pk, status="running").count() == 2


def _cancel_while_running(kind, settings):
    settings.SCORIA_LEASE_SECONDS = 0.3
    settings.SCORIA_STEP_TIMEOUT = 20
    result = {}

    def run_it():
        close_old_connections()
        try:
            result["summary"] = start(kind)
        finally:
            close_old_connections()

    thread = threading.Thread(target=run_it)
    thread.start()
    assert policy_handlers.STARTED.wait(10)
    run_id = Step.objects.get(kind=kind).run_id
    scoria.cancel_run(run_id, reason="user")
    cancelled_at = time.monotonic()
    thread.join(20)
    return run_id, cancelled_at


@pytest.mark.usefixtures("require_postgres")
def test_a_handler_looping_on_heartbeat_stops_within_one_lease_renewal(settings):
    run_id, cancelled_at = _cancel_while_running("heartbeat", settings)
    assert policy_handlers.STOPPED["heartbeat"] - cancelled_at < 0.3 / 3 + 0.1
    assert Run.objects.get(pk=run_id).status == "cancelled"
    assert events(run_id, "late_result_discarded")


@pytest.mark.usefixtures("require_postgres")
def test_ctx_cancelled_turns_true_within_one_lease_renewal(settings):
    run_id, cancelled_at = _cancel_while_running("cancelled", settings)
    assert policy_handlers.STOPPED["cancelled"] - cancelled_at < 0.3 / 3 + 0.15
    assert Run.objects.get(pk=run_id).status == "cancelled"


# -- rails ---------------------------------------------------------------------------------


def test_a_run_that_always_queues_a_next_step_stops_at_its_budget():
    stopped = start("forever", max_steps=5)
    assert stopped.status == "failed"
    run = Run.objects.get(pk=stopped.run_id)
    assert run.error == {"reason": "step_limit_exceeded", "max_steps": 5}
    assert Step.objects.filter(run_id=stopped.run_id).count() == 5


def test_the_setting_is_the_default_budget(settings):
    settings.SCORIA_MAX_STEPS_PER_RUN = 3
    assert start("forever").status == "failed"
    assert Step.objects.count() == 3


def test_a_run_past_its_deadline_fails_when_a_step_is_claimed_and_in_recovery():
    late = start("timer", step_input={"delay": 0.2}, deadline=0.1)
    time.sleep(0.3)
    assert settle(late.run_id) == "failed"
    assert Run.objects.get(pk=late.run_id).error["reason"] == "deadline_exceeded"

    waiting = scoria.start_run(WHO, deadline=timezone.now() + datetime.timedelta(seconds=0.1))
    time.sleep(0.2)
    report = recover()
    assert [o.run_id for o in report.overdue] == [waiting.run_id]
    assert Run.objects.get(pk=waiting.run_id).error["reason"] == "deadline_exceeded"


def test_bad_rails_are_refused():
    for options in ({"max_steps": 0}, {"deadline": "tomorrow"}, {"deadline": -5}):
        with pytest.raises(scoria.ScoriaValidationError):
            start("echo", **options)


# -- races (PostgreSQL) --------------------------------------------------------------------


@pytest.mark.usefixtures("require_postgres")
def test_sixteen_concurrent_starts_with_one_key_make_one_run():
    results = together(16, lambda i: start("echo", idempotency_key="same"))
    assert all(isinstance(r, scoria.RunSummary) for r in results), results
    assert len({r.run_id for r in results}) == 1
    assert Run.objects.count() == 1


@pytest.mark.usefixtures("require_postgres")
def test_sixteen_concurrent_starts_in_a_busy_session_with_reject_make_none():
    start("timer", step_input={"delay": 60})
    results = together(16, lambda i: start("echo", on_busy="reject"))
    assert all(isinstance(r, scoria.ScoriaConflict) for r in results), results
    assert {r.code for r in results} == {"session_busy"}
    assert Run.objects.count() == 1


@pytest.mark.usefixtures("require_postgres")
def test_sixteen_concurrent_starts_with_cancel_previous_leave_one_active_run():
    start("timer", step_input={"delay": 60})
    results = together(
        16, lambda i: start("timer", step_input={"delay": 60}, on_busy="cancel_previous")
    )
    assert all(isinstance(r, scoria.RunSummary) for r in results), results
    assert Run.objects.filter(status__in=["running", "waiting_for_approval"]).count() == 1
    assert Run.objects.filter(status="cancelled").count() == 16
