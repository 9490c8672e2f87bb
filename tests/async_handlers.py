"""``async def`` handlers for tests/test_async_handlers.py (importable by workers)."""

import asyncio
import threading
import time

import scoria_django as scoria

STARTED = threading.Event()  # set when a long-awaiting handler started its await
CANCELLED = {}  # "at": monotonic time the handler saw its task cancelled
SEEN = []  # what handlers saw, per execution


class RateLimited(Exception):
    pass


def reset():
    STARTED.clear()
    CANCELLED.clear()
    SEEN.clear()


async def echo(ctx):
    await asyncio.sleep(0)
    beat = await ctx.aheartbeat()
    await ctx.aprogress("thinking", step=1)
    await ctx.arecord_usage(input_tokens=10, output_tokens=4, model="test-model")
    saved = await ctx.asave_agent_state({"messages": ["hello"]})
    return scoria.complete({"echo": ctx.input, "heartbeat": beat, "saved": saved})


async def _await_cancellation(seconds):
    """Await ``seconds``; note when the task is cancelled instead, and re-raise."""
    STARTED.set()
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        CANCELLED["at"] = time.monotonic()
        raise


@scoria.handler(timeout=0.3)
async def sleeper(ctx):
    """Ignores its cancellation and answers anyway: a late result to discard."""
    try:
        await _await_cancellation(30)
    except asyncio.CancelledError:
        return scoria.complete({"late": True})
    return scoria.complete({"slept": True})


async def awaits_forever(ctx):
    await _await_cancellation(60)
    return scoria.complete({"never": True})


async def raises(ctx):
    await asyncio.sleep(0)
    raise RuntimeError("async boom")


async def orm_without_twin(ctx):
    """Calls the sync ``heartbeat()`` (a database write) from the event loop."""
    ctx.heartbeat()
    return scoria.complete({"ok": True})


async def approving(ctx):
    """Asks before acting; on its next run reads back the agent state it saved."""
    if ctx.approval is None:
        await ctx.asave_agent_state({"messages": ["asked"]})
        await ctx.arecord_usage(input_tokens=100, output_tokens=20, model="model-a")
        return scoria.wait_for_approval("send_reply", {"text": "hi"}, reason="outbound")
    await ctx.arecord_usage(input_tokens=50, output_tokens=5, model="model-b")
    state = ctx.agent_state
    await ctx.asave_agent_state({"messages": [*state["messages"], "sent"]})
    return {"decision": ctx.approval["decision"], "state_before": state}


@scoria.handler(
    retry=scoria.RetryPolicy(
        max_attempts=3, initial_interval=0.01, jitter=False, retry_on=(RateLimited,)
    )
)
async def flaky(ctx):
    await asyncio.sleep(0)
    SEEN.append(ctx.attempt)
    if ctx.attempt < 3:
        raise RateLimited("429 slow down")
    return {"attempt": ctx.attempt}


async def twins(ctx):
    """Every awaitable twin, with what each answered."""
    beat = await ctx.aheartbeat()
    await ctx.aprogress("step one", done=1)
    first = await ctx.arecord_usage(input_tokens=7, output_tokens=3, requests=1, model="m1")
    await ctx.arecord_usage(input_tokens=5, output_tokens=0, requests=2, model="m2")
    saved = await ctx.asave_agent_state({"turn": 1})
    saved_again = await ctx.asave_agent_state({"turn": 2})
    return {
        "heartbeat": beat,
        "entry": first,
        "saved": [saved, saved_again],
        "state": ctx.agent_state,
    }


def sync_usage(ctx):
    """The sync methods, from a sync handler: two models, then bad values."""
    ctx.record_usage(input_tokens=1000, output_tokens=200, model="priced-model")
    ctx.record_usage(input_tokens=300, output_tokens=0, requests=2, model="free-model")
    ctx.record_usage(input_tokens=500, output_tokens=100, model="priced-model")
    return {"saved": ctx.save_agent_state({"notes": ["one"]})}


def bad_usage(ctx):
    usage = dict(ctx.input)
    if usage.get("model") == "<NUL>":  # a step's input cannot carry a NUL: made here
        usage["model"] = "nul\x00"
    ctx.record_usage(**usage)
    return {"recorded": True}


BAD_STATES = {
    "nan": lambda: float("nan"),
    "set": lambda: {"tags": {1, 2}},
    "big": lambda: {"history": "x" * 2_000_000},
}


def bad_state(ctx):
    return {"saved": ctx.save_agent_state(BAD_STATES[ctx.input["state"]]())}


async def cancels_itself_then_awaits(ctx):
    """Its own heartbeat is the first to see the claim gone: the task must still be
    cancelled by the next renewal, not left to run until its timeout."""
    from asgiref.sync import sync_to_async

    await sync_to_async(scoria.cancel_run)(ctx.run.run_id, reason="operator")
    SEEN.append(await ctx.aheartbeat())
    await _await_cancellation(60)
    return scoria.complete({"never": True})
