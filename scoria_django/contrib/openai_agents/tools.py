"""The step's ledger of executed tool calls, and the agent's tools wrapped to keep it.

Every function tool of the agent runs through ``_invoke``: a call id whose output is in the
ledger is answered from it (the tool's body does not run again), an approved call with
edited arguments runs with them, and a finished call's output is saved on the step before
the agent goes on. That save is what makes an approved tool run once when a crashed step
is run again from its saved ``RunState``.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from agents import Agent, FunctionTool
from agents.tool_context import ToolContext

from ..agent_steps import call_key, save_state

# The run of the step whose agent is running now (set by the handler around Runner.run). A
# contextvar, not a global: the SDK runs tools in tasks and threads that copy the context.
_current: contextvars.ContextVar[StepRun | None] = contextvars.ContextVar(
    "scoria_openai_agents_step", default=None
)


@dataclasses.dataclass
class StepRun:
    """What one execution of the handler keeps while its agent runs."""

    ctx: Any
    # The RunState JSON the run continued from (None for a first run): saved with the ledger.
    run_state: dict[str, Any] | None = None
    # call_id -> the decision (a ctx.approvals mapping) applied to the restored state.
    decisions: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # call_id -> {"tool": name, "output": recorded output}: tools that ran since run_state.
    tool_outputs: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # call_id -> arguments JSON the approver edited: the tool runs with these.
    edits: dict[str, str] = dataclasses.field(default_factory=dict)
    # Once the agent answered: {"agent": the answering agent's name, "value": its final
    # output as JSON}, so a rerun (on_output failed) does not ask the model again.
    final_output: dict[str, Any] | None = None
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def snapshot(self) -> dict[str, Any]:
        """The step's ``agent_state``: the SDK's RunState JSON and what ran since."""
        return {
            "framework": "openai-agents",
            "version": 1,
            "run_state": self.run_state,
            "decisions": self.decisions,
            "tool_outputs": self.tool_outputs,
            "final_output": self.final_output,
        }

    async def record(self, call_id: str, tool_name: str, output: Any) -> None:
        # One save at a time, each with every output so far: parallel tool calls each
        # finish with a save that holds the others' outputs too.
        async with self.lock:
            self.tool_outputs[call_id] = {"tool": tool_name, "output": recordable(output)}
            await save_state(self.ctx, self.snapshot())


def recordable(output: Any) -> Any:
    """``output`` as JSON the ledger can keep and the SDK can be given back: strings and JSON
    values as they are, pydantic models (the SDK's ToolOutputText, ...) dumped, anything else
    as the text the SDK would have sent the model."""
    if isinstance(output, str):
        return output
    if hasattr(output, "model_dump"):
        return output.model_dump(mode="json")
    try:
        json.dumps(output, allow_nan=False)
    except (TypeError, ValueError):
        return str(output)
    if isinstance(output, float) and not math.isfinite(output):  # pragma: no cover - above
        return str(output)
    return output


def tool_call_key(tool_context: ToolContext[Any]) -> str:
    """A key for one tool call that is the same every time the step runs it:
    ``"<run_id>:<step_id>:<call_id>"``. Give it to an external system as an idempotency key
    so a call repeated inside the crash window (docs/agents-openai.md) takes effect once."""
    return call_key(getattr(tool_context, "tool_call_id", None))


def _wrapped_invoker(
    tool: FunctionTool,
) -> Callable[[ToolContext[Any], str], Awaitable[Any]]:
    invoke = tool.on_invoke_tool

    async def _invoke(tool_context: ToolContext[Any], arguments: str) -> Any:
        run = _current.get()
        if run is None:  # the agent runs outside a scoria step: the tool as it was
            return await invoke(tool_context, arguments)
        call_id = tool_context.tool_call_id
        recorded = run.tool_outputs.get(call_id)
        if recorded is not None:
            # It ran before this step was interrupted (a crash, a lost claim): its output,
            # not a second run of its body.
            return recorded["output"]
        edited = run.edits.get(call_id)
        if edited is not None:
            arguments = edited
            tool_context.tool_arguments = edited
            # The SDK may have parsed the model's arguments already for its approval check;
            # dropping them makes the tool parse (and validate) the approver's instead.
            if hasattr(tool_context, "_function_tool_arguments"):
                tool_context._function_tool_arguments = None
        output = await invoke(tool_context, arguments)
        await run.record(call_id, tool.name, output)
        return output

    return _invoke


def with_ledger(agent: Agent[Any]) -> Agent[Any]:
    """A copy of ``agent`` (and of the agents it hands off to) whose function tools keep the
    ledger. Other tools (hosted, MCP, shell) are left as they are."""
    copies: dict[int, Agent[Any]] = {}

    def copy(original: Agent[Any]) -> Agent[Any]:
        if id(original) in copies:
            return copies[id(original)]
        clone = original.clone(tools=[], handoffs=[])
        copies[id(original)] = clone  # before recursing: handoff graphs may have cycles
        clone.tools = [
            dataclasses.replace(tool, on_invoke_tool=_wrapped_invoker(tool))
            if isinstance(tool, FunctionTool)
            else tool
            for tool in original.tools
        ]
        clone.handoffs = [
            copy(target) if isinstance(target, Agent) else target for target in original.handoffs
        ]
        return clone

    return copy(agent)
