"""``agent_handler``: an OpenAI Agents SDK agent as an ``async def`` scoria handler."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, RunContextWrapper, RunHooks, Runner
from agents.items import ToolApprovalItem
from agents.run_state import RunState

from ... import outcomes
from ...exceptions import InvalidOption, InvalidPayload
from ...policies import RetryPolicy
from ...policies import handler as handler_policy
from .tools import StepRun, _current, with_ledger

STATE_VERSION = 1

PromptFactory = Callable[[Any], Any]
ContextFactory = Callable[[Any], Any]
ApprovalOptions = Callable[[Any, ToolApprovalItem], Mapping[str, Any] | None]
OutputHandler = Callable[[Any, Any], Any]
RunConfigFactory = Callable[[Any], RunConfig]

_APPROVAL_OPTIONS = frozenset({"reason", "assignees", "groups", "expires_in", "on_expiry"})


def agent_handler(
    agent: Agent[Any],
    *,
    prompt: PromptFactory | None = None,
    context: ContextFactory | None = None,
    approval: ApprovalOptions | None = None,
    on_output: OutputHandler | None = None,
    run_config: RunConfig | RunConfigFactory | None = None,
    max_turns: int | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
) -> AgentHandler:
    """An ``async def``-style handler that runs ``agent`` as the step.

    Assign it to a module-level name and register that name (``SCORIA_HANDLERS`` or
    ``handlers=``): a worker finds the handler by its dotted path.

    - ``prompt(ctx)``: the agent's input (a string or input items); by default
      ``ctx.input["prompt"]``, ``ctx.input`` when it is a string, else the run payload's
      ``"prompt"`` or ``"message"``.
    - ``context(ctx)``: the SDK run context object (built again on every run of the step,
      never stored).
    - ``approval(ctx, item)``: options for that tool call's ``Approval`` (``reason``,
      ``assignees``, ``groups``, ``expires_in``, ``on_expiry``).
    - ``on_output(ctx, final_output)``: the step's outcome; by default
      ``scoria.complete({"output": final_output})``.
    - ``run_config``: an ``agents.RunConfig``, or ``run_config(ctx)`` returning one.
    """
    if not isinstance(agent, Agent):
        raise InvalidOption("agent_handler needs an agents.Agent", field="agent")
    for name, value in (
        ("prompt", prompt),
        ("context", context),
        ("approval", approval),
        ("on_output", on_output),
    ):
        if value is not None and not callable(value):
            raise InvalidOption(f"{name} must be a callable taking ctx", field=name)
    if run_config is not None and not (isinstance(run_config, RunConfig) or callable(run_config)):
        raise InvalidOption(
            "run_config must be an agents.RunConfig or a callable returning one",
            field="run_config",
        )
    if max_turns is not None and (
        isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1
    ):
        raise InvalidOption("max_turns must be a positive int", field="max_turns")
    found = AgentHandler(
        agent,
        prompt=prompt,
        context=context,
        approval=approval,
        on_output=on_output,
        run_config=run_config,
        max_turns=max_turns,
        # The module that assigns the handler to a name: its dotted path starts there.
        module=sys._getframe(1).f_globals.get("__name__", __name__),
    )
    return handler_policy(retry=retry, timeout=timeout)(found)


class AgentHandler:
    """The handler ``agent_handler`` returns: ``await handler(ctx)`` runs the agent."""

    def __init__(
        self,
        agent: Agent[Any],
        *,
        prompt: PromptFactory | None,
        context: ContextFactory | None,
        approval: ApprovalOptions | None,
        on_output: OutputHandler | None,
        run_config: RunConfig | RunConfigFactory | None,
        max_turns: int | None,
        module: str,
    ) -> None:
        self.agent = agent
        # Built once: the copy whose function tools keep the step's ledger (tools.py).
        self.run_agent = with_ledger(agent)
        self.prompt = prompt
        self.context = context
        self.approval = approval
        self.on_output = on_output
        self.run_config = run_config
        self.max_turns = max_turns
        self.__module__ = module

    def __getattr__(self, name: str) -> str:
        # scoria stores a handler as "<__module__>.<__qualname__>" and imports it back in a
        # worker: the qualname of this object is the module-level name it is assigned to.
        if name in ("__qualname__", "__name__"):
            module = sys.modules.get(self.__dict__.get("__module__", ""))
            for attribute, value in vars(module or object()).items():
                if value is self:
                    return attribute
        raise AttributeError(name)

    def __repr__(self) -> str:
        return f"<scoria openai_agents handler for agent {self.agent.name!r}>"

    async def __call__(self, ctx: Any) -> Any:
        saved = _saved_state(ctx.agent_state)
        run = StepRun(ctx=ctx)
        run_context = self.context(ctx) if self.context else None
        config = self._run_config(ctx)
        if saved is not None:
            # Outputs of tools that ran in an earlier attempt: never run twice (tools.py).
            run.tool_outputs = dict(saved.get("tool_outputs") or {})
        if saved is None or saved.get("run_state") is None:
            # No pause yet: the agent starts from the prompt.
            agent_input: Any = self._prompt(ctx)
        else:
            run.run_state = saved["run_state"]
            state = await RunState.from_json(
                self.run_agent,
                saved["run_state"],
                # The host's context is built again for every run, never read back from JSON.
                context_override=RunContextWrapper(context=run_context),
            )
            undecided = self._apply_decisions(ctx, run, state, saved.get("decisions") or {})
            if undecided:
                # Interrupted before these approvals were recorded (a crash): ask again,
                # keeping the decisions already made.
                await ctx.asave_agent_state(run.snapshot())
                return self._ask(ctx, undecided)
            agent_input = state
        token = _current.set(run)
        try:
            options: dict[str, Any] = {"hooks": UsageHooks(ctx, config), "run_config": config}
            if self.max_turns is not None:
                options["max_turns"] = self.max_turns
            if not isinstance(agent_input, RunState):
                options["context"] = run_context
            result = await Runner.run(self.run_agent, agent_input, **options)
        finally:
            _current.reset(token)
        if result.interruptions:
            run.run_state = _state_json(result.to_state())
            run.decisions = {}
            run.tool_outputs = {}  # the state now holds their outputs itself
            await ctx.asave_agent_state(run.snapshot())
            return self._ask(ctx, result.interruptions)
        if self.on_output is not None:
            return self.on_output(ctx, result.final_output)
        return outcomes.complete({"output": _jsonable(result.final_output)})

    def _run_config(self, ctx: Any) -> RunConfig:
        if self.run_config is None:
            return RunConfig()
        if isinstance(self.run_config, RunConfig):
            return self.run_config
        config = self.run_config(ctx)
        if not isinstance(config, RunConfig):
            raise InvalidOption(
                "run_config(ctx) must return an agents.RunConfig", field="run_config"
            )
        return config

    def _prompt(self, ctx: Any) -> Any:
        value = self.prompt(ctx) if self.prompt is not None else _default_prompt(ctx)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value:
            return value
        raise InvalidPayload(
            "the agent needs a prompt: a non-empty string (or input items) in "
            'ctx.input["prompt"], ctx.input, the payload\'s "prompt" or "message", or from '
            "agent_handler(prompt=...)",
            field="input",
        )

    def _apply_decisions(
        self,
        ctx: Any,
        run: StepRun,
        state: RunState[Any, Any],
        kept: Mapping[str, dict[str, Any]],
    ) -> list[ToolApprovalItem]:
        """Approve or reject each pending tool call by its call id; the undecided ones."""
        decisions = dict(kept)
        for decision in ctx.approvals:
            if decision.get("call_id"):
                decisions[decision["call_id"]] = dict(decision)
        undecided = []
        for item in state.get_interruptions():
            call_id = _required_call_id(item)
            decision = decisions.get(call_id)
            if decision is None:
                undecided.append(item)
                continue
            run.decisions[call_id] = decision
            if decision.get("decision") == "approved":
                state.approve(item)
                edited = decision.get("arguments")
                if edited is not None and edited != _arguments(item):
                    run.edits[call_id] = json.dumps(edited)
            else:
                state.reject(item, rejection_message=_denial(decision))
        return undecided

    def _ask(self, ctx: Any, items: list[ToolApprovalItem]) -> outcomes.WaitForApproval:
        requests = []
        for item in items:
            options = (self.approval(ctx, item) or {}) if self.approval else {}
            if not isinstance(options, Mapping):
                raise InvalidOption(
                    "approval(ctx, item) must return a mapping of approval options or None",
                    field="approval",
                )
            unknown = set(options) - _APPROVAL_OPTIONS
            if unknown:
                raise InvalidOption(
                    f"approval(ctx, item) returned unknown options {sorted(unknown)}; allowed: "
                    f"{sorted(_APPROVAL_OPTIONS)}",
                    field="approval",
                )
            requests.append(
                outcomes.approval_request(
                    item.qualified_name or item.tool_name or "tool",
                    _arguments(item),
                    call_id=_required_call_id(item),
                    **options,
                )
            )
        return outcomes.wait_for_approvals(requests)


class UsageHooks(RunHooks[Any]):
    """Records each model response's tokens on the step, once, when it arrives."""

    def __init__(self, ctx: Any, config: RunConfig) -> None:
        self.ctx = ctx
        self.config = config

    async def on_llm_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], response: ModelResponse
    ) -> None:
        usage = response.usage
        await self.ctx.arecord_usage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            # One response is one request, even from a model that does not count it.
            requests=usage.requests or 1,
            model=_model_name(self.config.model or agent.model),
        )


def _model_name(model: str | Model | None) -> str | None:
    if isinstance(model, str):
        return model or None
    if model is None:
        from agents.models import get_default_model

        return get_default_model()
    named = getattr(model, "model", None)  # the SDK's OpenAI models keep their name here
    return named if isinstance(named, str) and named else type(model).__name__


def _saved_state(value: Any) -> dict[str, Any] | None:
    """The adapter's saved state, or None before its first save; anything else is refused."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or value.get("framework") != "openai-agents"
        or value.get("version") != STATE_VERSION
    ):
        raise InvalidPayload(
            "the step's agent_state was not saved by scoria_django.contrib.openai_agents "
            f"(version {STATE_VERSION})",
            field="agent_state",
        )
    return value


def _state_json(state: RunState[Any, Any]) -> dict[str, Any]:
    data = state.to_json(context_serializer=lambda _context: {})
    # The host's context may hold anything (clients, secrets): it is rebuilt by context(ctx)
    # on every run, so the stored state (evidence on the step) keeps none of it.
    data["context"]["context"] = {}
    return data


def _required_call_id(item: ToolApprovalItem) -> str:
    """The call id a decision is matched back to the tool call by."""
    raw = item.raw_item
    found = raw.get("call_id") if isinstance(raw, dict) else getattr(raw, "call_id", None)
    if not found:  # hosted MCP approval requests carry an id instead
        found = raw.get("id") if isinstance(raw, dict) else getattr(raw, "id", None)
    if not isinstance(found, str) or not found:
        raise InvalidPayload(
            f"the {item.tool_name!r} call that needs approval has no call id to match a "
            "decision to",
            field="call_id",
        )
    return found


def _arguments(item: ToolApprovalItem) -> Any:
    arguments = item.arguments
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments  # the model's own text, shown as it is


def _denial(decision: Mapping[str, Any]) -> str:
    """What the model is told instead of the tool's output."""
    if decision.get("decision") == "expired":
        return "Tool execution was not approved: the approval expired before anyone decided."
    reason = decision.get("reason")
    if reason:
        return f"Tool execution was not approved. Reason: {reason}"
    return "Tool execution was not approved."


def _default_prompt(ctx: Any) -> Any:
    value = ctx.input
    if isinstance(value, dict) and "prompt" in value:
        return value["prompt"]
    if isinstance(value, str):
        return value
    payload = ctx.payload
    if isinstance(payload, dict):
        for key in ("prompt", "message"):
            if key in payload:
                return payload[key]
    return None


def _jsonable(value: Any) -> Any:
    """A structured final output (a pydantic model, a dataclass) as JSON values."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value
