"""scoria_django.contrib.pydantic_ai: a Pydantic AI agent as a step, offline (FunctionModel).

Tool calls that need approval pause the run (one Approval each); decisions map to Pydantic
AI's ToolApproved / ToolDenied; the conversation continues from the history on the step;
every model request's usage is recorded once; a tool that ran is not run again on a rerun.
"""

import json
from types import SimpleNamespace

import pytest
from pydantic_ai import Agent, ModelMessagesTypeAdapter
from pydantic_ai.messages import ModelResponse

import scoria_django as scoria
from scoria_django.contrib.pydantic_ai import (
    STATE_FORMAT,
    agent_handler,
    step_context,
    tool_call_key,
)
from scoria_django.exceptions import InvalidOption
from scoria_django.models import Approval, Handoff, Run, Step
from tests import pydantic_ai_handlers as h

pytestmark = pytest.mark.django_db(transaction=True)

IDENTITY = {"actor_id": "author", "tenant_id": "acme", "session_id": "s"}
REVIEWER = scoria.identity(actor_id="reviewer", tenant_id="acme")
HANDLERS = {
    "assistant": "tests.pydantic_ai_handlers.assistant",
    "gated": "tests.pydantic_ai_handlers.gated_assistant",
    "structured": "tests.pydantic_ai_handlers.structured",
    "handing_off": "tests.pydantic_ai_handlers.handing_off",
    "bad_options": "tests.pydantic_ai_handlers.bad_options",
    "flaky_options": "tests.pydantic_ai_handlers.flaky_options",
    "reviewing": "tests.pydantic_ai_handlers.reviewing",
    "counting": "tests.pydantic_ai_handlers.counting",
    "cancelling": "tests.pydantic_ai_handlers.cancelling",
    "ticking": "tests.pydantic_ai_handlers.ticking",
}


@pytest.fixture(autouse=True)
def _reset():
    h.SENT.clear()
    h.SEEN.clear()
    h.TICKED.clear()


def start(replies=(), kind="assistant", **step_input):
    return scoria.start_run(
        IDENTITY,
        initial_step={
            "kind": kind,
            "role_id": "assistant",
            "input": {"prompt": "Answer the customer", "replies": list(replies), **step_input},
        },
        handlers=HANDLERS,
    )


def approvals_of(run_id):
    return list(Approval.objects.filter(run_id=run_id).order_by("position"))


def step_of(run_id):
    return Step.objects.get(run_id=run_id, sequence=1)


def history_of(run_id):
    return ModelMessagesTypeAdapter.validate_python(step_of(run_id).agent_state["messages"])


# -- pausing --------------------------------------------------------------------------


def test_a_tool_that_needs_approval_pauses_the_run_with_its_arguments():
    run = start([{"to": "ann@example.com", "text": "Refund sent"}])

    assert run.status == "waiting_for_approval"
    (approval,) = approvals_of(run.run_id)
    assert approval.status == "pending"
    assert approval.tool_name == "send_reply"
    assert approval.arguments == {"to": "ann@example.com", "text": "Refund sent"}
    assert h.SENT == []  # nothing ran before the decision
    state = step_of(run.run_id).agent_state
    assert state["format"] == STATE_FORMAT
    assert [w["call_id"] for w in state["waiting"]] == [approval.call_id]
    # The history is Pydantic AI's own JSON, and ends with the model's tool call.
    last = history_of(run.run_id)[-1]
    assert isinstance(last, ModelResponse)
    assert last.parts[0].tool_call_id == approval.call_id


def test_one_approval_per_tool_call_with_the_options_of_approval():
    run = start(
        [{"to": "a@example.com", "text": "one"}, {"to": "b@example.com", "text": "two"}],
        kind="gated",
    )

    first, second = approvals_of(run.run_id)
    assert [first.arguments["to"], second.arguments["to"]] == ["a@example.com", "b@example.com"]
    assert first.call_id != second.call_id
    assert first.reason == "send to a@example.com"
    assert second.groups == ["support"]


def test_the_prompt_may_come_from_the_payload():
    run = scoria.start_run(
        IDENTITY,
        initial_step={"kind": "assistant", "role_id": "assistant"},
        payload={"message": "Where is my parcel?"},
        handlers=HANDLERS,
    )

    assert run.status == "completed"
    assert step_of(run.run_id).output == {"output": "No tool needed for: Where is my parcel?"}


def test_the_handler_carries_its_timeout():
    from scoria_django.policies import timeout_of

    assert timeout_of(h.gated_assistant) == 20
    assert timeout_of(h.assistant) is None


def test_no_tool_call_completes_with_the_answer():
    run = start(prompt="Hello")

    assert run.status == "completed"
    assert step_of(run.run_id).output == {"output": "No tool needed for: Hello"}
    assert approvals_of(run.run_id) == []


# -- deciding -------------------------------------------------------------------------


def test_approving_runs_the_tool_once_and_completes_with_the_final_answer():
    run = start([{"to": "ann@example.com", "text": "Refund sent"}])
    (approval,) = approvals_of(run.run_id)

    done = scoria.approve(run.run_id, approval_id=approval.pk, identity=REVIEWER)

    assert done.status == "completed"
    assert [(to, text) for _, to, text in h.SENT] == [("ann@example.com", "Refund sent")]
    assert h.SENT[0][0] == approval.call_id
    assert step_of(run.run_id).output == {"output": "Done. send_reply: sent to ann@example.com"}
    # The same conversation went on: one user prompt, the call, its result, the answer.
    history = history_of(run.run_id)
    assert [m.kind for m in history] == ["request", "response", "request", "response"]
    assert step_of(run.run_id).agent_state["waiting"] == []


def test_edited_arguments_reach_the_tool():
    run = start([{"to": "ann@example.com", "text": "Refund sent"}])

    scoria.approve(
        run.run_id,
        identity=REVIEWER,
        arguments={"to": "ann@example.org", "text": "Your refund was sent."},
        comment="fixed the address",
    )

    assert [(to, text) for _, to, text in h.SENT] == [("ann@example.org", "Your refund was sent.")]
    assert scoria.get_run(run.run_id).status == "completed"
    assert "sent to ann@example.org" in step_of(run.run_id).output["output"]


def test_rejecting_tells_the_model_and_the_tool_never_runs():
    run = start([{"to": "ann@example.com", "text": "Refund sent"}])

    done = scoria.reject(run.run_id, identity=REVIEWER, reason="wrong customer")

    assert done.status == "completed"  # a rejection does not fail the run
    assert h.SENT == []
    ((tool, content, outcome),) = h.SEEN[-1]
    assert (tool, outcome) == ("send_reply", "denied")
    assert "rejected" in content and "wrong customer" in content
    assert "wrong customer" in step_of(run.run_id).output["output"]


def test_two_calls_in_one_turn_approve_one_reject_the_other():
    run = start([{"to": "a@example.com", "text": "one"}, {"to": "b@example.com", "text": "two"}])
    first, second = approvals_of(run.run_id)

    still = scoria.approve(run.run_id, approval_id=first.pk, identity=REVIEWER)
    assert still.status == "waiting_for_approval"  # one decision of two: not yet
    assert h.SENT == []
    done = scoria.reject(run.run_id, approval_id=second.pk, identity=REVIEWER, reason="dup")

    assert done.status == "completed"
    assert [(call_id, to) for call_id, to, _ in h.SENT] == [(first.call_id, "a@example.com")]
    seen = sorted(
        "denied" if outcome == "denied" else content for _, content, outcome in h.SEEN[-1]
    )
    assert seen == ["denied", "sent to a@example.com"]


def test_the_model_may_ask_again_after_a_decision():
    run = start(
        [{"to": "a@example.com", "text": "one"}],
        follow_up={"to": "a@example.com", "text": "and a coupon"},
    )
    scoria.approve(run.run_id, identity=REVIEWER)

    again = scoria.get_run(run.run_id)
    assert again.status == "waiting_for_approval"  # the same step, a second pause
    first, second = approvals_of(run.run_id)
    assert first.status == "approved" and second.status == "pending"
    assert second.arguments == {"to": "a@example.com", "text": "and a coupon"}
    assert step_of(run.run_id).agent_state["waiting"][0]["call_id"] == second.call_id

    done = scoria.approve(run.run_id, approval_id=second.pk, identity=REVIEWER)

    assert done.status == "completed"
    assert [text for _, _, text in h.SENT] == ["one", "and a coupon"]
    assert done.usage["requests"] == 3  # tool call, follow-up call, answer


def test_an_expired_approval_is_a_denial():
    run = start([{"to": "ann@example.com", "text": "hi"}], kind="gated")
    Approval.objects.filter(run_id=run.run_id).update(expires_at="2000-01-01T00:00:00Z")

    from scoria_django.runtime.recovery import recover

    recover()

    assert scoria.get_run(run.run_id).status == "completed"
    assert h.SENT == []
    ((_, content, outcome),) = h.SEEN[-1]
    assert outcome == "denied" and "not approved in time" in content


# -- usage ----------------------------------------------------------------------------


def test_usage_is_the_sum_of_the_models_reports_once_per_request():
    run = start([{"to": "a@example.com", "text": "one"}])
    paused = scoria.get_run(run.run_id).usage
    assert (paused["input_tokens"], paused["output_tokens"], paused["requests"]) == (
        h.TOOL_TURN["input_tokens"],
        h.TOOL_TURN["output_tokens"],
        1,
    )

    scoria.approve(run.run_id, identity=REVIEWER)

    total = scoria.get_run(run.run_id).usage
    expected_in = h.TOOL_TURN["input_tokens"] + h.ANSWER_TURN["input_tokens"]
    expected_out = h.TOOL_TURN["output_tokens"] + h.ANSWER_TURN["output_tokens"]
    assert (total["input_tokens"], total["output_tokens"], total["requests"]) == (
        expected_in,
        expected_out,
        2,
    )
    assert total["model"] == h.MODEL_NAME
    step_usage = step_of(run.run_id).usage
    assert step_usage["models"] == {
        h.MODEL_NAME: {"input_tokens": expected_in, "output_tokens": expected_out, "requests": 2}
    }
    # And what the model reported, response by response, is what was recorded.
    responses = [m for m in history_of(run.run_id) if isinstance(m, ModelResponse)]
    assert sum(r.usage.input_tokens for r in responses) == expected_in


def test_usage_is_recorded_per_response_when_a_history_processor_cuts_the_history():
    # ProcessHistory keeps the last 3 messages: the history never holds all 5 responses.
    run = start(kind="ticking")

    assert run.status == "completed"
    assert step_of(run.run_id).output == {"output": f"ticked {h.TICKS}"}
    assert len(h.TICKED) == h.TICKS
    reports = [h.tick_usage(n) for n in range(h.TICKS + 1)]
    usage = scoria.get_run(run.run_id).usage
    assert (usage["requests"], usage["input_tokens"], usage["output_tokens"]) == (
        h.TICKS + 1,
        sum(r["input_tokens"] for r in reports),
        sum(r["output_tokens"] for r in reports),
    )
    state = step_of(run.run_id).agent_state
    assert len(state["messages"]) <= 4  # cut: counting it would have missed responses
    assert state["responses_recorded"] == h.TICKS + 1


# -- exactly once ---------------------------------------------------------------------


def test_a_retried_step_does_not_run_a_tool_that_already_ran():
    # Sequential calls: "a" runs (and is saved), then "boom" raises on attempt 1.
    run = start([{"to": "a@example.com", "text": "one"}, {"to": "boom", "text": "two"}])
    failed = scoria.approve(run.run_id, identity=REVIEWER)
    assert failed.status == "failed"
    assert [to for _, to, _ in h.SENT] == ["a@example.com", "boom"]
    first = approvals_of(run.run_id)[0]
    assert first.call_id in step_of(run.run_id).agent_state["executed"]

    done = scoria.resume_run(run.run_id, identity=REVIEWER)  # the retry keeps the decisions

    assert done.status == "completed"
    # "a" ran once: the retry took its result from the step's ledger.
    assert [to for _, to, _ in h.SENT] == ["a@example.com", "boom", "boom"]
    assert step_of(run.run_id).attempt == 2
    assert "sent to a@example.com" in step_of(run.run_id).output["output"]
    assert step_of(run.run_id).agent_state["executed"] == {}  # all in the history now


# -- outputs --------------------------------------------------------------------------


def test_a_structured_output_is_the_step_output():
    run = start(kind="structured")

    assert run.status == "completed"
    assert step_of(run.run_id).output == {"output": {"approved": True, "notes": "looks right"}}
    assert scoria.get_run(run.run_id).usage["input_tokens"] == 50


def test_an_async_on_output_with_deps_and_an_output_type_that_defers_already():
    run = start(kind="reviewing")

    assert run.status == "completed"
    output = step_of(run.run_id).output
    assert output["verdict"] == {"approved": True, "notes": "looks right"}
    assert h.DEPS[-1] == {"tenant": "acme"}  # deps(ctx) reached the agent


def test_an_output_that_is_not_text_is_stored_as_json():
    run = start(kind="counting")

    assert step_of(run.run_id).output == {"output": 3}


def test_a_run_cancelled_while_its_agent_runs_stops_the_agent():
    run = start(kind="cancelling")

    assert scoria.get_run(run.run_id).status == "cancelled"
    assert h.SENT == [("cancel_my_run", None, None)]  # the tool ran
    state = step_of(run.run_id).agent_state
    # Saved: the prompt and the model's call. Not the tool's result (the claim was gone when
    # it returned), and the model was not asked again.
    assert state["executed"] == {} and state["waiting"] == []
    assert state["responses_recorded"] == 1
    history = history_of(run.run_id)
    assert [m.kind for m in history] == ["request", "response"]
    assert [part.tool_name for part in history[-1].parts] == ["cancel_my_run"]
    assert scoria.get_run(run.run_id).usage["requests"] == 1


def test_on_output_may_hand_off():
    run = start(kind="handing_off")

    handoff = Handoff.objects.get(run_id=run.run_id)
    assert handoff.delegated_role_id == "publisher"
    assert handoff.handoff_input == {"notes": "looks right"}
    assert step_of(run.run_id).output == {"handoff": "publisher"}


def test_a_handoff_projects_what_on_output_gives_never_the_agent_state():
    run = start(kind="handing_off")

    parent, child = Step.objects.filter(run_id=run.run_id).order_by("sequence")
    assert parent.agent_state["format"] == STATE_FORMAT  # the state is evidence on the parent
    assert parent.agent_state["messages"]
    assert child.parent_step_id == parent.pk
    # The child gets what on_output projected, and nothing of the agent's state.
    assert child.projected_context == {"approved": True}
    assert child.agent_state is None
    detail = scoria.get_run_detail(run.run_id)
    (handoff,) = detail.delegated_handoffs
    assert handoff["projected_context"] == {"approved": True}
    child_detail = next(step for step in detail.steps if step["id"] == str(child.pk))
    seen_by_child = json.dumps([child_detail, handoff], default=str)
    for mark in (STATE_FORMAT, "Answer the customer", '"part_kind"', '"responses_recorded"'):
        assert mark not in seen_by_child


# -- bad input ------------------------------------------------------------------------


def test_a_step_without_a_prompt_fails_with_a_clear_reason():
    run = scoria.start_run(
        IDENTITY,
        initial_step={"kind": "assistant", "role_id": "assistant", "input": {"other": 1}},
        handlers=HANDLERS,
    )

    assert run.status == "failed"
    assert step_of(run.run_id).error["reason"] == "agent_prompt_missing"


@pytest.mark.parametrize(
    "state",
    [{"something": "else"}, {"format": STATE_FORMAT, "messages": [{"kind": "nonsense"}]}],
    ids=["another-format", "not-a-history"],
)
def test_state_that_is_not_this_adapters_fails_the_step(state):
    run = start([{"to": "a@example.com", "text": "one"}])
    Step.objects.filter(run_id=run.run_id).update(agent_state=state)

    done = scoria.approve(run.run_id, identity=REVIEWER)

    assert done.status == "failed"
    assert step_of(run.run_id).error["reason"] == "invalid_agent_state"
    assert h.SENT == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("waiting", "xy"),
        ("waiting", [{"no": "id"}]),
        ("waiting", [{"call_id": 7, "tool_name": "send_reply", "arguments": {}}]),
        ("waiting", None),
        ("executed", [1, 2]),
        ("responses_recorded", "many"),
        ("responses_recorded", -1),
        ("responses_recorded", True),
        ("messages", "abc"),
    ],
)
def test_a_corrupt_saved_state_fails_the_step_with_a_stable_reason(field, value):
    run = start([{"to": "a@example.com", "text": "one"}])
    state = {**step_of(run.run_id).agent_state, field: value}
    Step.objects.filter(run_id=run.run_id).update(agent_state=state)

    done = scoria.approve(run.run_id, identity=REVIEWER)

    assert done.status == "failed"
    error = step_of(run.run_id).error
    assert error["reason"] == "invalid_agent_state"
    assert field in error["detail"]
    assert h.SENT == []


def test_a_saved_state_of_only_a_bad_field_fails_the_step():
    run = start([{"to": "a@example.com", "text": "one"}])
    Step.objects.filter(run_id=run.run_id).update(
        agent_state={"format": STATE_FORMAT, "waiting": "xy"}
    )

    done = scoria.approve(run.run_id, identity=REVIEWER)

    assert done.status == "failed"
    assert step_of(run.run_id).error["reason"] == "invalid_agent_state"
    assert h.SENT == []


def test_approval_options_that_are_not_approval_options_fail_the_step():
    run = start([{"to": "a@example.com", "text": "one"}], kind="bad_options")

    assert run.status == "failed"
    error = step_of(run.run_id).error
    assert error["reason"] == "invalid_outcome" and "expires_in" in error["detail"]
    assert approvals_of(run.run_id) == []


def test_edited_arguments_that_are_not_an_object_fail_the_step():
    run = start([{"to": "a@example.com", "text": "one"}])

    done = scoria.approve(run.run_id, identity=REVIEWER, arguments=["a@example.com"])

    assert done.status == "failed"
    assert step_of(run.run_id).error["reason"] == "invalid_approval_arguments"
    assert h.SENT == []


def test_a_pause_that_was_not_recorded_is_asked_again_on_the_rerun():
    failed = start([{"to": "a@example.com", "text": "one"}], kind="flaky_options")
    assert failed.status == "failed"
    assert step_of(failed.run_id).error["reason"] == "invalid_outcome"
    (saved,) = step_of(failed.run_id).agent_state["waiting"]  # saved before the refusal

    again = scoria.resume_run(failed.run_id, identity=REVIEWER)

    assert again.status == "waiting_for_approval"
    (approval,) = approvals_of(failed.run_id)
    assert approval.call_id == saved["call_id"]  # the same call, from the same history
    assert approval.expires_at is not None
    done = scoria.approve(failed.run_id, identity=REVIEWER)
    assert done.status == "completed"
    assert [to for _, to, _ in h.SENT] == ["a@example.com"]


def test_a_missing_decision_for_one_of_the_calls_fails_the_step():
    run = start([{"to": "a@example.com", "text": "one"}])
    step = step_of(run.run_id)
    state = step.agent_state
    state["waiting"].append({"call_id": "ghost", "tool_name": "send_reply", "arguments": {}})
    Step.objects.filter(pk=step.pk).update(agent_state=state)

    done = scoria.approve(run.run_id, identity=REVIEWER)

    assert done.status == "failed"
    error = step_of(run.run_id).error
    assert (error["reason"], error["call_ids"]) == ("agent_approval_missing", ["ghost"])
    assert h.SENT == []


def test_an_external_tool_call_is_not_supported():
    run = start([{"to": "a@example.com", "text": "one"}], external=True)

    assert run.status == "failed"
    assert step_of(run.run_id).error["reason"] == "unsupported_deferred_tool_call"
    assert approvals_of(run.run_id) == []


def test_agent_handler_checks_its_arguments():
    with pytest.raises(InvalidOption) as error:
        agent_handler("not an agent")
    assert error.value.code == "invalid_option" and error.value.field == "agent"
    with pytest.raises(InvalidOption):
        agent_handler(Agent(), prompt="a string")
    with pytest.raises(InvalidOption):
        agent_handler(Agent(), model=42)


def test_step_context_outside_a_step_is_a_clear_error():
    with pytest.raises(scoria.ScoriaError, match="only available while agent_handler runs") as e:
        step_context()
    assert e.value.code == "no_step_running"
    with pytest.raises(scoria.ScoriaError) as e:
        tool_call_key(SimpleNamespace(tool_call_id="call-1"))
    assert e.value.code == "no_step_running"
    with pytest.raises(InvalidOption, match="needs the call's id"):
        tool_call_key(SimpleNamespace(tool_call_id=None))


def test_the_handler_registers_as_an_object_by_the_name_it_is_assigned_to():
    # A worker imports handlers by path: the object resolves to its module-level name.
    started = scoria.start_run(
        IDENTITY,
        initial_step={"kind": "assistant", "role_id": "assistant", "input": "hi"},
        handlers={"assistant": h.assistant},
    )
    assert Run.objects.get(pk=started.run_id).handlers == {
        "assistant": "tests.pydantic_ai_handlers.assistant"
    }


def test_a_handler_made_inside_a_function_is_not_found():
    # Nothing a worker could import names it.
    local = agent_handler(h.agent)
    with pytest.raises(scoria.ScoriaError) as error:
        scoria.start_run(
            IDENTITY,
            initial_step={"kind": "assistant", "role_id": "assistant", "input": "hi"},
            handlers={"assistant": local},
        )
    assert error.value.code == "handler_not_found"
    assert "closures cannot be handlers" in error.value.detail
