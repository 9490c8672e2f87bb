"""What the agent adapters (``contrib.pydantic_ai``, ``contrib.openai_agents``) share, free
of any framework: the step a tool runs in, the prompt a step gives its agent, the options a
host adds to each approval, what the model reads when a call was not approved, and the
JSON of a final output. One behaviour for both: a missing prompt or bad approval options
fail the step with the same reasons.
"""

from __future__ import annotations

import contextvars
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .. import outcomes
from ..exceptions import InvalidOption, ScoriaError

if TYPE_CHECKING:
    from ..runtime.context import StepContext

# What ``approval(ctx, call)`` may set on a request; the tool name, arguments and call id
# are the model's.
APPROVAL_OPTIONS = frozenset({"reason", "assignees", "groups", "expires_in", "on_expiry"})

# The step whose agent is running now. A contextvar: frameworks run tools in tasks (and
# threads) that copy the context.
_current_step: contextvars.ContextVar[StepContext | None] = contextvars.ContextVar(
    "scoria_agent_step", default=None
)


class NoStepRunning(ScoriaError, LookupError):
    """``step_context()`` was called outside a step that runs an agent."""

    code = "no_step_running"


class ClaimLost(RuntimeError):
    """The step's claim was lost while its agent ran (the run was cancelled, or recovery gave
    the step to another worker): the agent stops, its result would be discarded and the
    saved state is the next holder's."""


async def save_state(ctx: StepContext, state: object) -> None:
    """Save the agent's state on the step, or stop the agent (``ClaimLost``) when the claim
    is gone: a worker that lost its step must not go on calling models and tools."""
    if not await ctx.asave_agent_state(state):
        raise ClaimLost("the step's claim was lost; its agent stops here")


def edited_arguments(decision: Mapping[str, Any], requested: object) -> object:
    """The arguments an approved call runs with: the approver's edit when it differs from
    the request, else None (run as requested). An edit that is not a JSON object fails the
    step (``invalid_approval_arguments``): tools take named arguments."""
    arguments = decision.get("arguments")
    if arguments is None or arguments == requested:
        return None
    if not isinstance(arguments, Mapping):
        return outcomes.fail(
            "invalid_approval_arguments",
            call_id=decision.get("call_id"),
            detail="the edited arguments of a tool call must be a JSON object",
        )
    return dict(arguments)


@contextmanager
def running_step(ctx: StepContext) -> Iterator[None]:
    """Make ``ctx`` the step of ``step_context()`` while the agent runs."""
    token = _current_step.set(ctx)
    try:
        yield
    finally:
        _current_step.reset(token)


def step_context() -> StepContext:
    """The ``ctx`` of the step whose agent is running: for tools, deps or context factories
    that need the run, the identity or ``ctx.idempotency_key``; raises ``no_step_running``
    elsewhere."""
    ctx = _current_step.get()
    if ctx is None:
        raise NoStepRunning("step_context() is only available while agent_handler runs an agent")
    return ctx


def call_key(call_id: str | None) -> str:
    """``"<run_id>:<step_id>:<call_id>"``: the same on every rerun of the step, for the
    system a tool writes to (it closes the crash window the adapters' pages describe)."""
    if not call_id:
        raise InvalidOption("a tool call key needs the call's id", field="call_id")
    return f"{step_context().idempotency_key}:{call_id}"


def caller_module(depth: int = 2) -> str:
    """The module of the code ``depth`` frames up: where ``agent_handler(...)`` is assigned
    to the module-level name a worker imports it by (``runtime.handlers``)."""
    return sys._getframe(depth).f_globals.get("__name__", __name__)


def check_callables(**hooks: object) -> None:
    for name, value in hooks.items():
        if value is not None and not callable(value):
            raise InvalidOption(f"agent_handler {name}= must be a callable", field=name)


async def call_hook(function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``, awaited when it returns an awaitable (hooks may be either)."""
    value = function(*args)
    if inspect.isawaitable(value):
        value = await value
    return value


def default_prompt(ctx: StepContext) -> object:
    """``ctx.input`` when it is a string, else ``ctx.input["prompt"]``, else the run
    payload's ``"prompt"`` or ``"message"``."""
    value = ctx.input
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and "prompt" in value:
        return value["prompt"]
    payload = ctx.payload
    if isinstance(payload, Mapping):
        for key in ("prompt", "message"):
            if key in payload:
                return payload[key]
    return None


def missing_prompt() -> outcomes.Fail:
    return outcomes.fail(
        "agent_prompt_missing",
        detail='no prompt: give the step input a "prompt" (or a string), the run payload a '
        '"prompt" or "message", or agent_handler(prompt=...)',
    )


async def approval_options(
    approval: Callable[..., Any] | None, ctx: StepContext, call: object
) -> dict[str, Any] | outcomes.Fail:
    """What the host's ``approval(ctx, call)`` adds to that call's request (``{}`` without
    one); a value that is not a mapping of ``APPROVAL_OPTIONS`` fails the step."""
    if approval is None:
        return {}
    options = await call_hook(approval, ctx, call)
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not set(options) <= APPROVAL_OPTIONS:
        return outcomes.fail(
            "invalid_outcome",
            detail="approval(ctx, call) must return None or a dict of "
            + ", ".join(sorted(APPROVAL_OPTIONS)),
        )
    return dict(options)


def denial_message(decision: Mapping[str, Any]) -> str:
    """What the model reads instead of the tool's result: the decision and the person's
    words, never who decided."""
    if decision.get("decision") == "expired":
        message = "The tool call was not approved in time, so it did not run."
    else:
        message = "The tool call was rejected by a reviewer, so it did not run."
    if decision.get("reason"):
        message += f" Reason: {decision['reason']}"
    if decision.get("comment"):
        message += f" Comment: {decision['comment']}"
    return message


def output_json(output: object) -> object:
    """A final output as JSON values: text as it is; a pydantic model, a dataclass, dates
    and the rest through pydantic's encoder (both frameworks stand on pydantic)."""
    if isinstance(output, str):
        return output
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(output, serialize_unknown=True)


def complete_with_output(ctx: StepContext, output: object) -> outcomes.Complete:
    """The default ``on_output``: the step completes with ``{"output": <its JSON>}``."""
    return outcomes.complete({"output": output_json(output)})
