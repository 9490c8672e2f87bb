"""Handlers and helpers of the runtime tests: module-level, so worker processes import them."""

import os
import threading
import time
from collections import Counter
from pathlib import Path

import scoria_django as scoria
from scoria_django.compat import DummyBackend

_lock = threading.Lock()
CALLS = Counter()  # idempotency_key -> executions in this process
SEEN = []  # what probe() saw
RELEASE = threading.Event()  # lets a blocked handler finish
STARTED = threading.Event()  # set when a blocking handler started
FINISHED = threading.Event()  # set when a blocking handler returned
ENQUEUED = []  # (run_id, step_id) of every task given to RecordingBackend


def reset():
    with _lock:
        CALLS.clear()
        SEEN.clear()
        ENQUEUED.clear()
    for event in (RELEASE, STARTED, FINISHED):
        event.clear()


def _count(ctx):
    with _lock:
        CALLS[ctx.idempotency_key] += 1
        return CALLS[ctx.idempotency_key]


def counting(ctx):
    _count(ctx)
    return {"done": True}


def scripted(ctx):
    """Plays ``ctx.input["script"]``: one outcome per execution of the step, the last repeats."""
    script = ctx.input["script"]
    position = min(_count(ctx), len(script)) - 1
    outcome = script[position]
    if outcome == "ok":
        return {"ok": True}
    if outcome == "wait":
        return scoria.wait_for_approval("deploy", {"target": "prod"})
    if outcome == "fail":
        return scoria.fail("scripted_failure")
    if outcome == "raise":
        raise RuntimeError("scripted exception")
    if outcome == "next":
        # The next step plays the rest of the script.
        rest = script[position + 1 :] or ["ok"]
        return scoria.complete(
            {"ok": True}, next_steps=[{"kind": "scripted", "input": {"script": rest}}]
        )
    if outcome == "not_json":
        return {"value": {1, 2}}
    raise AssertionError(f"unknown scripted outcome {outcome!r}")


def probe(ctx):
    """Returns (and keeps) everything the handler contract promises on ``ctx``."""
    seen = {
        "run_id": ctx.run.run_id,
        "run_status": ctx.run.status,
        "step_id": ctx.step["id"],
        "step_status": ctx.step["status"],
        "input": ctx.input,
        "handoff_input": ctx.handoff_input,
        "projected_context": ctx.projected_context,
        "identity": ctx.identity.as_dict(),
        "attempt": ctx.attempt,
        "approval": ctx.approval,
        "resume_input": ctx.resume_input,
        "idempotency_key": ctx.idempotency_key,
        "heartbeat": ctx.heartbeat(),
    }
    SEEN.append(seen)
    return seen


def approve_then_probe(ctx):
    if ctx.approval is None:
        return scoria.wait_for_approval("publish", {"draft": 1}, reason="needs a human")
    return probe(ctx)


def fail_once_then_probe(ctx):
    """Asks for approval, then fails its first approved run, then reports what it sees."""
    if ctx.approval is None:
        return scoria.wait_for_approval("publish")
    if _count(ctx) == 1:
        return scoria.fail("flaky")
    return probe(ctx)


def secret_raiser(ctx):
    api_key = "sk-live-do-not-leak"  # a local variable that must never reach the error
    raise PermissionError(f"upstream refused {len(api_key)}-char key")


def nul_raiser(ctx):
    raise ValueError("bad\x00byte \ud800 surrogate")


def returns_set(ctx):
    return {1, 2, 3}


def returns_bytes(ctx):
    return b"\x00\x01"


def returns_nan(ctx):
    return float("nan")


def returns_none(ctx):
    return None


def returns_list(ctx):
    return [1, "two"]


def bad_next_steps(ctx):
    return scoria.complete({"ok": True}, next_steps=[{"role_id": "x"}])


def fan_out(ctx):
    """Three queued children of kind counting; the run completes when all are done."""
    return scoria.complete(
        {"fanned": 3}, next_steps=[{"kind": "counting", "input": {"n": n}} for n in range(3)]
    )


def no_handler_next(ctx):
    return scoria.complete({"ok": True}, next_steps=[{"kind": "host_driven", "role_id": "host"}])


def blocking(ctx):
    """Blocks until the test sets RELEASE; counts its executions."""
    _count(ctx)
    STARTED.set()
    RELEASE.wait(30)
    FINISHED.set()
    return {"released": True}


def import_failure(ctx):
    import scoria_missing_module  # noqa: F401

    return {}


# -- crash recovery ----------------------------------------------------------------


def crash_once(ctx):
    """Side effect keyed by ``ctx.idempotency_key``; the first attempt then hangs to be killed."""
    directory = Path(ctx.input["dir"])
    with open(directory / "calls", "a") as calls:
        calls.write(f"{ctx.idempotency_key} {ctx.attempt}\n")
    effect = directory / ("effect-" + ctx.idempotency_key.replace(":", "_"))
    try:
        with open(effect, "x") as handle:  # exclusive create: the effect happens once
            handle.write(str(ctx.attempt))
    except FileExistsError:
        pass
    if ctx.attempt == 1:
        (directory / "started").write_text(str(os.getpid()))
        time.sleep(120)  # killed long before this ends
    return {"attempt": ctx.attempt}


def worker_main():
    """A worker process: executes one step through the task entry point, with a short lease."""
    import sys

    import django

    django.setup()
    from django.test.utils import override_settings

    from scoria_django.tasks import execute_step

    run_id, step_id = sys.argv[1:3]
    with override_settings(SCORIA_LEASE_SECONDS=1):
        execute_step.call(run_id, step_id)


class RecordingBackend(DummyBackend):
    """A backend that only records: shared by every thread, unlike DummyBackend.results."""

    def enqueue(self, task, args, kwargs):
        with _lock:
            ENQUEUED.append(tuple(args))
        return super().enqueue(task, args, kwargs)


def blank_approval(ctx):
    return scoria.wait_for_approval("  ")


def blank_failure(ctx):
    return scoria.fail("")


def payload_echo(ctx):
    return {"payload": ctx.payload, "metadata_keys": sorted(ctx.metadata)}


def leaky_raiser(ctx):
    """An exception whose message carries credentials, from deep in a call stack."""

    def connect(depth):
        if depth:
            return connect(depth - 1)
        padding = "x" * (ctx.input or {}).get("pad", 0)
        raise ConnectionError(
            f"cannot reach the model {padding} with Bearer abc.def.ghi "
            "and key sk-proj-0123456789abcdef"
        )

    return connect((ctx.input or {}).get("depth", 3))


def raises_with_a_dsn(ctx):
    raise ConnectionError("could not connect to postgres://app:s3cr3t-pw@db/prod")
