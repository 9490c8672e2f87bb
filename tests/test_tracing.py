"""OpenTelemetry: the trace of the request that starts or resumes a run continues in the
worker that claims the step (the SDK's in-memory exporter records every span)."""

import threading

import pytest
from django.contrib.auth.models import User

pytest.importorskip("opentelemetry.sdk")

from opentelemetry import context as otel_context  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

import scoria_django as scoria  # noqa: E402
from scoria_django import tracing  # noqa: E402
from scoria_django.compat import DUMMY_BACKEND, IMMEDIATE_BACKEND  # noqa: E402
from scoria_django.models import Step  # noqa: E402
from scoria_django.runtime.executor import execute  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
EXPORTER = InMemorySpanExporter()


PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


class _SdkTrace:
    """scoria's tracing module pointed at this test's SDK provider, not the process-wide
    one: a global provider would make every later test record spans."""

    get_tracer = PROVIDER.get_tracer
    get_current_span = staticmethod(trace.get_current_span)


@pytest.fixture(autouse=True)
def _provider(monkeypatch):
    monkeypatch.setattr(tracing, "trace", _SdkTrace)


@pytest.fixture(autouse=True)
def _queued(settings):
    EXPORTER.clear()
    # A queuing backend: the step waits for a "worker" instead of running in the request.
    settings.TASKS = {
        "default": {"BACKEND": IMMEDIATE_BACKEND},
        "queue": {"BACKEND": DUMMY_BACKEND},
    }
    settings.SCORIA_TASK_BACKEND = "queue"


def worker(run_id, step_id):
    """Execute the step on another thread, in an empty context, as a worker would."""

    def run():
        token = otel_context.attach(otel_context.Context())
        try:
            execute(run_id, step_id)
        finally:
            otel_context.detach(token)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)


def spans(name):
    return [s for s in EXPORTER.get_finished_spans() if s.name == name]


def test_one_trace_spans_the_start_request_and_the_workers_handler(client):
    client.force_login(User.objects.create_user("alice", password="pw"))
    tracer = PROVIDER.get_tracer("tests")
    with tracer.start_as_current_span("POST /api/scoria/runs/") as request_span:
        started = client.post(
            "/api/scoria/runs/",
            {"initial_step": {"kind": "echo", "role_id": "writer"}},
            content_type="application/json",
        ).json()
    trace_id = request_span.get_span_context().trace_id
    step = Step.objects.get(run_id=started["run_id"])
    assert step.status == "queued" and step.trace_context["traceparent"]

    worker(started["run_id"], step.pk)

    assert Step.objects.get(pk=step.pk).status == "completed"
    (start,) = spans("scoria.start")
    (claim,) = spans("scoria.claim")
    (handler,) = spans("scoria.handler")
    (outcome,) = spans("scoria.outcome")
    for span in (start, claim, handler, outcome):
        assert span.context.trace_id == trace_id, span.name
    assert start.parent.span_id == request_span.get_span_context().span_id
    assert handler.attributes["scoria.run_id"] == started["run_id"]
    assert handler.attributes["scoria.step_id"] == str(step.pk)
    assert handler.attributes["scoria.kind"] == "echo"
    assert handler.attributes["scoria.attempt"] == 1


def test_a_resume_continues_the_resuming_requests_trace(settings):
    settings.SCORIA_TASK_BACKEND = "default"  # inline: the start runs the step at once
    waiting = scoria.start_run(None, initial_step={"kind": "approval", "role_id": "r"})
    settings.SCORIA_TASK_BACKEND = "queue"
    EXPORTER.clear()
    tracer = PROVIDER.get_tracer("tests")
    with tracer.start_as_current_span("POST resume") as resume_span:
        scoria.resume_run(waiting.run_id)
    step = Step.objects.get(run_id=waiting.run_id)
    worker(waiting.run_id, step.pk)
    (handler,) = spans("scoria.handler")
    assert handler.context.trace_id == resume_span.get_span_context().trace_id
