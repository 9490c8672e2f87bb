"""Handlers executed by real worker processes (module level, so workers import them).

Each leaves a mark file ``<marks>/<step_id>.<attempt>`` holding the pid that runs it, so a
test knows which process to kill, freeze or wait for.
"""

import os
import random
import time
from pathlib import Path

from scoria_django.outcomes import complete, wait_for_approval


def _mark(ctx):
    marks = Path(ctx.input["marks"])
    path = marks / f"{ctx.step['id']}.{ctx.attempt}"
    path.write_text(str(os.getpid()))


def hang_on_first_attempt(ctx):
    """The first attempt hangs (to be killed or frozen); a retry answers at once."""
    _mark(ctx)
    if ctx.attempt == 1:
        time.sleep(ctx.input["hang"])
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
