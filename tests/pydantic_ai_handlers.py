"""A Pydantic AI agent with an approval-gated tool, for tests/test_contrib_pydantic_ai.py and
the worker tests: module-level, so any worker process imports it by its dotted path.

The model is a ``FunctionModel`` (offline) scripted by the step's input through
``step_context()``: ``{"prompt", "replies": [{"to", "text"}, ...]}`` asks for one
``send_reply`` call per reply in its first turn; once it sees tool results it answers with
what they said. Every request reports a fixed usage (``TOOL_TURN`` then ``ANSWER_TURN``).
"""

import os
import signal
from pathlib import Path

from asgiref.sync import sync_to_async
from pydantic import BaseModel
from pydantic_ai import Agent, CallDeferred, DeferredToolRequests, RunContext
from pydantic_ai.capabilities import ProcessHistory
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.usage import RequestUsage

import scoria_django as scoria
from scoria_django.contrib.pydantic_ai import agent_handler, step_context, tool_call_key

MODEL_NAME = "scripted-model"
TOOL_TURN = {"input_tokens": 120, "output_tokens": 30}
ANSWER_TURN = {"input_tokens": 200, "output_tokens": 15}

SENT = []  # (tool_call_id, to, text) for every send_reply that ran in this process
SEEN = []  # what the model saw: the tool results of its last request


def _returns(messages: list[ModelMessage]) -> list[ToolReturnPart]:
    last = messages[-1]
    if not isinstance(last, ModelRequest):
        return []
    return [part for part in last.parts if isinstance(part, ToolReturnPart)]


def _prompt(messages: list[ModelMessage]) -> str:
    return next(
        part.content
        for message in messages
        if isinstance(message, ModelRequest)
        for part in message.parts
        if isinstance(part, UserPromptPart)
    )


def _script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    ctx = step_context()
    script = ctx.input if isinstance(ctx.input, dict) else {}
    returns = _returns(messages)
    if returns:
        SEEN.append([(part.tool_name, part.content, part.outcome) for part in returns])
        turns = sum(isinstance(message, ModelResponse) for message in messages)
        if script.get("follow_up") and turns == 1:
            # A second tool call after seeing the first result: the step pauses again.
            follow_up = ToolCallPart("send_reply", dict(script["follow_up"]))
            return ModelResponse(parts=[follow_up], usage=RequestUsage(**TOOL_TURN))
        marks = script.get("marks")
        if marks and script.get("crash_before_answer"):
            _crash_once(Path(marks) / "answer-crash")
        text = " | ".join(f"{part.tool_name}: {part.content}" for part in returns)
        return ModelResponse(
            parts=[TextPart(f"Done. {text}")],
            usage=RequestUsage(**ANSWER_TURN),
        )
    calls = [ToolCallPart("send_reply", dict(reply)) for reply in script.get("replies", [])]
    if script.get("external"):
        calls.append(ToolCallPart("look_up_order", {"order": "A-1"}))
    if not calls:
        return ModelResponse(
            parts=[TextPart(f"No tool needed for: {_prompt(messages)}")],
            usage=RequestUsage(**ANSWER_TURN),
        )
    return ModelResponse(parts=calls, usage=RequestUsage(**TOOL_TURN))


def _crash_once(flag: Path) -> None:
    """SIGKILL this process the first time only: the rerun finds the flag and goes on."""
    if flag.exists():
        return
    flag.write_text(str(os.getpid()))
    os.kill(os.getpid(), signal.SIGKILL)


agent = Agent(FunctionModel(_script, model_name=MODEL_NAME), name="support")


@agent.tool(requires_approval=True, sequential=True)
def send_reply(ctx: RunContext[None], to: str, text: str) -> str:
    """Send a reply to a customer."""
    step = step_context()
    marks = step.input.get("marks")
    if marks and step.input.get("crash_before_send_to") == to:
        _crash_once(Path(marks) / f"crash-before-{to}")
    SENT.append((ctx.tool_call_id, to, text))
    if marks:
        # One line per execution, whatever process runs it: the exactly-once evidence.
        with open(Path(marks) / "sent.log", "a") as log:
            log.write(f"{tool_call_key(ctx)} {to} {os.getpid()}\n")
        if step.input.get("crash_after_send_to") == to:
            _crash_once(Path(marks) / f"crash-after-{to}")
    if to == "boom" and step.attempt == 1:
        raise RuntimeError("mail server down")
    return f"sent to {to}"


@agent.tool_plain
def look_up_order(order: str) -> str:
    """Look an order up in a system that answers later."""
    raise CallDeferred()


assistant = agent_handler(agent)
bad_options = agent_handler(agent, approval=lambda ctx, call: {"colour": "red"})
# scoria refuses the first attempt's requests (after the state was saved), not the retry's.
flaky_options = agent_handler(
    agent, approval=lambda ctx, call: {"expires_in": -1 if ctx.attempt == 1 else 600}
)


def _approval_options(ctx, call):
    return {"reason": f"send to {call.args_as_dict()['to']}", "groups": ["support"]}


gated_assistant = agent_handler(agent, approval=_approval_options, timeout=20)


class Verdict(BaseModel):
    approved: bool
    notes: str


def _verdict_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # A structured output arrives as a call of the agent's output tool.
    tool = info.output_tools[0].name
    return ModelResponse(
        parts=[ToolCallPart(tool, {"approved": True, "notes": "looks right"})],
        usage=RequestUsage(input_tokens=50, output_tokens=5),
    )


critic = Agent(output_type=Verdict, name="critic")
structured = agent_handler(critic, model=FunctionModel(_verdict_script, model_name=MODEL_NAME))
handing_off = agent_handler(
    critic,
    model=lambda ctx: FunctionModel(_verdict_script, model_name=MODEL_NAME),
    on_output=lambda ctx, verdict: scoria.handoff(
        "publisher",
        delegated_kind="publish",
        handoff_input={"notes": verdict.notes},
        projected_context={"approved": verdict.approved},
    ),
)


async def _publish(ctx, verdict):
    return scoria.complete({"verdict": verdict.model_dump(), "deps": step_context().input})


# DeferredToolRequests already in its output type; async on_output; deps built per run.
reviewer = Agent(output_type=[Verdict, DeferredToolRequests], deps_type=dict, name="reviewer")


@reviewer.instructions
def _instructions(ctx: RunContext[dict]) -> str:
    DEPS.append(ctx.deps)
    return "Review the draft."


DEPS = []
reviewing = agent_handler(
    reviewer,
    model=FunctionModel(_verdict_script, model_name=MODEL_NAME),
    deps=lambda ctx: {"tenant": ctx.identity.tenant_id},
    on_output=_publish,
    approval=lambda ctx, call: None,
)


def _count_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(
        parts=[ToolCallPart(info.output_tools[0].name, {"response": 3})],
        usage=RequestUsage(input_tokens=7, output_tokens=1),
    )


counting = agent_handler(
    Agent(output_type=int), model=FunctionModel(_count_script, model_name=MODEL_NAME)
)


def _cancel_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    if _returns(messages):
        return ModelResponse(parts=[TextPart("never sent")], usage=RequestUsage(**ANSWER_TURN))
    return ModelResponse(parts=[ToolCallPart("cancel_my_run", {})], usage=RequestUsage(**TOOL_TURN))


canceller = Agent(FunctionModel(_cancel_script, model_name=MODEL_NAME), name="canceller")


@canceller.tool_plain
async def cancel_my_run() -> str:
    """Cancel the run this step belongs to (as an operator would, meanwhile)."""
    await sync_to_async(scoria.cancel_run)(step_context().run.run_id, reason="operator")
    SENT.append(("cancel_my_run", None, None))
    return "cancelled"


cancelling = agent_handler(canceller)


# -- a history processor that keeps only the last messages ---------------------------------

TICKS = 4  # tool calls before the answer: TICKS + 1 model requests


def tick_usage(n: int) -> dict:
    """What the model reports for its request after ``n`` ticks (all different)."""
    return {"input_tokens": 10 * (n + 1), "output_tokens": n + 1}


def _tick_script(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    # The history is cut to its last messages: the count is in the last tool result.
    returns = _returns(messages)
    n = int(returns[-1].content) if returns else 0
    if n < TICKS:
        return ModelResponse(parts=[ToolCallPart("tick", {})], usage=RequestUsage(**tick_usage(n)))
    return ModelResponse(parts=[TextPart(f"ticked {n}")], usage=RequestUsage(**tick_usage(n)))


TICKED = []
ticker = Agent(
    FunctionModel(_tick_script, model_name=MODEL_NAME),
    name="ticker",
    capabilities=[ProcessHistory(lambda messages: messages[-3:])],
)


@ticker.tool_plain
def tick() -> int:
    """Count one tick."""
    TICKED.append(1)
    return len(TICKED)


ticking = agent_handler(ticker)
