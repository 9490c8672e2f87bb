"""OpenAI Agents SDK handlers for tests/test_contrib_openai_agents.py and the worker tests.

Offline by construction: ``ScriptModel`` is an ``agents.Model`` that answers from the
conversation it is sent (no network, no state of its own), so any process (a worker that
claims the step after a pause or a crash) gets the same answers. Tracing export is off.

The script: on a user turn it asks for the tool calls ``plan`` names (one turn, several
calls); once the conversation has tool outputs it answers ``"final: <outputs>"``, so a test
reads in the answer what the model saw (an output, or the SDK's denial).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    Model,
    ModelResponse,
    RunConfig,
    Usage,
    function_tool,
    set_tracing_disabled,
)
from agents.tool_context import ToolContext
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
)
from pydantic import BaseModel

import scoria_django as scoria
from scoria_django.contrib.openai_agents import agent_handler, step_context, tool_call_key

set_tracing_disabled(True)  # no trace export from tests or the workers they start

MODEL_NAME = "script-model"
# Every response the model gave in this process: (input_tokens, output_tokens).
RESPONSES: list[tuple[int, int]] = []
# Every execution of send_reply in this process: (to, text, key).
SENT: list[tuple[str, str, str]] = []
# What the model was sent, request by request (lists of input items).
CONVERSATIONS: list[list[dict[str, Any]]] = []
# How many more times the model fails right after seeing tool outputs (a lost provider
# connection mid-step): the step's retry runs it again from its saved state.
FAILURES = {"after_tool": 0}


def _items(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "content": value}]
    return [item if isinstance(item, dict) else item.model_dump() for item in value]


def _prompt(items: list[dict[str, Any]]) -> str:
    for item in items:
        if item.get("role") == "user" and isinstance(item.get("content"), str):
            return item["content"]
    return ""


class ScriptModel(Model):
    """Tool calls on the first turn, a final answer quoting the tool outputs after."""

    def __init__(
        self,
        plan: list[tuple[str, dict[str, Any]]],
        answer: Callable[[list[str]], str] | None = None,
    ) -> None:
        self.plan = plan
        self.answer = answer or (lambda outputs: "final: " + " | ".join(outputs))
        self.model = MODEL_NAME  # the name scoria records usage under

    async def get_response(
        self,
        system_instructions,
        input,
        model_settings,
        tools,
        output_schema,
        handoffs,
        tracing,
        *,
        previous_response_id=None,
        conversation_id=None,
        prompt=None,
        **kwargs,
    ) -> ModelResponse:
        items = _items(input)
        CONVERSATIONS.append(items)
        outputs = [item for item in items if item.get("type") == "function_call_output"]
        if outputs:
            _hang_once("after_tool")
            if FAILURES["after_tool"] > 0:
                FAILURES["after_tool"] -= 1
                raise ConnectionError("the model provider went away")
            text = self.answer([str(item["output"]) for item in outputs])
            output: list[Any] = [
                ResponseOutputMessage(
                    id="msg_final",
                    type="message",
                    role="assistant",
                    status="completed",
                    content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
                )
            ]
        else:
            words = _prompt(items)
            output = [
                ResponseFunctionToolCall(
                    id=f"fc_{index}",
                    type="function_call",
                    call_id=f"call_{index}",
                    name=name,
                    # send_reply says what the user said unless the plan says otherwise.
                    arguments=json.dumps(
                        {"text": words, **arguments} if name == "send_reply" else arguments
                    ),
                    status="completed",
                )
                for index, (name, arguments) in enumerate(self.plan, start=1)
            ]
        # Tokens depend on what was sent and said, so totals are not one constant.
        usage = Usage(
            requests=1,
            input_tokens=40 + 10 * len(items),
            output_tokens=5 + 3 * len(output),
        )
        usage.total_tokens = usage.input_tokens + usage.output_tokens
        RESPONSES.append((usage.input_tokens, usage.output_tokens))
        return ModelResponse(output=output, usage=usage, response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("the adapter does not stream")


def _marks() -> Path | None:
    """The worker tests' directory of marks, from the step's input (the model and the tools
    read the running step through step_context())."""
    try:
        step_input = step_context().input
    except scoria.ScoriaError:  # the agent runs outside a step (a plain Runner.run)
        return None
    marks = step_input.get("marks") if isinstance(step_input, dict) else None
    return Path(marks) if marks else None


def _hang_once(point: str) -> None:
    """In the worker crash test: mark the first time ``point`` is reached, then hang there
    until the test kills this process."""
    marks = _marks()
    if marks is None or not step_context().input.get("hang") or (marks / point).exists():
        return
    (marks / point).write_text(str(os.getpid()))
    time.sleep(60)


def _log_sent(line: dict[str, Any]) -> None:
    marks = _marks()
    if marks is not None:
        with open(marks / "sent.log", "a") as log:
            log.write(json.dumps(line) + "\n")


@function_tool(needs_approval=True)
def send_reply(tool_context: ToolContext[Any], to: str, text: str) -> str:
    """Send a reply by email."""
    key = tool_call_key(tool_context)
    SENT.append((to, text, key))
    _log_sent({"to": to, "text": text, "key": key, "pid": os.getpid()})
    return f"sent to {to}: {text}"


@function_tool(needs_approval=True)
def delete_ticket(ticket: int) -> str:
    """Delete a ticket."""
    SENT.append(("delete", str(ticket), step_context().idempotency_key))
    return f"deleted {ticket}"


def _config(plan: list[tuple[str, dict[str, Any]]]) -> RunConfig:
    return RunConfig(model=ScriptModel(plan), tracing_disabled=True)


SUPPORT = Agent(name="support", instructions="Answer the customer.", tools=[send_reply])

assistant = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "a@example.com"})]),
    approval=lambda ctx, item: {"reason": f"{item.tool_name} leaves the company"},
)

two_tools = agent_handler(
    Agent(name="triage", instructions="Tidy up.", tools=[send_reply, delete_ticket]),
    run_config=lambda ctx: _config(
        [("send_reply", {"to": "b@example.com"}), ("delete_ticket", {"ticket": 7})]
    ),
)

handing_off = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "c@example.com"})]),
    on_output=lambda ctx, output: scoria.handoff(
        "critic", "review", handoff_input={"draft": output}, projected_context={"topic": "reply"}
    ),
)

flaky = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "e@example.com"})]),
    retry=scoria.RetryPolicy(max_attempts=2, initial_interval=0, jitter=False),
)

expiring = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "f@example.com"})]),
    approval=lambda ctx, item: {"expires_in": 0.05, "on_expiry": "reject"},
)

# approval(ctx, item) fails the first time it is asked: after the agent's state was saved,
# before the pause was recorded (the window a crash can hit).
FAIL_ASKING = {"left": 0}


def _fails_once(ctx, item):
    if FAIL_ASKING["left"] > 0:
        FAIL_ASKING["left"] -= 1
        raise RuntimeError("the process died before the pause was recorded")
    return {}


asks_after_a_crash = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "g@example.com"})]),
    approval=_fails_once,
)

bad_approval_options = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "d@example.com"})]),
    approval=lambda ctx, item: {"colour": "red"},
)

not_a_mapping = agent_handler(
    SUPPORT,
    run_config=_config([("send_reply", {"to": "d@example.com"})]),
    approval=lambda ctx, item: ["reason"],
)


class Receipt(BaseModel):
    summary: str
    tenant: str


@function_tool(needs_approval=True)
def lookup(tool_context: ToolContext[dict[str, Any]], order: int) -> dict[str, Any]:
    """Look an order up (for the tenant in the run context)."""
    return {"order": order, "tenant": tool_context.context["tenant"]}


concierge = agent_handler(
    Agent(name="concierge", tools=[lookup], output_type=Receipt),
    prompt=lambda ctx: [{"role": "user", "content": f"where is order {ctx.input['order']}?"}],
    # Rebuilt on every run of the step; the key must never reach the stored state.
    context=lambda ctx: {"tenant": ctx.identity.tenant_id, "api_key": "sk-never-stored"},
    run_config=lambda ctx: RunConfig(
        model=ScriptModel(
            [("lookup", {"order": ctx.input["order"]})],
            answer=lambda outputs: json.dumps({"summary": outputs[0], "tenant": "from tool"}),
        ),
        tracing_disabled=True,
    ),
    max_turns=3,
)


def review(ctx):
    return {"reviewed": ctx.handoff_input["draft"]}


ON_OUTPUT_FAILS = {"left": 0}


def _on_output_once(ctx, output):
    """The host's on_output fails the first time: the retry must not ask the model again."""
    if ON_OUTPUT_FAILS["left"] > 0:
        ON_OUTPUT_FAILS["left"] -= 1
        raise RuntimeError("the host's on_output failed")
    return {"summary": output.summary, "type": type(output).__name__}


receipts = agent_handler(
    Agent(name="receipts", tools=[lookup], output_type=Receipt),
    prompt=lambda ctx: "where is order 7?",
    context=lambda ctx: {"tenant": "acme"},
    run_config=RunConfig(
        model=ScriptModel(
            [("lookup", {"order": 7})],
            answer=lambda outputs: json.dumps({"summary": outputs[0], "tenant": "acme"}),
        ),
        tracing_disabled=True,
    ),
    on_output=_on_output_once,
)
