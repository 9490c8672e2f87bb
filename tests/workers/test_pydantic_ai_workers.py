"""The Pydantic AI adapter on real django-tasks-db workers (PostgreSQL): the conversation
continues in whichever process claims the step, and a worker SIGKILLed in the middle of
the agent's step does not make an approved tool run twice."""

import os
from pathlib import Path

import pytest

import scoria_django as scoria
from scoria_django.models import Approval, Step

from .conftest import recover
from .harness import wait_until

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

IDENTITY = scoria.identity(actor_id="author", tenant_id="acme", session_id="pai")
REVIEWER = scoria.identity(actor_id="reviewer", tenant_id="acme")
HANDLERS = {"assistant": "tests.pydantic_ai_handlers.assistant"}
REPLIES = [{"to": "a@example.com", "text": "one"}, {"to": "b@example.com", "text": "two"}]


def start(marks, **step_input):
    return scoria.start_run(
        IDENTITY,
        initial_step={
            "kind": "assistant",
            "role_id": "assistant",
            "input": {"prompt": "Answer", "replies": REPLIES, "marks": str(marks), **step_input},
        },
        handlers=HANDLERS,
    )


def status_of(run_id):
    return scoria.get_run(run_id).status


def sent(marks):
    """(idempotency key, recipient, pid) of every send_reply execution, in order."""
    path = Path(marks) / "sent.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [tuple(line.split()) for line in lines]


def test_a_decision_continues_the_conversation_in_another_worker_process(fleet, marks):
    workers = fleet("db", 1)
    run = start(marks)
    wait_until(
        lambda: status_of(run.run_id) == "waiting_for_approval",
        timeout=30,
        what="the agent to pause on its two tool calls",
    )
    first_pid = workers.procs["w1"].pid
    second_pid = workers.restart("w1").pid  # a new process: nothing of the first in memory
    assert second_pid != first_pid
    first, second = Approval.objects.filter(run_id=run.run_id).order_by("position")
    assert first.arguments == REPLIES[0] and second.arguments == REPLIES[1]

    scoria.approve(
        run.run_id,
        approval_id=first.pk,
        identity=REVIEWER,
        arguments={"to": "a@example.org", "text": "one"},
    )
    scoria.reject(run.run_id, approval_id=second.pk, identity=REVIEWER, reason="duplicate")
    wait_until(
        lambda: status_of(run.run_id) == "completed",
        timeout=30,
        what="the second worker to finish the conversation",
    )

    executions = sent(marks)
    assert [(to, int(pid)) for _, to, pid in executions] == [("a@example.org", second_pid)]
    output = Step.objects.get(run_id=run.run_id).output["output"]
    assert "sent to a@example.org" in output and "duplicate" in output
    usage = scoria.get_run(run.run_id).usage
    assert (usage["input_tokens"], usage["output_tokens"], usage["requests"]) == (320, 45, 2)


@pytest.mark.parametrize(
    "crash",
    [
        # After both tools ran and their results were saved, before the final answer.
        {"crash_before_answer": True},
        # Between the two sequential tool calls: the first is in the step's ledger.
        {"crash_before_send_to": "b@example.com"},
    ],
    ids=["before-answer", "between-tools"],
)
def test_a_worker_killed_after_an_approved_tool_ran_does_not_run_it_again(fleet, marks, crash):
    workers = fleet("db", 1, SCORIA_REQUEUE_AFTER=60)
    run = start(marks, **crash)
    wait_until(
        lambda: status_of(run.run_id) == "waiting_for_approval",
        timeout=30,
        what="the agent to pause",
    )
    killed_pid = workers.procs["w1"].pid

    scoria.approve(run.run_id, identity=REVIEWER)  # both calls
    wait_until(
        lambda: workers.procs["w1"].poll() is not None,
        timeout=30,
        what="the worker to die mid-step",
    )
    workers.restart_dead()
    wait_until(
        lambda: status_of(run.run_id) == "completed",
        timeout=60,
        what="recovery to rerun the step to completion",
        every=0.3,
        tick=recover,
    )

    step = Step.objects.get(run_id=run.run_id)
    assert step.attempt == 2  # the killed attempt, then recovery's
    executions = sent(marks)
    assert sorted(to for _, to, _ in executions) == ["a@example.com", "b@example.com"]
    a_pid = next(int(pid) for _, to, pid in executions if to == "a@example.com")
    assert a_pid == killed_pid  # it ran before the kill, and never again
    assert "sent to a@example.com" in step.output["output"]
    assert "sent to b@example.com" in step.output["output"]


def test_a_kill_inside_the_tool_after_its_side_effect_is_the_window(fleet, marks):
    """The one crash the ledger cannot cover: the tool's effect happened, its result was not
    saved yet. The tool runs again, with the same tool_call_key both times, which is
    what the system it writes to must deduplicate on."""
    workers = fleet("db", 1, SCORIA_REQUEUE_AFTER=60)
    run = start(marks, crash_after_send_to="a@example.com")
    wait_until(lambda: status_of(run.run_id) == "waiting_for_approval", timeout=30, what="pause")

    scoria.approve(run.run_id, identity=REVIEWER)
    wait_until(lambda: workers.procs["w1"].poll() is not None, timeout=30, what="the kill")
    workers.restart_dead()
    wait_until(
        lambda: status_of(run.run_id) == "completed",
        timeout=60,
        what="recovery to rerun the step",
        every=0.3,
        tick=recover,
    )

    keys = [key for key, to, _ in sent(marks) if to == "a@example.com"]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert keys[0].startswith(f"{run.run_id}:")
    assert os.path.exists(Path(marks) / "crash-after-a@example.com")
