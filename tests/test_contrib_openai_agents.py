"""scoria_django.contrib.openai_agents: an OpenAI Agents SDK agent as a step, offline.

The model is tests.openai_agent_handlers.ScriptModel (an ``agents.Model`` answering from
the conversation it is sent); approvals, edited arguments, rejections, usage and the
exactly-once ledger are checked through scoria's own verbs and records.
"""

import asyncio
import importlib
import json
import sys
import time

import pytest
from agents import Agent, RunConfig, Runner, function_tool
from agents.items import ToolApprovalItem
from asgiref.sync import async_to_sync
from pydantic import BaseModel

import scoria_django as scoria
from scoria_django.contrib import openai_agents
from scoria_django.contrib.openai_agents import adapter, tools
from scoria_django.exceptions import HandlerNotFound, InvalidOption, InvalidPayload
from scoria_django.models import Approval, Run, Step
from scoria_django.runtime.recovery import recover
from tests import openai_agent_handlers as h

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR = {"actor_id": "author", "tenant_id": "acme", "session_id": "s"}
BOSS = {"actor_id": "boss", "tenant_id": "acme"}
HANDLERS = {
    "agent": h.assistant,
    "receipts": h.receipts,
    "two": h.two_tools,
    "handing_off": h.handing_off,
    "flaky": h.flaky,
    "bad_options": h.bad_approval_options,
    "not_a_mapping": h.not_a_mapping,
    "expiring": h.expiring,
    "asks_after_a_crash": h.asks_after_a_crash,
    "review": h.review,
    "concierge": h.concierge,
}


@pytest.fixture(autouse=True)
def _reset():
    for recorded in (h.RESPONSES, h.SENT, h.CONVERSATIONS):
        recorded.clear()
    h.FAILURES["after_tool"] = 0
    h.FAIL_ASKING["left"] = 0
    h.ON_OUTPUT_FAILS["left"] = 0


def start(kind="agent", input=None, **options):
    return scoria.start_run(
        AUTHOR,
        initial_step={
            "kind": kind,
            "role_id": "executor",
            "input": {"prompt": "hello"} if input is None else input,
        },
        handlers=HANDLERS,
        **options,
    )


def approvals_of(run_id):
    return list(Approval.objects.filter(run_id=run_id).order_by("position"))


def step_of(run_id):
    return Step.objects.filter(run_id=run_id).order_by("sequence").first()


def test_a_tool_needing_approval_pauses_the_run_with_its_call_as_an_approval():
    run = start()

    assert run.status == "waiting_for_approval"
    (approval,) = approvals_of(run.run_id)
    assert approval.status == "pending"
    assert approval.tool_name == "send_reply"
    assert approval.arguments == {"to": "a@example.com", "text": "hello"}
    assert approval.call_id == "call_1"
    assert approval.reason == "send_reply leaves the company"  # from approval(ctx, item)
    assert h.SENT == []  # nothing ran before the decision
    state = step_of(run.run_id).agent_state
    assert state["framework"] == "openai-agents"
    assert state["run_state"]["$schemaVersion"]  # the SDK's own RunState JSON
    assert state["run_state"]["context"]["context"] == {}  # the host's context is not kept


def test_approving_continues_the_same_conversation_and_runs_the_tool_once():
    run = start()
    done = scoria.approve(run.run_id, identity=BOSS)

    assert done.status == "completed"
    step = step_of(run.run_id)
    assert step.output == {"output": "final: sent to a@example.com: hello"}
    assert step.attempt == 1
    assert [(to, text) for to, text, _key in h.SENT] == [("a@example.com", "hello")]
    # The tool's key is stable: the step's idempotency key and the model's call id.
    assert h.SENT[0][2] == f"{run.run_id}:{step.pk}:call_1"
    first, second = h.CONVERSATIONS
    assert first == [{"role": "user", "content": "hello"}]
    # The continuation is the same conversation: the prompt, the model's call, its output.
    assert second[0] == {"role": "user", "content": "hello"}
    assert [item.get("type") for item in second[1:]] == ["function_call", "function_call_output"]
    assert second[1]["call_id"] == second[2]["call_id"] == "call_1"


def test_edited_arguments_reach_the_tool():
    run = start()
    scoria.approve(
        run.run_id, identity=BOSS, arguments={"to": "b@example.com", "text": "Kind regards"}
    )

    assert [(to, text) for to, text, _key in h.SENT] == [("b@example.com", "Kind regards")]
    assert step_of(run.run_id).output == {"output": "final: sent to b@example.com: Kind regards"}
    assert Run.objects.get(pk=run.run_id).status == "completed"


def test_edited_arguments_the_tool_refuses_are_reported_to_the_model_not_run():
    run = start()
    scoria.approve(run.run_id, identity=BOSS, arguments={"recipient": "b@example.com"})

    assert h.SENT == []
    # The tool validates the approver's arguments as it would the model's: the SDK's
    # failure message goes to the model, which answers; the run does not fail.
    assert step_of(run.run_id).output == {
        "output": "final: An error occurred while running the tool. Please try again."
    }


def test_rejecting_tells_the_model_which_answers_without_the_tool():
    run = start()
    done = scoria.reject(run.run_id, identity=BOSS, reason="not to that customer")

    assert done.status == "completed"
    assert h.SENT == []
    assert step_of(run.run_id).output == {
        "output": "final: The tool call was rejected by a reviewer, so it did not run. "
        "Reason: not to that customer"
    }
    assert approvals_of(run.run_id)[0].status == "rejected"


def test_an_expired_approval_is_a_denial_the_model_answers():
    run = start("expiring")
    time.sleep(0.2)
    recover()  # applies the due expiry: the step runs again with decision "expired"

    assert Run.objects.get(pk=run.run_id).status == "completed"
    assert h.SENT == []
    assert step_of(run.run_id).output == {
        "output": "final: The tool call was not approved in time, so it did not run. "
        "Reason: expired"
    }


def test_a_pause_lost_after_the_state_was_saved_is_asked_again_without_the_model():
    h.FAIL_ASKING["left"] = 1
    failed = start("asks_after_a_crash")
    assert failed.status == "failed"
    assert approvals_of(failed.run_id) == []
    assert len(h.RESPONSES) == 1

    waiting = scoria.resume_run(failed.run_id, identity=AUTHOR)  # the retry of a failed run

    assert waiting.status == "waiting_for_approval"
    assert len(h.RESPONSES) == 1  # asked from the saved state: no second model request
    (approval,) = approvals_of(failed.run_id)
    assert (approval.call_id, approval.arguments["to"]) == ("call_1", "g@example.com")
    done = scoria.approve(failed.run_id, identity=BOSS)
    assert done.status == "completed"
    assert [(to, text) for to, text, _key in h.SENT] == [("g@example.com", "hello")]


def test_two_calls_in_one_turn_are_two_approvals_decided_apart():
    run = start("two")
    send, delete = approvals_of(run.run_id)
    assert [(a.tool_name, a.call_id, a.arguments) for a in (send, delete)] == [
        ("send_reply", "call_1", {"to": "b@example.com", "text": "hello"}),
        ("delete_ticket", "call_2", {"ticket": 7}),
    ]

    waiting = scoria.approve(run.run_id, approval_id=send.pk, identity=BOSS)
    assert waiting.status == "waiting_for_approval"  # one still pending: the step waits
    assert h.SENT == []
    done = scoria.reject(run.run_id, approval_id=delete.pk, identity=BOSS)

    assert done.status == "completed"
    assert [(to, text) for to, text, _key in h.SENT] == [("b@example.com", "hello")]
    assert step_of(run.run_id).output == {
        "output": "final: sent to b@example.com: hello | The tool call was rejected by a "
        "reviewer, so it did not run."
    }


def test_approving_both_calls_of_a_turn_runs_both_and_keeps_both_outputs():
    run = start("two")
    done = scoria.approve(run.run_id, identity=BOSS)  # every pending approval

    assert done.status == "completed"
    assert sorted(to for to, _text, _key in h.SENT) == ["b@example.com", "delete"]
    step = step_of(run.run_id)
    assert step.output == {"output": "final: sent to b@example.com: hello | deleted 7"}
    # Each output was saved as its call finished, the later save keeping the earlier one.
    assert sorted(step.agent_state["tool_outputs"]) == ["call_1", "call_2"]


def test_the_host_context_is_rebuilt_for_each_run_and_never_stored():
    run = start("concierge", input={"order": 5})
    state = step_of(run.run_id).agent_state
    assert "sk-never-stored" not in json.dumps(state)
    assert approvals_of(run.run_id)[0].arguments == {"order": 5}

    scoria.approve(run.run_id, identity=BOSS)

    step = step_of(run.run_id)
    # The tool read the tenant from the context the continuation built again; the
    # structured final output (a pydantic model) is stored as JSON.
    assert step.output == {
        "output": {"summary": "{'order': 5, 'tenant': 'acme'}", "tenant": "from tool"}
    }
    assert step.agent_state["tool_outputs"]["call_1"]["output"] == {"order": 5, "tenant": "acme"}
    assert "sk-never-stored" not in json.dumps(step.agent_state)


def test_usage_is_the_sum_of_every_model_response_once():
    run = start()
    scoria.approve(run.run_id, identity=BOSS)

    assert len(h.RESPONSES) == 2  # the tool call, then the answer after the approval
    usage = scoria.get_run(run.run_id).usage
    assert usage["input_tokens"] == sum(tokens for tokens, _ in h.RESPONSES)
    assert usage["output_tokens"] == sum(tokens for _, tokens in h.RESPONSES)
    assert usage["requests"] == 2
    assert usage["model"] == "script-model"
    assert step_of(run.run_id).usage["requests"] == 2  # not the SDK's restored total again


def test_a_model_failure_after_the_tool_ran_retries_without_running_it_again():
    h.FAILURES["after_tool"] = 1
    run = start("flaky")
    scoria.approve(run.run_id, identity=BOSS)
    recover()  # the retry is due now (initial_interval=0): recovery enqueues it

    step = step_of(run.run_id)
    assert step.status == "completed", step.error
    assert step.attempt == 2
    assert [(to, text) for to, text, _key in h.SENT] == [("e@example.com", "hello")]
    assert step.output == {"output": "final: sent to e@example.com: hello"}
    # Attempt 1 saved the tool's output; attempt 2 answered the SDK from it.
    assert list(step.agent_state["tool_outputs"]) == ["call_1"]


def test_on_output_may_hand_off():
    run = start("handing_off")
    scoria.approve(run.run_id, identity=BOSS)

    steps = list(Step.objects.filter(run_id=run.run_id).order_by("sequence"))
    assert steps[0].output == {"handoff": "critic"}
    assert steps[1].kind == "review"
    assert steps[1].output == {"reviewed": "final: sent to c@example.com: hello"}
    # The parent's saved state stays on the parent: the child gets only what was projected.
    assert steps[0].agent_state["run_state"] is not None
    assert steps[1].projected_context == {"topic": "reply"}
    assert steps[1].agent_state is None
    handed = json.dumps([steps[1].handoff_input, steps[1].projected_context])
    assert "run_state" not in handed and "tool_outputs" not in handed


def test_a_run_without_a_prompt_fails_with_agent_prompt_missing():
    run = start(input={"question": "where is the prompt?"})

    step = step_of(run.run_id)
    assert run.status == "failed"
    assert step.error["reason"] == "agent_prompt_missing"
    assert "agent_handler(prompt=...)" in step.error["detail"]
    assert h.RESPONSES == []


def test_the_prompt_may_come_from_the_payload():
    run = scoria.start_run(
        AUTHOR,
        initial_step={"kind": "agent", "role_id": "executor"},
        runtime={"metadata": {"payload": {"message": "from the payload"}}},
        handlers=HANDLERS,
    )
    assert approvals_of(run.run_id)[0].arguments["text"] == "from the payload"


@pytest.mark.parametrize("kind", ["bad_options", "not_a_mapping"])
def test_bad_approval_options_fail_the_step_with_invalid_outcome(kind):
    run = start(kind)

    step = step_of(run.run_id)
    assert run.status == "failed"
    assert step.error["reason"] == "invalid_outcome"
    assert "approval(ctx, call) must return None or a dict of" in step.error["detail"]
    assert approvals_of(run.run_id) == []


def test_bad_arguments_to_agent_handler_are_invalid_option():
    with pytest.raises(InvalidOption) as error:
        openai_agents.agent_handler("not an agent")
    assert error.value.field == "agent"
    agent = Agent(name="x")
    with pytest.raises(InvalidOption):
        openai_agents.agent_handler(agent, prompt="hello")
    with pytest.raises(InvalidOption):
        openai_agents.agent_handler(agent, max_turns=0)
    with pytest.raises(InvalidOption):
        openai_agents.agent_handler(agent, run_config={"model": "x"})
    with pytest.raises(ValueError, match="timeout"):
        openai_agents.agent_handler(agent, timeout=-1)


def test_a_handler_not_assigned_at_module_level_cannot_be_registered():
    local = openai_agents.agent_handler(Agent(name="local"))
    with pytest.raises(HandlerNotFound):
        scoria.start_run(
            AUTHOR, initial_step={"kind": "agent", "role_id": "r"}, handlers={"agent": local}
        )


def test_step_context_outside_a_step_is_a_scoria_error():
    with pytest.raises(scoria.ScoriaError) as error:
        openai_agents.step_context()
    assert error.value.code == "no_step_running"


def test_a_run_config_factory_must_return_a_run_config(settings):
    bad = adapter.AgentHandler(
        Agent(name="x"),
        prompt=None,
        context=None,
        approval=None,
        on_output=None,
        run_config=lambda ctx: {"model": "gpt"},
        max_turns=None,
        module=__name__,
    )
    with pytest.raises(InvalidOption) as error:
        async_to_sync(bad._run_config)(ctx=None)
    assert error.value.field == "run_config"
    assert isinstance(async_to_sync(adapter.AgentHandler._run_config)(h.flaky, None), RunConfig)


def test_model_names_for_usage():
    assert adapter._model_name("gpt-4.1") == "gpt-4.1"
    assert adapter._model_name(h.ScriptModel([])) == "script-model"
    assert adapter._model_name(None)  # the SDK's default model name

    class Nameless(h.ScriptModel):
        def __init__(self):
            super().__init__([])
            self.model = None

    assert adapter._model_name(Nameless()) == "Nameless"


def test_a_state_another_adapter_saved_is_refused():
    refused = adapter._saved_state({"format": "scoria.pydantic_ai/1", "messages": []})
    assert refused == scoria.fail("invalid_agent_state", detail=refused.details["detail"])
    assert adapter._saved_state(None) is None


def test_approval_items_without_json_arguments_or_call_id():
    agent = Agent(name="x")
    raw = {"type": "function_call", "name": "t", "arguments": "not json", "call_id": "c9"}
    item = ToolApprovalItem(agent=agent, raw_item=raw, tool_name="t")
    assert adapter._arguments(item) == "not json"  # shown to the approver as the model sent it
    assert adapter._required_call_id(item) == "c9"
    no_id = ToolApprovalItem(agent=agent, raw_item={**raw, "call_id": ""}, tool_name="t")
    with pytest.raises(InvalidPayload, match="no call id"):
        adapter._required_call_id(no_id)


def test_recorded_outputs_are_json():
    class Text(BaseModel):
        text: str

    assert tools.recordable("plain") == "plain"
    assert tools.recordable({"a": [1, 2]}) == {"a": [1, 2]}
    assert tools.recordable(Text(text="hi")) == {"text": "hi"}
    assert tools.recordable(object).startswith("<class")
    assert tools.recordable(float("nan")) == "nan"


def test_outside_a_step_the_wrapped_tools_run_as_they_were():
    calls = []

    @function_tool
    def echo(word: str) -> str:
        """Echo a word."""
        calls.append(word)
        return word

    handler = openai_agents.agent_handler(Agent(name="echoer", tools=[echo]))
    config = RunConfig(model=h.ScriptModel([("echo", {"word": "hi"})]), tracing_disabled=True)
    result = asyncio.run(Runner.run(handler.run_agent, "say hi", run_config=config))

    assert calls == ["hi"]
    assert result.final_output == "final: hi"
    assert handler.agent.tools[0] is echo  # the host's agent is left as it was


def test_the_ledger_copy_follows_handoff_cycles():
    first = Agent(name="first")
    second = Agent(name="second", handoffs=[first])
    first.handoffs = [second]
    copy = tools.with_ledger(first)
    assert copy is not first
    assert copy.handoffs[0].handoffs[0] is copy
    assert first.handoffs[0] is second


def test_importing_without_the_sdk_says_what_to_install(monkeypatch):
    for name in [n for n in sys.modules if n.startswith("scoria_django.contrib.openai_agents")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "agents", None)
    with pytest.raises(ImportError, match=r"scoria_django\[openai-agents\]"):
        importlib.import_module("scoria_django.contrib.openai_agents")


def test_a_retry_after_on_output_failed_does_not_ask_the_model_again():
    h.ON_OUTPUT_FAILS["left"] = 1
    run = start("receipts")
    failed = scoria.approve(run.run_id, identity=BOSS)
    assert failed.status == "failed"
    asked = len(h.RESPONSES)
    usage = scoria.get_run(run.run_id).usage

    done = scoria.resume_run(run.run_id, identity=AUTHOR)

    assert done.status == "completed"
    assert len(h.RESPONSES) == asked  # the answer was read back from the step
    assert done.usage["requests"] == usage["requests"]
    # The structured output reaches on_output as its model again.
    assert step_of(run.run_id).output == {
        "summary": "{'order': 7, 'tenant': 'acme'}",
        "type": "Receipt",
    }


def test_edited_arguments_that_are_not_an_object_fail_the_step():
    run = start()
    (approval,) = approvals_of(run.run_id)
    done = scoria.approve(run.run_id, identity=BOSS, arguments=["not", "an", "object"])

    assert done.status == "failed"
    assert step_of(run.run_id).error["reason"] == "invalid_approval_arguments"
    assert h.SENT == []


CORRUPT_STATES = [
    {"framework": "openai-agents", "version": 1, "run_state": "xy"},
    {"framework": "openai-agents", "version": 1, "run_state": {"garbage": 1}},
    {"framework": "openai-agents", "version": 1, "run_state": None, "tool_outputs": [1, 2]},
    {"framework": "openai-agents", "version": 1, "decisions": {"c": "x"}},
    {"framework": "openai-agents", "version": 1, "tool_outputs": {"c": {"tool": "t"}}},
    {"framework": "openai-agents", "version": 1, "final_output": "done"},
    {"format": "scoria.pydantic_ai/1", "messages": []},
]


@pytest.mark.parametrize("state", CORRUPT_STATES)
def test_a_corrupt_agent_state_fails_the_step_with_invalid_agent_state(state):
    run = start()
    Step.objects.filter(run_id=run.run_id).update(agent_state=state)

    done = scoria.approve(run.run_id, identity=BOSS)

    assert done.status == "failed"
    error = step_of(run.run_id).error
    assert error["reason"] == "invalid_agent_state"
    assert "traceback" not in error
    assert h.SENT == []
