"""``async def`` handlers, the ctx twins, agent state and model usage (docs/agents.md), on
the inline backend and against a worker playing the claim by hand. Real workers:
tests/workers/test_async_on_workers.py."""

import threading
import time

import pytest
from django.core.checks import Error
from django.db import connections
from django.test import override_settings

import scoria_django as scoria
from scoria_django import checks
from scoria_django.compat import DUMMY_BACKEND
from scoria_django.exceptions import InvalidPayload
from scoria_django.models import Event, Run, Step
from scoria_django.runtime.context import StepContext
from scoria_django.runtime.executor import claim_step, execute
from scoria_django.runtime.recovery import recover
from scoria_django.usage import add_usage, priced, total_usage, usage_entry
from tests import async_handlers

pytestmark = pytest.mark.django_db(transaction=True)

WHO = {"actor_id": "u1", "tenant_id": "t1", "session_id": "s1"}
DUMMY_TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
PRICES = {"priced-model": {"input": 2.5, "output": 10.0}}


@pytest.fixture(autouse=True)
def _reset():
    async_handlers.reset()


def start(handler, *, kind="agent", step_input=None, **options):
    return scoria.start_run(
        WHO,
        initial_step={"kind": kind, "role_id": "executor", "input": step_input},
        handlers={kind: handler},
        **options,
    )


def start_queued(handler, **options):
    """Start without running the step: the test plays the worker."""
    with override_settings(TASKS=DUMMY_TASKS):
        return start(handler, **options)


def step_of(summary):
    return Step.objects.get(run_id=summary.run_id)


def events(run_id, event_type=None):
    rows = Event.objects.filter(run_id=run_id).order_by("sequence")
    if event_type is not None:
        rows = rows.filter(event_type=event_type)
    return [(e.event_type, e.payload) for e in rows]


def wait_for(predicate, seconds=10):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


def in_thread(target):
    """Run ``target`` on a thread that closes its own database connections."""

    def work():
        try:
            target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


# -- outcomes --------------------------------------------------------------------------


def test_an_async_handler_completes_inline_with_its_twins():
    summary = start(async_handlers.echo, step_input={"q": 1})
    assert summary.status == "completed"
    step = step_of(summary)
    assert step.output == {"echo": {"q": 1}, "heartbeat": True, "saved": True}
    assert step.agent_state == {"messages": ["hello"]}
    assert step.usage["input_tokens"] == 10
    progress = events(summary.run_id, "progress")
    assert [payload["message"] for _, payload in progress] == ["thinking"]
    assert progress[0][1]["data"] == {"step": 1}


def test_an_async_handler_waits_for_approval_and_continues_after_approve():
    waiting = start(async_handlers.approving)
    assert waiting.status == "waiting_for_approval"
    assert step_of(waiting).agent_state == {"messages": ["asked"]}

    done = scoria.approve(waiting.run_id, identity={"actor_id": "ops", "tenant_id": "t1"})
    assert done.status == "completed"
    step = step_of(done)
    assert step.output == {"decision": "approved", "state_before": {"messages": ["asked"]}}
    assert step.agent_state == {"messages": ["asked", "sent"]}
    # Usage adds up across the pause and the continuation of the same step.
    assert (step.usage["input_tokens"], step.usage["output_tokens"]) == (150, 25)
    assert step.usage["requests"] == 2
    assert step.usage["model"] == "model-b"
    assert done.usage["models"] == {
        "model-a": {"input_tokens": 100, "output_tokens": 20, "requests": 1},
        "model-b": {"input_tokens": 50, "output_tokens": 5, "requests": 1},
    }


def test_an_async_handler_follows_its_retry_policy():
    started = start(async_handlers.flaky)
    deadline = time.monotonic() + 10
    while Run.objects.get(pk=started.run_id).status == "running":
        assert time.monotonic() < deadline, "the retried run never settled"
        recover()  # wakes the due retries under the inline backend
        time.sleep(0.02)
    step = step_of(started)
    assert (step.status, step.attempt, step.output) == ("completed", 3, {"attempt": 3})
    assert async_handlers.SEEN == [1, 2, 3]
    scheduled = [payload for _, payload in events(started.run_id, "step_retry_scheduled")]
    assert [item["attempt"] for item in scheduled] == [2, 3]
    assert all(item["error"]["type"].endswith("RateLimited") for item in scheduled)


def test_an_async_handler_that_raises_fails_with_its_traceback():
    summary = start(async_handlers.raises)
    assert summary.status == "failed"
    error = step_of(summary).error
    assert (error["reason"], error["type"], error["message"]) == (
        "exception",
        "builtins.RuntimeError",
        "async boom",
    )
    assert "in raises" in error["traceback"]
    assert error["traceback"].rstrip().endswith("RuntimeError: async boom")


def test_a_sync_ctx_method_inside_an_async_handler_fails_with_synchronous_only_operation():
    summary = start(async_handlers.orm_without_twin)
    assert summary.status == "failed"
    error = step_of(summary).error
    assert error["type"] == "django.core.exceptions.SynchronousOnlyOperation"
    assert "async context" in error["message"]


def test_the_twins_answer_what_their_sync_methods_do():
    summary = start(async_handlers.twins)
    assert summary.status == "completed"
    step = step_of(summary)
    assert step.output == {
        "heartbeat": True,
        "entry": {"input_tokens": 7, "output_tokens": 3, "requests": 1, "model": "m1"},
        "saved": [True, True],
        "state": {"turn": 2},
    }
    assert step.agent_state == {"turn": 2}
    assert step.usage == {
        "input_tokens": 12,
        "output_tokens": 3,
        "requests": 3,
        "model": "m2",
        "models": {
            "m1": {"input_tokens": 7, "output_tokens": 3, "requests": 1},
            "m2": {"input_tokens": 5, "output_tokens": 0, "requests": 2},
        },
    }
    assert Run.objects.get(pk=summary.run_id).usage == step.usage
    assert [p["message"] for _, p in events(summary.run_id, "progress")] == ["step one"]


# -- timeouts and cancellation ------------------------------------------------------------


def test_an_async_handler_past_its_timeout_is_cancelled_and_its_late_result_discarded():
    summary = start(async_handlers.sleeper)  # @scoria.handler(timeout=0.3), awaits 30 s
    assert summary.status == "failed"
    step = step_of(summary)
    assert step.error == {"reason": "timeout", "timeout_seconds": 0.3}
    # Its task was cancelled (not left awaiting 30 s); it answered anyway, too late.
    wait_for(lambda: events(summary.run_id, "late_result_discarded"))
    assert "at" in async_handlers.CANCELLED
    assert events(summary.run_id, "late_result_discarded") == [
        ("late_result_discarded", {"attempt": 1, "reason": "timeout"})
    ]
    step.refresh_from_db()
    assert (step.status, step.output) == ("failed", None)


@override_settings(SCORIA_LEASE_SECONDS=0.6)
def test_cancel_run_cancels_an_awaiting_handler_within_one_lease_renewal():
    summary = start_queued(async_handlers.awaits_forever)
    worker = in_thread(lambda: execute(summary.run_id, summary.current_step_id))
    try:
        assert async_handlers.STARTED.wait(10)
        scoria.cancel_run(summary.run_id, reason="operator")
        cancelled_at = time.monotonic()
        worker.join(10)
    finally:
        worker.join(10)
    assert not worker.is_alive()
    # The lease is renewed every LEASE_SECONDS / 3 (0.2 s): the renewal after the cancel
    # finds the claim gone and cancels the task.
    assert async_handlers.CANCELLED["at"] - cancelled_at < 0.6
    step = step_of(summary)
    assert (step.status, step.output) == ("cancelled", None)
    assert events(summary.run_id)[-1] == (
        "late_result_discarded",
        {"attempt": 1, "reason": "claim_lost"},
    )


@override_settings(SCORIA_LEASE_SECONDS=0.6)
def test_a_lost_claim_its_own_heartbeat_saw_still_cancels_the_task():
    summary = start_queued(async_handlers.cancels_itself_then_awaits)
    worker = in_thread(lambda: execute(summary.run_id, summary.current_step_id))
    try:
        assert async_handlers.STARTED.wait(10)
        started_at = time.monotonic()
        worker.join(10)
    finally:
        worker.join(10)
    assert not worker.is_alive()
    assert async_handlers.SEEN == [False]  # the heartbeat told the handler first
    # The next renewal (every 0.2 s) cancels the task although the claim was already
    # known to be lost.
    assert async_handlers.CANCELLED["at"] - started_at < 0.6
    assert events(summary.run_id)[-1] == (
        "late_result_discarded",
        {"attempt": 1, "reason": "claim_lost"},
    )


# -- agent state -------------------------------------------------------------------------


def test_agent_state_is_written_only_under_the_claim():
    summary = start_queued(async_handlers.echo)
    claim = claim_step(summary.run_id, summary.current_step_id)
    ctx = StepContext(claim)
    assert ctx.agent_state is None
    assert ctx.save_agent_state({"messages": ["one"]}) is True
    assert ctx.agent_state == {"messages": ["one"]}
    scoria.cancel_run(summary.run_id)
    assert ctx.save_agent_state({"messages": ["overwritten"]}) is False
    assert ctx.agent_state == {"messages": ["one"]}
    assert step_of(summary).agent_state == {"messages": ["one"]}


@override_settings(SCORIA_LEASE_SECONDS=0.2, SCORIA_REQUEUE_AFTER=0)
def test_a_worker_that_lost_its_claim_cannot_overwrite_its_successors_state():
    summary = start_queued(async_handlers.echo)
    first = StepContext(claim_step(summary.run_id, summary.current_step_id))
    assert first.save_agent_state({"by": "first"}) is True
    time.sleep(0.3)  # the lease expires; recovery requeues the step for another worker
    with override_settings(TASKS=DUMMY_TASKS):
        recover()
    second = StepContext(claim_step(summary.run_id, summary.current_step_id))
    assert second.agent_state == {"by": "first"}  # the successor reads what was saved
    assert second.save_agent_state({"by": "second"}) is True
    assert first.save_agent_state({"by": "first, late"}) is False
    assert step_of(summary).agent_state == {"by": "second"}


@pytest.mark.parametrize("state", ["nan", "set", "big"])
def test_agent_state_that_is_not_storable_json_is_invalid_payload(state):
    summary = start(async_handlers.bad_state, step_input={"state": state})
    assert summary.status == "failed"
    step = step_of(summary)
    assert step.error["type"] == "scoria_django.exceptions.InvalidPayload"
    assert "agent_state" in step.error["message"]
    assert step.agent_state is None


# -- usage ---------------------------------------------------------------------------------


def test_usage_sums_per_step_run_and_model():
    summary = start(async_handlers.sync_usage)
    assert summary.status == "completed"
    step = step_of(summary)
    assert step.usage == {
        "input_tokens": 1800,
        "output_tokens": 300,
        "requests": 4,
        "model": "priced-model",
        "models": {
            "priced-model": {"input_tokens": 1500, "output_tokens": 300, "requests": 2},
            "free-model": {"input_tokens": 300, "output_tokens": 0, "requests": 2},
        },
    }
    assert step.agent_state == {"notes": ["one"]}
    # The summary the call returned, and every later read, carry the run's total.
    assert summary.usage == step.usage
    assert scoria.get_run(summary.run_id).usage == step.usage


def test_usage_of_several_steps_adds_up_on_the_run():
    first = start(async_handlers.sync_usage)
    second = start(async_handlers.twins)
    assert first.usage["requests"] == 4 and second.usage["requests"] == 3
    combined = total_usage([first.usage, second.usage])
    assert combined["input_tokens"] == 1812
    assert set(combined["models"]) == {"priced-model", "free-model", "m1", "m2"}
    assert total_usage([None, {}]) is None


def test_a_run_without_model_requests_has_no_usage():
    summary = start("tests.handlers.echo", kind="echo")
    assert summary.status == "completed"
    assert summary.usage is None
    assert step_of(summary).usage is None


@pytest.mark.parametrize(
    "bad",
    [
        {"input_tokens": -1},
        {"output_tokens": 1.5},
        {"requests": True},
        {"input_tokens": "12"},
        {"model": ""},
        {"model": "   "},
        {"model": "x" * 256},
        {"model": "<NUL>"},
        {"model": 42},
    ],
)
def test_bad_usage_is_invalid_payload_and_records_nothing(bad):
    with pytest.raises(InvalidPayload):
        usage_entry(**{k: "nul\x00" if v == "<NUL>" else v for k, v in bad.items()})
    summary = start(async_handlers.bad_usage, step_input=bad)
    assert summary.status == "failed"
    step = step_of(summary)
    assert step.error["type"] == "scoria_django.exceptions.InvalidPayload"
    assert step.usage is None
    assert Run.objects.get(pk=summary.run_id).usage is None


def test_usage_is_written_even_after_the_claim_is_lost():
    summary = start_queued(async_handlers.echo)
    ctx = StepContext(claim_step(summary.run_id, summary.current_step_id))
    ctx.record_usage(input_tokens=3, output_tokens=1, model="m")
    scoria.cancel_run(summary.run_id)
    assert ctx.heartbeat() is False
    # The request was made: its tokens count, whatever happened to the claim.
    ctx.record_usage(input_tokens=4, output_tokens=2, model="m")
    step = step_of(summary)
    assert (step.usage["input_tokens"], step.usage["output_tokens"], step.usage["requests"]) == (
        7,
        3,
        2,
    )
    assert Run.objects.get(pk=summary.run_id).usage == step.usage


# -- pricing -------------------------------------------------------------------------------


def test_priced_adds_cost_and_names_unpriced_models():
    usage = add_usage(None, usage_entry(input_tokens=1_000_000, output_tokens=0, model="a"))
    usage = add_usage(usage, usage_entry(input_tokens=0, output_tokens=500_000, model="a"))
    usage = add_usage(usage, usage_entry(input_tokens=10, output_tokens=0, model="b"))
    usage = add_usage(usage, usage_entry(input_tokens=0, output_tokens=0, model="idle"))
    assert priced(None) is None
    assert "cost" not in priced(usage)  # no prices configured: no cost at all
    with override_settings(SCORIA_MODEL_PRICES={"a": {"input": 2.0, "output": 8.0}}):
        shown = priced(usage)
    assert shown["cost"] == 6.0  # 1M input at 2.0 + 0.5M output at 8.0
    assert shown["unpriced_models"] == ["b"]  # "idle" used no tokens: nothing unpriced
    with override_settings(SCORIA_MODEL_PRICES={"a": {"input": 2.0}, "b": {"output": 1.0}}):
        shown = priced(usage)
    assert shown["cost"] == 2.0  # a missing side costs nothing
    assert "unpriced_models" not in shown


def test_cost_is_computed_at_read_so_a_price_change_applies_to_past_runs():
    summary = start(async_handlers.sync_usage)
    assert "cost" not in summary.usage
    with override_settings(SCORIA_MODEL_PRICES=PRICES):
        priced_run = scoria.get_run(summary.run_id).usage
        detail_step = scoria.get_run_detail(summary.run_id).steps[0]["usage"]
    # 1500 input at 2.5 and 300 output at 10.0, per million tokens.
    assert priced_run["cost"] == pytest.approx(0.00675)
    assert priced_run["unpriced_models"] == ["free-model"]
    assert detail_step["cost"] == priced_run["cost"]
    # Stored usage never holds a cost.
    assert "cost" not in Run.objects.get(pk=summary.run_id).usage


@pytest.mark.parametrize(
    "prices",
    [
        None,
        {},
        {"openai:gpt-4o": {"input": 2.5, "output": 10.0}},
        {"free": {"input": 0}, "only-out": {"output": 1}},
    ],
)
def test_e015_accepts_valid_prices(prices):
    with override_settings(SCORIA_MODEL_PRICES=prices):
        assert checks.check_model_prices() == []


@pytest.mark.parametrize(
    ("prices", "said"),
    [
        ([("gpt", {"input": 1})], "must be a dict"),
        ("gpt:1", "must be a dict"),
        ({1: {"input": 1}}, "must map a model name"),
        ({"gpt": 2.5}, "must map a model name"),
        ({"gpt": {"inputs": 1}}, "unknown keys ['inputs']"),
        ({"gpt": {"input": -1}}, "must be a number >= 0"),
        ({"gpt": {"output": True}}, "must be a number >= 0"),
        ({"gpt": {"input": "2.5"}}, "must be a number >= 0"),
    ],
)
def test_e015_refuses_prices_of_the_wrong_shape(prices, said):
    with override_settings(SCORIA_MODEL_PRICES=prices):
        errors = checks.check_model_prices()
    assert len(errors) == 1
    assert isinstance(errors[0], Error)
    assert errors[0].id == "scoria.E015"
    assert said in errors[0].msg
    assert "per million tokens" in errors[0].hint
