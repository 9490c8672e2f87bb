"""``async def`` handlers for tests/test_async_handlers.py (importable by workers)."""

import asyncio

import scoria_django as scoria


async def echo(ctx):
    await asyncio.sleep(0)
    beat = await ctx.aheartbeat()
    await ctx.aprogress("thinking", step=1)
    await ctx.arecord_usage(input_tokens=10, output_tokens=4, model="test-model")
    saved = await ctx.asave_agent_state({"messages": ["hello"]})
    return scoria.complete({"echo": ctx.input, "heartbeat": beat, "saved": saved})


@scoria.handler(timeout=0.3)
async def sleeper(ctx):
    await asyncio.sleep(30)
    return scoria.complete({"late": True})


async def raises(ctx):
    await asyncio.sleep(0)
    raise RuntimeError("async boom")


def orm_without_twin(ctx):
    return scoria.complete({"ok": True})
