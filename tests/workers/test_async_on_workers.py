"""``async def`` handlers on real workers (PostgreSQL): a django-tasks-db worker and a
Celery worker (prefork pool, Redis broker) run them to completion, pause them for an
approval and continue them from the agent state they saved."""

import pytest

import scoria_django as scoria
from scoria_django.models import Event, Step

from .conftest import recover
from .harness import wait_until
from .runs import IDENTITY

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

HANDLERS = {
    "echo": "tests.async_handlers.echo",
    "approving": "tests.async_handlers.approving",
    "sleeper": "tests.async_handlers.sleeper",
}
TRANSPORTS = [
    pytest.param("db", id="django-tasks-db"),
    pytest.param("celery", id="celery", marks=pytest.mark.celery),
]


def _start(kind, step_input=None):
    return scoria.start_run(
        IDENTITY,
        initial_step={"kind": kind, "role_id": "worker", "input": step_input},
        handlers=HANDLERS,
    )


def _settled(run_id, status):
    return scoria.get_run(run_id).status == status


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_async_handler_completes_on_a_worker(fleet, transport):
    fleet(transport, 1)
    run = _start("echo", {"q": "from a worker"})
    wait_until(
        lambda: _settled(run.run_id, "completed"),
        timeout=30,
        what="the async step to complete on the worker",
        tick=recover,
    )
    step = Step.objects.get(run_id=run.run_id)
    assert step.output == {"echo": {"q": "from a worker"}, "heartbeat": True, "saved": True}
    assert step.agent_state == {"messages": ["hello"]}
    assert scoria.get_run(run.run_id).usage["models"] == {
        "test-model": {"input_tokens": 10, "output_tokens": 4, "requests": 1}
    }
    assert Event.objects.filter(run_id=run.run_id, event_type="progress").count() == 1


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_async_handler_pauses_and_continues_from_its_state_on_a_worker(fleet, transport):
    fleet(transport, 1)
    run = _start("approving")
    wait_until(
        lambda: _settled(run.run_id, "waiting_for_approval"),
        timeout=30,
        what="the async step to ask for approval",
        tick=recover,
    )
    scoria.approve(run.run_id, identity={"actor_id": "ops", "tenant_id": "acme"})
    wait_until(
        lambda: _settled(run.run_id, "completed"),
        timeout=30,
        what="the approved step to complete on the worker",
        tick=recover,
    )
    step = Step.objects.get(run_id=run.run_id)
    assert step.output == {"decision": "approved", "state_before": {"messages": ["asked"]}}
    assert step.agent_state == {"messages": ["asked", "sent"]}
    assert scoria.get_run(run.run_id).usage["input_tokens"] == 150


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_an_async_handler_past_its_timeout_fails_on_a_worker(fleet, transport):
    fleet(transport, 1)
    run = _start("sleeper")  # timeout 0.3 s, awaits 30 s unless cancelled
    wait_until(
        lambda: Event.objects.filter(run_id=run.run_id, event_type="late_result_discarded"),
        timeout=30,
        what="the timed-out handler's cancelled task to answer, too late",
        tick=recover,
    )
    step = Step.objects.get(run_id=run.run_id)
    assert (step.status, step.output) == ("failed", None)
    assert step.error == {"reason": "timeout", "timeout_seconds": 0.3}
