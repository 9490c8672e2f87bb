"""Handlers of the execution-policy tests: module-level, so workers can import them."""

import threading
import time

import scoria_django as scoria

ATTEMPTS = {}  # step id -> attempts seen
STARTED = threading.Event()
STOPPED = {}  # "reason" -> monotonic time the looping handler noticed


class RateLimited(Exception):
    pass


def reset():
    ATTEMPTS.clear()
    STARTED.clear()
    STOPPED.clear()


@scoria.handler(
    retry=scoria.RetryPolicy(
        max_attempts=3,
        initial_interval=0.05,
        backoff_factor=2.0,
        jitter=False,
        retry_on=(RateLimited,),
    )
)
def flaky(ctx):
    """Rate-limited on its first two attempts (or as many as the input says)."""
    ATTEMPTS[ctx.step["id"]] = ctx.attempt
    if ctx.attempt <= (ctx.input or {}).get("failures", 2):
        raise RateLimited("429 slow down")
    return {"attempt": ctx.attempt}


@scoria.handler(retry=scoria.RetryPolicy(max_attempts=3, retry_on=(RateLimited,)))
def wrong_error(ctx):
    raise KeyError("not retryable")


@scoria.handler(retry=scoria.RetryPolicy(max_attempts=2, initial_interval=0.01, jitter=False))
def polls(ctx):
    """Polls an external system that never answers: retry_later until the budget ends."""
    return scoria.retry_later(0.01, reason="not ready")


def timer(ctx):
    """Queues a follow-up due after the delay in the input."""
    if ctx.step["kind"] == "timer":
        return scoria.complete(
            {"scheduled": True},
            next_steps=[{"kind": "reminder", "delay": (ctx.input or {}).get("delay", 0.2)}],
        )
    return {"reminded": True}


def forever(ctx):
    """Always queues one more step."""
    return scoria.complete({"n": ctx.step["sequence"]}, next_steps=[{"kind": "forever"}])


def loops_on_heartbeat(ctx):
    STARTED.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if not ctx.heartbeat():
            STOPPED["heartbeat"] = time.monotonic()
            return {"stopped": True}
        time.sleep(0.02)
    return {"stopped": False}


def loops_on_cancelled(ctx):
    STARTED.set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ctx.cancelled:
            STOPPED["cancelled"] = time.monotonic()
            return {"stopped": True}
        time.sleep(0.02)
    return {"stopped": False}
