"""Handlers executed by real worker processes (module level, so workers import them).

Each leaves a mark file ``<marks>/<step_id>.<attempt>`` holding the pid that runs it, so a
test knows which process to kill, freeze or wait for.
"""

import os
import random
import time
from pathlib import Path

from scoria_django.outcomes import complete, wait_for_approval
from scoria_django.policies import RetryPolicy, handler


def _mark(ctx, suffix="", text=None):
    marks = Path(ctx.input["marks"])
    path = marks / f"{ctx.step['id']}.{ctx.attempt}{suffix}"
    path.write_text(str(os.getpid()) if text is None else text)


def hang_on_first_attempt(ctx):
    """The first attempt hangs (to be killed or frozen); a retry answers at once.

    After hanging it asks ``ctx.heartbeat()`` whether its claim still holds and leaves
    the answer in ``<step>.<attempt>.heartbeat``: a frozen worker learns it lost the step.
    """
    _mark(ctx)
    if ctx.attempt == 1:
        time.sleep(ctx.input["hang"])
        _mark(ctx, ".heartbeat", str(ctx.heartbeat()))
    return {"attempt": ctx.attempt, "pid": os.getpid()}


def crash_worker(ctx):
    """Takes its whole worker process down, every time."""
    _mark(ctx)
    os._exit(17)


def sleep_for(ctx):
    """Outlives its lease; only the executor's renewal keeps the claim."""
    _mark(ctx)
    time.sleep(ctx.input["seconds"])
    return {"slept": ctx.input["seconds"], "attempt": ctx.attempt}


def heartbeating(ctx):
    """A long loop that reports progress with ``ctx.heartbeat()``, as the docs advise."""
    _mark(ctx)
    beats = []
    deadline = time.monotonic() + ctx.input["seconds"]
    while time.monotonic() < deadline:
        time.sleep(0.2)
        beats.append(ctx.heartbeat())
    return {"beats": len(beats), "all_held": all(beats)}


# The soak's handlers: short, random, and each kind exercises one path of the runtime.


def soak_quick(ctx):
    time.sleep(random.uniform(0, 0.15))
    return {"ok": True}


def soak_chain(ctx):
    time.sleep(random.uniform(0, 0.1))
    return complete({"chained": True}, next_steps=[{"kind": "quick"}, {"kind": "quick"}])


def soak_approval(ctx):
    if ctx.approval is None:
        return wait_for_approval("soak_tool", {"n": 1}, reason="soak")
    return {"approved_by": ctx.approval["approved_by"]}


def soak_slow(ctx):
    time.sleep(random.uniform(0.5, 2))  # outlives the lease: renewed, not reclaimed
    return {"slow": True}


SOAK_HANDLERS = {
    "quick": "tests.workers.handlers.soak_quick",
    "chain": "tests.workers.handlers.soak_chain",
    "approval": "tests.workers.handlers.soak_approval",
    "slow": "tests.workers.handlers.soak_slow",
}


# Execution policies on real workers: retries with backoff and durable timers.


class Throttled(Exception):
    """What a rate-limited model provider raises."""


@handler(
    retry=RetryPolicy(
        max_attempts=5, initial_interval=0.2, backoff_factor=2.0, retry_on=(Throttled,)
    )
)
def throttled_twice(ctx):
    """Rate-limited on its first two attempts, then answers."""
    if ctx.attempt <= 2:
        raise Throttled("429")
    return {"attempt": ctx.attempt, "pid": os.getpid()}


def timer_then_reminder(ctx):
    """Schedules a reminder two seconds out; the reminder answers."""
    if ctx.step["kind"] == "timer":
        return complete({"scheduled": True}, next_steps=[{"kind": "reminder", "delay": 2}])
    return {"reminded": True, "pid": os.getpid()}
