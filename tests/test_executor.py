"""Every handler outcome (docs/handlers.md, docs/execution.md), ctx, timeouts and claims."""

import threading
import time

import pytest
from django.db import connections
from django.test import override_settings

import scoria_django as scoria
from scoria_django.compat import DUMMY_BACKEND, default_task_backend
from scoria_django.models import Event, Run, Step
from scoria_django.runtime.context import StepContext
from scoria_django.runtime.executor import claim_step, execute, invoke, record_outcome
from tests import handlers, runtime_handlers

DUMMY_TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _reset():
    runtime_handlers.reset()
    yield
    runtime_handlers.RELEASE.set()  # never leave a handler thread blocked


def start(handler, *, kind="work", step_input=None, **options):
    return scoria.start_run(
        scoria.identity(actor_id="u1", tenant_id="t1", session_id="s1"),
        initial_step={"kind": kind, "role_id": "executor", "input": step_input},
        handlers={kind: handler},
        **options,
    )


def start_queued(handler, **options):
    """Start without running the step: the test plays the worker."""
    with override_settings(TASKS=DUMMY_TASKS):
        summary = start(handler, **options)
        assert len(default_task_backend.results) == 1
    return summary


def only_step(summary):
    return Step.objects.get(run_id=summary.run_id)


def events(summary):
    return [(e["event_type"], e["payload"]) for e in scoria.get_run_detail(summary.run_id).events]


def event_types(summary):
    return [event_type for event_type, _ in events(summary)]


def wait_for(predicate, seconds=10):
    """Wait for something another thread does; fails the test if it never happens."""
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.02)


# -- completing ------------------------------------------------------------------


def test_a_dict_is_the_output_and_the_run_completes():
    summary = start(handlers.echo, step_input={"q": 1})
    assert summary.status == "completed"
    assert summary.completed_at is not None
    step = only_step(summary)
    assert step.status == "completed"
    assert step.output == {"echo": {"q": 1}, "payload": None}
    assert Run.objects.get(pk=summary.run_id).output == step.output
    assert event_types(summary) == [
        "run_started",
        "step_queued",
        "step_claimed",
        "step_completed",
        "run_completed",
    ]


@pytest.mark.parametrize(
    ("handler", "output"),
    [
        (handlers.succeed, {"result": "ok"}),
        (runtime_handlers.returns_list, {"result": [1, "two"]}),
        (runtime_handlers.returns_none, {"result": None}),
    ],
)
def test_a_value_that_is_not_a_dict_is_wrapped(handler, output):
    summary = start(handler)
    assert summary.status == "completed"
    assert only_step(summary).output == output


def test_complete_with_next_steps_runs_them_in_the_same_run():
    summary = scoria.start_run(
        None,
        initial_step={"kind": "chain", "role_id": "planner"},
        handlers={"chain": handlers.chain, "echo": handlers.echo},
    )
    assert summary.status == "completed"
    steps = list(Step.objects.filter(run_id=summary.run_id).order_by("sequence"))
    assert [(s.sequence, s.kind, s.status, s.role_id) for s in steps] == [
        (1, "chain", "completed", "planner"),
        (2, "chain", "completed", "planner"),
        (3, "echo", "completed", "planner"),
    ]
    assert steps[2].input == {"n": 3}
    assert summary.current_step_id == str(steps[2].pk)
    assert Run.objects.get(pk=summary.run_id).output == steps[2].output


def test_fan_out_completes_only_when_every_step_is_terminal():
    summary = scoria.start_run(
        None,
        initial_step={"kind": "fan", "role_id": "planner"},
        handlers={"fan": runtime_handlers.fan_out, "counting": runtime_handlers.counting},
    )
    assert summary.status == "completed"
    children = Step.objects.filter(run_id=summary.run_id, kind="counting")
    assert children.count() == 3
    assert set(children.values_list("status", flat=True)) == {"completed"}
    assert sorted(runtime_handlers.CALLS.values()) == [1, 1, 1]
    assert event_types(summary).count("run_completed") == 1


def test_a_next_step_without_a_handler_stays_queued_and_the_run_running():
    summary = start(runtime_handlers.no_handler_next)
    assert summary.status == "running"
    child = Step.objects.get(run_id=summary.run_id, sequence=2)
    assert (child.kind, child.role_id, child.status) == ("host_driven", "host", "queued")


def test_a_malformed_next_step_fails_the_step():
    summary = start(runtime_handlers.bad_next_steps)
    assert summary.status == "failed"
    assert only_step(summary).error["reason"] == "invalid_outcome"


# -- approval ----------------------------------------------------------------------


def test_wait_for_approval_stores_the_request_on_the_step():
    summary = start(handlers.wait_for_approval)
    assert summary.status == "waiting_for_approval"
    assert summary.awaiting_approval is True
    step = only_step(summary)
    assert step.status == "waiting_for_approval"
    assert step.completed_at is None
    request = step.approval_request
    assert (request["tool_name"], request["arguments"], request["reason"]) == (
        "send_email",
        {"to": "a@example.com"},
        "external",
    )
    assert "requested_at" in request
    waited = [payload for kind, payload in events(summary) if kind == "step_waiting_for_approval"]
    assert waited[0]["approval_request"] == request


# -- failing -------------------------------------------------------------------------


def test_fail_records_the_reason_and_details_and_fails_the_run():
    summary = start(handlers.failing)
    assert summary.status == "failed"
    error = {"reason": "quota_exceeded", "limit": 3}
    assert only_step(summary).error == error
    assert Run.objects.get(pk=summary.run_id).error == error
    assert event_types(summary)[-2:] == ["step_failed", "run_failed"]


def test_a_raising_handler_records_type_message_and_traceback_never_locals():
    summary = start(runtime_handlers.secret_raiser)
    assert summary.status == "failed"
    error = only_step(summary).error
    assert {key: error[key] for key in ("reason", "type", "message")} == {
        "reason": "exception",
        "type": "builtins.PermissionError",
        "message": "upstream refused 19-char key",
    }
    assert error["traceback"].startswith("Traceback (most recent call last):")
    assert "in secret_raiser" in error["traceback"]
    assert error["traceback"].rstrip().endswith("PermissionError: upstream refused 19-char key")
    stored = str(list(Event.objects.values_list("payload", flat=True))) + str(error)
    assert "sk-live-do-not-leak" not in stored


def test_an_exception_message_is_made_storable():
    summary = start(runtime_handlers.nul_raiser)
    error = only_step(summary).error
    assert error["type"] == "builtins.ValueError"
    assert "\x00" not in error["message"]
    assert error["message"].startswith("badbyte")


def test_an_import_error_inside_a_handler_is_an_exception_not_a_missing_handler():
    summary = start(runtime_handlers.import_failure)
    assert only_step(summary).error["reason"] == "exception"
    assert only_step(summary).error["type"] == "builtins.ModuleNotFoundError"


def test_a_stored_handler_that_stopped_importing_fails_with_handler_not_found():
    summary = start_queued(handlers.echo)
    Run.objects.filter(pk=summary.run_id).update(handlers={"work": "tests.handlers.gone"})
    execute(summary.run_id, summary.current_step_id)
    step = only_step(summary)
    assert step.status == "failed"
    assert step.error["reason"] == "handler_not_found"
    assert scoria.get_run(summary.run_id).status == "failed"


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("tests.handlerz.echo", "no module named 'tests.handlerz' (is the path"),
        (
            "tests.broken_handlers.handler",
            "module 'tests.broken_handlers' fails to import: ModuleNotFoundError: "
            "No module named 'scoria_test_missing_dependency'",
        ),
        (
            "tests.raising_handlers.handler",
            "module 'tests.raising_handlers' fails to import: RuntimeError: "
            "ACME_API_URL is not configured",
        ),
    ],
)
def test_handler_not_found_tells_a_typo_from_a_module_that_fails_to_import(path, detail):
    summary = start_queued(handlers.echo)
    Run.objects.filter(pk=summary.run_id).update(handlers={"work": path})
    execute(summary.run_id, summary.current_step_id)
    error = only_step(summary).error
    assert error["reason"] == "handler_not_found"
    assert error["path"] == path
    assert error["detail"].startswith(detail)
    assert scoria.get_run(summary.run_id).status == "failed"


def test_a_handler_exception_message_is_stored_redacted():
    summary = start(runtime_handlers.raises_with_a_dsn)
    error = only_step(summary).error
    assert error["reason"] == "exception"
    assert "s3cr3t-pw" not in error["message"]
    assert "postgres://app:[redacted]@db/prod" in error["message"]


@pytest.mark.parametrize(
    "handler",
    [runtime_handlers.returns_bytes, runtime_handlers.returns_set, runtime_handlers.returns_nan],
)
def test_output_that_is_not_json_fails_the_step(handler):
    summary = start(handler)
    assert summary.status == "failed"
    error = only_step(summary).error
    assert error["reason"] == "output_not_json"
    assert Run.objects.get(pk=summary.run_id).error == error


def test_a_failure_cascades_to_the_other_unfinished_steps():
    summary = scoria.start_run(
        None,
        initial_step={"kind": "fan", "role_id": "planner"},
        handlers={"fan": runtime_handlers.fan_out, "counting": handlers.boom},
    )
    assert summary.status == "failed"
    statuses = dict(Step.objects.filter(run_id=summary.run_id).values_list("sequence", "status"))
    assert statuses == {1: "completed", 2: "failed", 3: "failed", 4: "failed"}
    assert event_types(summary).count("run_failed") == 1


# -- timeouts ----------------------------------------------------------------------


def test_a_handler_past_its_timeout_fails_and_its_late_result_is_discarded():
    summary = start(runtime_handlers.blocking, timeout=0.2)
    assert summary.status == "failed"
    step = only_step(summary)
    assert step.error == {"reason": "timeout", "timeout_seconds": 0.2}
    assert step.output is None
    runtime_handlers.RELEASE.set()
    wait_for(lambda: "late_result_discarded" in event_types(summary))
    late = [payload for kind, payload in events(summary) if kind == "late_result_discarded"]
    assert late == [{"attempt": 1, "reason": "timeout"}]
    assert only_step(summary).status == "failed"
    assert only_step(summary).output is None


@override_settings(SCORIA_STEP_TIMEOUT=0.2)
def test_the_default_timeout_is_the_setting():
    summary = start(runtime_handlers.blocking)
    assert only_step(summary).error["reason"] == "timeout"
    runtime_handlers.RELEASE.set()  # let the abandoned handler end before the flush
    wait_for(lambda: "late_result_discarded" in event_types(summary))


# -- ctx -------------------------------------------------------------------------------


def test_ctx_exposes_the_contract():
    summary = start(runtime_handlers.probe, step_input={"task": "t"})
    step = only_step(summary)
    seen = runtime_handlers.SEEN[0]
    assert seen == {
        "run_id": summary.run_id,
        "run_status": "running",
        "step_id": str(step.pk),
        "step_status": "running",
        "input": {"task": "t"},
        "handoff_input": None,
        "projected_context": None,
        "identity": {"actor_id": "u1", "tenant_id": "t1", "session_id": "s1", "metadata": {}},
        "attempt": 1,
        "approval": None,
        "resume_input": None,
        "idempotency_key": f"{summary.run_id}:{step.pk}",
        "heartbeat": True,
    }
    assert step.output == seen


def test_ctx_run_and_step_are_read_only():
    summary = start_queued(runtime_handlers.counting)
    claim = claim_step(summary.run_id, summary.current_step_id)
    ctx = StepContext(claim)
    with pytest.raises(TypeError):
        ctx.step["status"] = "completed"
    with pytest.raises(AttributeError):
        ctx.run.status = "completed"
    with pytest.raises(AttributeError):
        ctx.attempt_count = 3


def test_heartbeat_renews_the_lease_and_reports_a_lost_claim():
    summary = start_queued(runtime_handlers.counting)
    claim = claim_step(summary.run_id, summary.current_step_id)
    Step.objects.filter(pk=claim.step.pk).update(lease_expires_at=None)
    ctx = StepContext(claim)
    assert ctx.heartbeat() is True
    assert Step.objects.get(pk=claim.step.pk).lease_expires_at is not None
    scoria.cancel_run(summary.run_id)
    assert ctx.heartbeat() is False


# -- claims ----------------------------------------------------------------------------


def test_a_claim_moves_the_step_to_running_with_a_token_and_a_lease():
    summary = start_queued(runtime_handlers.counting)
    claim = claim_step(summary.run_id, summary.current_step_id)
    step = only_step(summary)
    assert step.status == "running"
    assert step.claim_token == claim.token
    assert step.lease_expires_at is not None
    assert step.started_at is not None
    assert claim_step(summary.run_id, summary.current_step_id) is None  # already claimed


def test_a_second_delivery_after_completion_changes_nothing():
    summary = start_queued(runtime_handlers.counting)
    execute(summary.run_id, summary.current_step_id)
    before = event_types(summary)
    execute(summary.run_id, summary.current_step_id)
    assert event_types(summary) == before
    assert list(runtime_handlers.CALLS.values()) == [1]


@pytest.mark.parametrize(
    ("run_id", "step_id"),
    [("not-a-uuid", "x"), (None, None), ("00000000-0000-0000-0000-000000000000", "nope")],
)
def test_a_task_with_unknown_or_malformed_ids_does_nothing(run_id, step_id):
    summary = start_queued(runtime_handlers.counting)
    execute(run_id, step_id)
    execute(summary.run_id, "not-a-uuid")
    assert only_step(summary).status == "queued"


def test_a_result_recorded_after_cancel_is_discarded():
    summary = start_queued(runtime_handlers.counting)
    claim = claim_step(summary.run_id, summary.current_step_id)
    result = invoke(claim)
    scoria.cancel_run(summary.run_id, reason="operator")
    assert record_outcome(claim, result) is None
    step = only_step(summary)
    assert (step.status, step.output, step.cancel_reason) == ("cancelled", None, "operator")
    assert event_types(summary)[-1] == "late_result_discarded"
    assert events(summary)[-1][1] == {"attempt": 1, "reason": "claim_lost"}


def test_a_cancel_while_the_handler_runs_discards_its_result():
    summary = start_queued(runtime_handlers.blocking)

    def work():
        try:
            execute(summary.run_id, summary.current_step_id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert runtime_handlers.STARTED.wait(10)
        scoria.cancel_run(summary.run_id)
    finally:
        runtime_handlers.RELEASE.set()
        worker.join(10)
    assert not worker.is_alive()
    assert only_step(summary).status == "cancelled"
    assert scoria.get_run(summary.run_id).status == "cancelled"
    assert event_types(summary)[-1] == "late_result_discarded"


@pytest.mark.parametrize(
    "handler", [runtime_handlers.blank_approval, runtime_handlers.blank_failure]
)
def test_a_malformed_outcome_fails_with_invalid_outcome(handler):
    summary = start(handler)
    assert summary.status == "failed"
    assert only_step(summary).error["reason"] == "invalid_outcome"


def test_ctx_payload_is_the_guide_payload():
    summary = start(
        runtime_handlers.payload_echo,
        runtime={"metadata": {"payload": {"prompt": "hello"}, "channel": "web"}},
    )
    assert only_step(summary).output == {
        "payload": {"prompt": "hello"},
        "metadata_keys": ["channel", "identity", "payload", "runtime"],
    }


def host_fails_a_sibling(ctx):
    """A handler whose host drives a second step itself and fails it."""
    from scoria_django.models import Step

    sibling = Step.objects.start(ctx.run.run_id, kind="host_side")
    Step.objects.fail(ctx.run.run_id, sibling.pk, {"reason": "host gave up"})
    return {"done": True}


def test_a_run_with_a_failed_step_is_not_completed():
    """Completed only when every step is terminal and none failed."""
    summary = scoria.start_run(
        {"session_id": "s-failed-sibling"},
        initial_step={"kind": "sibling", "role_id": "executor"},
        handlers={"sibling": "tests.test_executor.host_fails_a_sibling"},
    )

    assert summary.status == "running"
    statuses = sorted(scoria.get_run_detail(summary.run_id).steps, key=lambda s: s["sequence"])
    assert [step["status"] for step in statuses] == ["completed", "failed"]
