"""An OpenAI Agents SDK agent on real django-tasks-db workers (PostgreSQL): the conversation
continues in another process after the approval, and an approved tool runs exactly once
when the worker running the step is SIGKILLed after the tool ran."""

import json
import os

import pytest

import scoria_django as scoria
from scoria_django.models import Step

from .conftest import recover
from .harness import wait_until
from .runs import IDENTITY, events

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

HANDLERS = {"agent": "tests.openai_agent_handlers.assistant"}
# A fresh worker imports the handler module (the SDK takes seconds to import) after it
# claims the step and before it renews the lease: a lease longer than that import keeps the
# claim, so each step runs exactly the attempts the test expects.
LEASE = 8
APPROVER = scoria.identity(actor_id="boss", tenant_id="acme")


def _start(marks, **step_input):
    return scoria.start_run(
        IDENTITY,
        initial_step={
            "kind": "agent",
            "role_id": "worker",
            "input": {"prompt": "hello", "marks": str(marks), **step_input},
        },
        handlers=HANDLERS,
    )


def _status(run_id, status):
    return scoria.get_run(run_id).status == status


def _sent(marks):
    path = marks / "sent.log"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_an_approval_continues_the_conversation_in_another_worker_process(fleet, marks):
    workers = fleet("db", 1, SCORIA_LEASE_SECONDS=LEASE)
    run = _start(marks)
    wait_until(
        lambda: _status(run.run_id, "waiting_for_approval"),
        timeout=30,
        what="the agent to pause on its tool call",
    )
    paused_by = Step.objects.get(pk=run.current_step_id)
    assert paused_by.agent_state["run_state"]["current_turn"] == 1
    # A new process: nothing of the agent survives in memory, only the state on the step.
    workers.restart("w1")

    scoria.approve(run.run_id, identity=APPROVER, arguments={"to": "b@example.com", "text": "hi"})
    wait_until(
        lambda: _status(run.run_id, "completed"),
        timeout=30,
        what="a worker to continue the conversation after the approval",
    )

    step = Step.objects.get(pk=run.current_step_id)
    assert step.output == {"output": "final: sent to b@example.com: hi"}
    (sent,) = _sent(marks)
    assert (sent["to"], sent["text"]) == ("b@example.com", "hi")
    assert sent["pid"] not in (os.getpid(), None)
    assert sent["key"] == f"{run.run_id}:{step.pk}:call_1"
    assert [e.payload["attempt"] for e in events(step.pk, "step_claimed")] == [1, 1]
    usage = scoria.get_run(run.run_id).usage
    assert (usage["requests"], usage["model"]) == (2, "script-model")


def test_a_worker_killed_after_the_approved_tool_ran_does_not_run_it_again(fleet, marks):
    workers = fleet("db", 1, SCORIA_LEASE_SECONDS=LEASE, SCORIA_REQUEUE_AFTER=60)
    run = _start(marks, hang=True)
    wait_until(
        lambda: _status(run.run_id, "waiting_for_approval"),
        timeout=30,
        what="the agent to pause on its tool call",
    )
    scoria.approve(run.run_id, identity=APPROVER)
    # The model hangs when it is sent the tool's output: the tool ran, its output is saved.
    mark = marks / "after_tool"
    wait_until(mark.exists, timeout=30, what="the approved tool to run")
    pid = int(wait_until(mark.read_text, timeout=5, what="the pid in the mark"))
    assert len(_sent(marks)) == 1
    workers.kill(workers.name_of(pid))
    workers.restart_dead()

    wait_until(
        lambda: _status(run.run_id, "completed"),
        timeout=LEASE + 30,
        what="recovery to run the step again and complete it",
        every=0.3,
        tick=recover,
    )
    step = Step.objects.get(pk=run.current_step_id)
    assert step.attempt == 2
    assert step.output == {"output": "final: sent to a@example.com: hello"}
    (sent,) = _sent(marks)  # exactly once, though the step ran the continuation twice
    assert sent["pid"] == pid
    assert list(step.agent_state["tool_outputs"]) == ["call_1"]
    assert [e.payload["attempt"] for e in events(step.pk, "step_requeued")] == [2]
    # Usage: the first pause (1 request), the killed continuation's answer never came back,
    # the rerun's answer (1 request).
    assert scoria.get_run(run.run_id).usage["requests"] == 2
