"""A Pydantic AI agent as a step: approvals through scoria, state on the step.

The step's ``agent_state`` holds (``STATE_FORMAT``)::

    {"format": ..., "messages": [...],       # Pydantic AI's own message history JSON
     "responses_recorded": n,                 # model responses whose usage is on the step
     "waiting": [{"call_id", "tool_name", "arguments"}],  # the calls the pause asked about
     "executed": {call_id: result}}           # tool calls that ran, not yet in "messages"

It is saved after every node of the agent's graph and after every tool call, so a rerun of
the step (a continuation after approvals, a retry, recovery after a crash) starts where the
last save left off, and a tool call in ``executed`` returns its recorded result instead of
running again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_ai import (
    DeferredToolRequests,
    DeferredToolResults,
    ModelMessagesTypeAdapter,
    ModelRequestNode,
    RunContext,
    ToolApproved,
    ToolDenied,
)
from pydantic_ai.agent import AbstractAgent
from pydantic_ai.capabilities import AbstractCapability, CapabilityOrdering
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    RetryPromptPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models import Model, ModelRequestContext
from pydantic_core import to_jsonable_python

from ... import outcomes
from ...exceptions import InvalidOption
from ...policies import handler as scoria_handler
from ...usage import MAX_MODEL_NAME
from ..agent_steps import (
    ClaimLost,
    approval_options,
    call_hook,
    call_key,
    caller_module,
    check_callables,
    complete_with_output,
    default_prompt,
    denial_message,
    edited_arguments,
    missing_prompt,
    running_step,
    save_state,
)

if TYPE_CHECKING:
    from ...policies import RetryPolicy
    from ...runtime.context import StepContext

STATE_FORMAT = "scoria.pydantic_ai/1"


def tool_call_key(run_context: RunContext[Any]) -> str:
    """A key for one tool call's side effect, the same on every rerun of the step
    (``"<run_id>:<step_id>:<tool_call_id>"``): give it to the system the tool writes to,
    which closes the crash window of docs/agents-pydantic-ai.md#exactly-once-and-where-it-stops."""
    return call_key(getattr(run_context, "tool_call_id", None))


def _invalid_state(detail: str) -> outcomes.Fail:
    return outcomes.fail("invalid_agent_state", detail=detail)


def _checked_state(stored: object) -> dict[str, Any] | outcomes.Fail:
    """The step's saved ``agent_state`` when it is this adapter's, every field checked (a
    field may be absent: its empty value); else the step fails ``invalid_agent_state``."""
    if stored is None:
        return {}
    if not isinstance(stored, Mapping) or stored.get("format") != STATE_FORMAT:
        return _invalid_state(f"the step's agent_state is not {STATE_FORMAT} state")
    state = dict(stored)
    messages = state.get("messages", [])
    if not isinstance(messages, list):
        return _invalid_state("the saved messages are not a list")
    history = None
    if messages:
        try:
            history = ModelMessagesTypeAdapter.validate_python(messages)
        except ValidationError as exc:
            return _invalid_state(
                "the saved messages are not a Pydantic AI history "
                f"({exc.error_count()} validation errors)"
            )
    recorded = state.get("responses_recorded", 0)
    if not isinstance(recorded, int) or isinstance(recorded, bool) or recorded < 0:
        return _invalid_state("the saved responses_recorded is not a count")
    waiting = state.get("waiting", [])
    if not isinstance(waiting, list) or not all(
        isinstance(wait, Mapping)
        and isinstance(wait.get("call_id"), str)
        and wait["call_id"]
        and isinstance(wait.get("tool_name", ""), str)
        for wait in waiting
    ):
        return _invalid_state(
            'the saved waiting is not a list of {"call_id", "tool_name", "arguments"}'
        )
    executed = state.get("executed", {})
    if not isinstance(executed, Mapping) or not all(isinstance(key, str) for key in executed):
        return _invalid_state("the saved executed is not an object of tool call results")
    return {
        "messages": messages,
        "history": history,  # the messages as Pydantic AI's own, None when there are none
        "responses_recorded": recorded,
        "waiting": [dict(wait) for wait in waiting],
        "executed": dict(executed),
    }


class _Session:
    """The agent state of one execution of the step, and its saves."""

    def __init__(self, ctx: StepContext, stored: Mapping[str, Any]):
        """``stored``: what ``_checked_state`` returned."""
        self.ctx = ctx
        self.messages: list[Any] = list(stored.get("messages", []))
        self.recorded: int = stored.get("responses_recorded", 0)
        self.waiting: list[dict[str, Any]] = list(stored.get("waiting", []))
        self.executed: dict[str, Any] = dict(stored.get("executed", {}))
        self._saved: dict[str, Any] | None = self.state() if stored else None

    def state(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "messages": self.messages,
            "responses_recorded": self.recorded,
            "waiting": self.waiting,
            "executed": dict(self.executed),
        }

    async def save(self) -> None:
        state = self.state()
        if state == self._saved:
            return
        await save_state(self.ctx, state)  # ClaimLost when the claim is gone
        self._saved = state

    async def record_usage(self, response: ModelResponse) -> None:
        """Record one model response's usage on the step, as it arrives: a response saved in
        the history is not requested again on a rerun, so it is recorded once; one that
        arrived but was not saved (a crash in between) is requested again, and its tokens
        are spent again too. Never counted from the history, which a history processor may
        cut."""
        await self.ctx.arecord_usage(
            input_tokens=response.usage.input_tokens or 0,
            output_tokens=response.usage.output_tokens or 0,
            requests=1,
            model=(response.model_name or "")[:MAX_MODEL_NAME].strip() or None,
        )
        self.recorded += 1

    async def checkpoint(self, messages: Sequence[ModelMessage]) -> None:
        """Save ``messages``, dropping the calls they answer from ``executed`` and
        ``waiting``."""
        self.messages = ModelMessagesTypeAdapter.dump_python(list(messages), mode="json")
        # A call answered in the history is done: the history carries its result now.
        answered = {
            part.tool_call_id
            for message in messages
            if isinstance(message, ModelRequest)
            for part in message.parts
            if isinstance(part, ToolReturnPart | RetryPromptPart)
        }
        self.executed = {k: v for k, v in self.executed.items() if k not in answered}
        self.waiting = [w for w in self.waiting if w["call_id"] not in answered]
        await self.save()


@dataclass
class _ToolLedger(AbstractCapability[Any]):
    """Saves each tool call's result on the step as soon as the tool returns, and returns
    that result instead of running the tool again when the step reruns."""

    session: _Session

    async def wrap_tool_execute(
        self,
        ctx: RunContext[Any],
        *,
        call: ToolCallPart,
        tool_def: Any,
        args: Any,
        handler: Callable[[Any], Awaitable[Any]],
    ) -> Any:
        executed = self.session.executed
        if call.tool_call_id in executed:
            return executed[call.tool_call_id]
        result = await handler(args)
        executed[call.tool_call_id] = to_jsonable_python(
            result, serialize_unknown=True, bytes_mode="base64"
        )
        await self.session.save()
        return result


@dataclass
class _UsageMeter(AbstractCapability[Any]):
    """Records the usage of every model response as it arrives. Innermost: its
    ``after_model_request`` runs first, so a response another capability rejects (its
    usage is still spent) is recorded too."""

    session: _Session

    def get_ordering(self) -> CapabilityOrdering:
        return CapabilityOrdering(position="innermost")

    async def after_model_request(
        self,
        ctx: RunContext[Any],
        *,
        request_context: ModelRequestContext,
        response: ModelResponse,
    ) -> ModelResponse:
        await self.session.record_usage(response)
        return response


def _with_deferred(output_type: Any) -> Any:
    """The agent's output type plus ``DeferredToolRequests`` (None: it has it already)."""
    if output_type is DeferredToolRequests:
        return None
    if isinstance(output_type, Sequence) and not isinstance(output_type, str):
        if DeferredToolRequests in output_type:
            return None
        return [*output_type, DeferredToolRequests]
    return [output_type, DeferredToolRequests]


def _denial(decision: Mapping[str, Any]) -> ToolDenied:
    return ToolDenied(denial_message(decision))


def _decided_any(waiting: list[dict[str, Any]], approvals: list[dict[str, Any]]) -> bool:
    """Was the pause the state describes recorded? The state is saved just before the
    step pauses; when the pause itself was not recorded (the process died in between, or
    scoria refused the requests), no decision names its calls, and the agent, run from
    the same history, asks again with the same call ids."""
    decided = {a.get("call_id") for a in approvals}
    return any(w["call_id"] in decided for w in waiting)


def _deferred_results(
    waiting: list[dict[str, Any]], approvals: list[dict[str, Any]]
) -> DeferredToolResults | outcomes.Fail:
    """The pause's decisions as Pydantic AI's own approval results."""
    decided = {a.get("call_id"): a for a in approvals}
    missing = [w["call_id"] for w in waiting if w["call_id"] not in decided]
    if missing:
        return outcomes.fail(
            "agent_approval_missing",
            call_ids=missing,
            detail="the step runs again without a decision on these tool calls",
        )
    results: dict[str, bool | ToolApproved | ToolDenied] = {}
    for wait in waiting:
        decision = decided[wait["call_id"]]
        if decision.get("decision") != "approved":
            results[wait["call_id"]] = _denial(decision)
            continue
        arguments = edited_arguments(decision, wait.get("arguments"))
        if isinstance(arguments, outcomes.Fail):
            return arguments
        edit = arguments if isinstance(arguments, dict) else None
        results[wait["call_id"]] = ToolApproved(override_args=edit)
    return DeferredToolResults(approvals=results)


def agent_handler(
    agent: AbstractAgent[Any, Any],
    *,
    prompt: Callable[[StepContext], Any] | None = None,
    deps: Callable[[StepContext], Any] | None = None,
    approval: Callable[[StepContext, ToolCallPart], Mapping[str, Any] | None] | None = None,
    on_output: Callable[[StepContext, Any], Any] | None = None,
    model: Model | str | Callable[[StepContext], Model | str] | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> Callable[[StepContext], Awaitable[Any]]:
    """A step handler that runs ``agent`` on the step's prompt.

    Every tool call that needs approval (``requires_approval=True``, ``ApprovalRequired``)
    becomes one ``Approval``; the step continues the same conversation once they are all
    decided. Register the result by its dotted path (``SCORIA_HANDLERS``).
    """
    if not isinstance(agent, AbstractAgent):
        raise InvalidOption("agent_handler needs a pydantic_ai Agent", field="agent")
    check_callables(prompt=prompt, deps=deps, approval=approval, on_output=on_output)
    if model is not None and not isinstance(model, Model | str) and not callable(model):
        raise InvalidOption(
            "agent_handler model= must be a model, a model name or a callable", field="model"
        )
    output_type = _with_deferred(agent.output_type)

    async def handler(ctx: StepContext) -> Any:
        with running_step(ctx):
            # A claim lost while the step waited to start stops here, before any model
            # request is paid for.
            if not await ctx.aheartbeat():
                raise ClaimLost("the step's claim was lost before its agent started")
            return await _run_agent(ctx)

    async def _run_agent(ctx: StepContext) -> Any:
        stored = _checked_state(ctx.agent_state)
        if isinstance(stored, outcomes.Fail):
            return stored
        session = _Session(ctx, stored)
        options: dict[str, Any] = {"capabilities": [_ToolLedger(session), _UsageMeter(session)]}
        if output_type is not None:
            options["output_type"] = output_type
        if model is not None:
            given = model if isinstance(model, Model | str) else await call_hook(model, ctx)
            options["model"] = given
        if deps is not None:
            options["deps"] = await call_hook(deps, ctx)

        user_prompt: str | None = None
        history = stored.get("history")
        if history:
            # A continuation, a retry or a recovery: from the last saved history.
            if session.waiting and _decided_any(session.waiting, ctx.approvals):
                results = _deferred_results(session.waiting, ctx.approvals)
                if isinstance(results, outcomes.Fail):
                    return results
                options["deferred_tool_results"] = results
        else:
            given = await call_hook(prompt or default_prompt, ctx)
            if not isinstance(given, str) or not given.strip():
                return missing_prompt()
            user_prompt = given

        async with agent.iter(user_prompt, message_history=history, **options) as run:
            async for node in run:
                messages = run.all_messages()
                # A request about to be sent (a tool's results included) is not in the
                # history yet: saved with it, so a rerun sends it instead of running tools.
                if isinstance(node, ModelRequestNode) and (
                    not messages or messages[-1] is not node.request
                ):
                    messages = [*messages, node.request]
                if messages:
                    await session.checkpoint(messages)
            result = run.result
        assert result is not None  # noqa: S101 - the loop ran to the graph's end
        await session.checkpoint(result.all_messages())
        output = result.output

        if isinstance(output, DeferredToolRequests):
            return await _pause(ctx, session, output)
        return await call_hook(on_output or complete_with_output, ctx, output)

    async def _pause(ctx: StepContext, session: _Session, requests: DeferredToolRequests) -> Any:
        if requests.calls:
            return outcomes.fail(
                "unsupported_deferred_tool_call",
                call_ids=[call.tool_call_id for call in requests.calls],
                detail="external (CallDeferred) tool calls are not supported; "
                "only calls that need approval",
            )
        approval_requests = []
        waiting = []
        for call in requests.approvals:
            arguments = call.args_as_dict()
            extra = await approval_options(approval, ctx, call)
            if isinstance(extra, outcomes.Fail):
                return extra
            approval_requests.append(
                outcomes.approval_request(
                    call.tool_name, arguments, call_id=call.tool_call_id, **extra
                )
            )
            waiting.append(
                {"call_id": call.tool_call_id, "tool_name": call.tool_name, "arguments": arguments}
            )
        session.waiting = waiting
        await session.save()  # before pausing: the continuation reads what it waits on
        return outcomes.wait_for_approvals(approval_requests)

    # Registered by the module-level name it is assigned to, as a path or as the object
    # (``runtime.handlers``): a worker imports it from there.
    handler.__module__ = caller_module()
    if retry is not None or timeout is not None:
        handler = scoria_handler(retry=retry, timeout=timeout)(handler)
    return handler
