"""``agent_handler``: an OpenAI Agents SDK agent as an ``async def`` scoria handler."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from agents import Agent, Model, ModelResponse, RunConfig, RunContextWrapper, RunHooks, Runner
from agents.items import ToolApprovalItem
from agents.run_state import RunState
from pydantic import BaseModel, ValidationError

from ... import outcomes
from ...exceptions import InvalidOption, InvalidPayload
from ...policies import RetryPolicy
from ...policies import handler as handler_policy
from ..agent_steps import (
    approval_options,
    call_hook,
    caller_module,
    check_callables,
    complete_with_output,
    default_prompt,
    denial_message,
    edited_arguments,
    missing_prompt,
    output_json,
    running_step,
    save_state,
)
from .tools import StepRun, _current, with_ledger

STATE_VERSION = 1

PromptFactory = Callable[[Any], Any]
ContextFactory = Callable[[Any], Any]
ApprovalOptions = Callable[[Any, ToolApprovalItem], Mapping[str, Any] | None]
OutputHandler = Callable[[Any, Any], Any]
RunConfigFactory = Callable[[Any], RunConfig]


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
    check_callables(prompt=prompt, context=context, approval=approval, on_output=on_output)
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
        # The module that assigns the handler to a name: a worker imports it from there
        # (``runtime.handlers`` finds the name).
        module=caller_module(),
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

    def __repr__(self) -> str:
        return f"<scoria openai_agents handler for agent {self.agent.name!r}>"

    async def __call__(self, ctx: Any) -> Any:
        with running_step(ctx):
            return await self._run(ctx)

    async def _run(self, ctx: Any) -> Any:
        saved = _saved_state(ctx.agent_state)
        if isinstance(saved, outcomes.Fail):
            return saved
        if saved is not None and saved["final_output"] is not None:
            # The agent answered before (a retry after on_output failed): not asked again.
            return await self._finish(ctx, self._stored_output(saved["final_output"]))
        run = StepRun(ctx=ctx)
        run_context = await call_hook(self.context, ctx) if self.context else None
        config = await self._run_config(ctx)
        if saved is not None:
            # Outputs of tools that ran in an earlier attempt: never run twice (tools.py).
            run.tool_outputs = dict(saved["tool_outputs"])
        if saved is None or saved["run_state"] is None:
            # No pause yet: the agent starts from the prompt.
            agent_input: Any = await self._prompt(ctx)
            if agent_input is None:
                return missing_prompt()
        else:
            run.run_state = saved["run_state"]
            try:
                state = await RunState.from_json(
                    self.run_agent,
                    saved["run_state"],
                    # The host's context is built again for every run, never read from JSON.
                    context_override=RunContextWrapper(context=run_context),
                )
            except Exception as exc:  # noqa: BLE001 - the SDK refuses bad JSON in many ways
                return _invalid_state(f"its RunState does not load: {type(exc).__name__}")
            undecided = self._apply_decisions(ctx, run, state, saved["decisions"])
            if isinstance(undecided, outcomes.Fail):
                return undecided
            if undecided:
                # Interrupted before these approvals were recorded (a crash): ask again,
                # keeping the decisions already made.
                await save_state(ctx, run.snapshot())
                return await self._ask(ctx, undecided)
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
            await save_state(ctx, run.snapshot())
            return await self._ask(ctx, result.interruptions)
        # Kept before on_output runs: if it fails, the retry reads the answer back.
        run.final_output = {
            "agent": result.last_agent.name,
            "value": output_json(result.final_output),
        }
        await save_state(ctx, run.snapshot())
        return await self._finish(ctx, result.final_output)

    async def _finish(self, ctx: Any, final_output: Any) -> Any:
        return await call_hook(self.on_output or complete_with_output, ctx, final_output)

    def _stored_output(self, stored: Mapping[str, Any]) -> Any:
        """A final output read back: a pydantic model again when the agent that answered
        has one as its ``output_type``, else its JSON."""
        value = stored.get("value")
        answering = _agent_named(self.agent, stored.get("agent"))
        output_type = getattr(answering, "output_type", None)
        if isinstance(output_type, type) and issubclass(output_type, BaseModel):
            try:
                return output_type.model_validate(value)
            except ValidationError:
                return value
        return value

    async def _run_config(self, ctx: Any) -> RunConfig:
        if self.run_config is None:
            return RunConfig()
        if isinstance(self.run_config, RunConfig):
            return self.run_config
        config = await call_hook(self.run_config, ctx)
        if not isinstance(config, RunConfig):
            raise InvalidOption(
                "run_config(ctx) must return an agents.RunConfig", field="run_config"
            )
        return config

    async def _prompt(self, ctx: Any) -> Any:
        """The agent's input: a non-blank string or a non-empty list of input items; None
        when there is none."""
        value = await call_hook(self.prompt or default_prompt, ctx)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value:
            return value
        return None

    def _apply_decisions(
        self,
        ctx: Any,
        run: StepRun,
        state: RunState[Any, Any],
        kept: Mapping[str, dict[str, Any]],
    ) -> list[ToolApprovalItem] | outcomes.Fail:
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
                edited = edited_arguments(decision, _arguments(item))
                if isinstance(edited, outcomes.Fail):
                    return edited
                if edited is not None:
                    run.edits[call_id] = json.dumps(edited)
                state.approve(item)
            else:
                state.reject(item, rejection_message=denial_message(decision))
        return undecided

    async def _ask(self, ctx: Any, items: list[ToolApprovalItem]) -> Any:
        requests = []
        for item in items:
            options = await approval_options(self.approval, ctx, item)
            if isinstance(options, outcomes.Fail):
                return options
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


def _invalid_state(why: str) -> outcomes.Fail:
    return outcomes.fail(
        "invalid_agent_state",
        detail="the step's agent_state is not the state scoria_django.contrib.openai_agents "
        f"(version {STATE_VERSION}) saves: {why}",
    )


def _saved_state(value: Any) -> dict[str, Any] | outcomes.Fail | None:
    """The adapter's saved state with every field checked, or None before its first save;
    anything else (a state another adapter or a person wrote) fails the step with
    ``invalid_agent_state``."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or value.get("framework") != "openai-agents"
        or value.get("version") != STATE_VERSION
    ):
        return _invalid_state("another framework, version or shape")
    state: dict[str, Any] = {
        "run_state": value.get("run_state"),
        "decisions": value.get("decisions") or {},
        "tool_outputs": value.get("tool_outputs") or {},
        "final_output": value.get("final_output"),
    }
    if state["run_state"] is not None and not isinstance(state["run_state"], dict):
        return _invalid_state("run_state is not an object")
    for name in ("decisions", "tool_outputs"):
        entries = state[name]
        if not isinstance(entries, dict) or not all(
            isinstance(key, str) and isinstance(entry, dict) for key, entry in entries.items()
        ):
            return _invalid_state(f"{name} is not an object of call id to object")
    if any("output" not in entry for entry in state["tool_outputs"].values()):
        return _invalid_state("a tool output has no output")
    final = state["final_output"]
    if final is not None and not (isinstance(final, dict) and "value" in final):
        return _invalid_state("final_output has no value")
    return state


def _agent_named(root: Agent[Any], name: object) -> Agent[Any] | None:
    """``root`` or an agent it hands off to (at any depth) called ``name``."""
    seen: set[int] = set()
    queue: list[Any] = [root]
    while queue:
        agent = queue.pop(0)
        if not isinstance(agent, Agent) or id(agent) in seen:
            continue
        if agent.name == name:
            return agent
        seen.add(id(agent))
        queue.extend(agent.handoffs)
    return None


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
