"""The framework-free pieces both agent adapters share (scoria_django/contrib/agent_steps.py)."""

import dataclasses
import datetime

import pytest
from asgiref.sync import async_to_sync
from pydantic import BaseModel

import scoria_django as scoria
from scoria_django.contrib import agent_steps


class _RefusingCtx:
    """A step whose claim is gone: every save is refused."""

    async def asave_agent_state(self, state):
        return False


def test_a_refused_save_stops_the_agent():
    with pytest.raises(agent_steps.ClaimLost):
        async_to_sync(agent_steps.save_state)(_RefusingCtx(), {"any": "state"})


def test_edited_arguments_replace_the_request_or_fail_the_step():
    requested = {"to": "a@example.com", "text": "hi"}
    assert agent_steps.edited_arguments({"arguments": None}, requested) is None
    assert agent_steps.edited_arguments({"arguments": dict(requested)}, requested) is None
    assert agent_steps.edited_arguments({"arguments": {"to": "b"}}, requested) == {"to": "b"}
    refused = agent_steps.edited_arguments({"arguments": "b", "call_id": "c1"}, requested)
    assert refused == scoria.fail(
        "invalid_approval_arguments",
        call_id="c1",
        detail="the edited arguments of a tool call must be a JSON object",
    )


def test_the_model_reads_the_decision_and_the_persons_words_never_who_decided():
    rejected = {"decision": "rejected", "reason": "no", "comment": "ask legal", "decided_by": "7"}
    text = agent_steps.denial_message(rejected)
    assert text == (
        "The tool call was rejected by a reviewer, so it did not run. Reason: no Comment: ask legal"
    )
    assert "7" not in text
    assert "not approved in time" in agent_steps.denial_message({"decision": "expired"})


def test_final_outputs_become_json():
    class Answer(BaseModel):
        text: str

    @dataclasses.dataclass
    class Note:
        when: datetime.date

    assert agent_steps.output_json("plain") == "plain"
    assert agent_steps.output_json(Answer(text="hi")) == {"text": "hi"}
    assert agent_steps.output_json(Note(datetime.date(2026, 1, 2))) == {"when": "2026-01-02"}
    assert agent_steps.output_json([Answer(text="a"), datetime.date(2026, 1, 2)]) == [
        {"text": "a"},
        "2026-01-02",
    ]


def test_step_context_and_call_keys_outside_a_step():
    with pytest.raises(agent_steps.NoStepRunning) as error:
        agent_steps.step_context()
    assert error.value.code == "no_step_running"
    with pytest.raises(scoria.ScoriaValidationError):
        agent_steps.call_key(None)


@pytest.mark.parametrize("bad", [["reason"], "x", {"colour": "red"}])
def test_approval_options_that_are_not_options_fail_the_step(bad):
    refused = async_to_sync(agent_steps.approval_options)(lambda ctx, call: bad, None, None)
    assert refused.reason == "invalid_outcome"
    assert async_to_sync(agent_steps.approval_options)(None, None, None) == {}
