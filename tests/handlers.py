"""Handlers the tests register: module-level, so any worker process can import them."""

import time

import scoria_django as scoria

CALLS = []


def echo(ctx):
    CALLS.append(("echo", ctx.idempotency_key))
    return {"echo": ctx.input, "payload": ctx.payload}


def wait_for_approval(ctx):
    CALLS.append(("approval", ctx.idempotency_key))
    if ctx.approval:
        return {"approved_by": ctx.approval["approved_by"], "input": ctx.approval["input"]}
    return scoria.wait_for_approval("send_email", {"to": "a@example.com"}, reason="external")


def succeed(ctx):
    CALLS.append(("succeed", ctx.idempotency_key))
    return "ok"


def boom(ctx):
    raise ValueError("handler exploded")


def returns_bytes(ctx):
    return b"bytes"


def returns_nan(ctx):
    return {"value": float("nan")}


def chain(ctx):
    """Three steps: chain -> chain -> echo."""
    n = (ctx.input or {}).get("n", 1)
    if n < 2:
        return scoria.complete({"n": n}, next_steps=[{"kind": "chain", "input": {"n": n + 1}}])
    return scoria.complete({"n": n}, next_steps=[{"kind": "echo", "input": {"n": n + 1}}])


def slow(ctx):
    time.sleep((ctx.input or {}).get("sleep", 1.0))
    return "late"


def failing(ctx):
    return scoria.fail("quota_exceeded", limit=3)


def delegate(ctx):
    return scoria.handoff(
        "critic",
        "review",
        {"brief": "check"},
        {"task": "review", "draft_answer": "x"},
        capability_tags=["read"],
    )


def delegate_unsafe(ctx):
    return scoria.handoff("critic", "review", {}, {"chat_history": []})


def delegate_not_dict(ctx):
    return scoria.handoff("critic", "review", {}, ["not", "a", "dict"])


def review(ctx):
    return {"reviewed": ctx.projected_context.get("draft_answer"), "brief": ctx.handoff_input}


def progress_burst(ctx):
    """Three reports in a burst: with a long interval only the first and the last remain."""
    for word in ("first", "second", "third"):
        ctx.progress(word, word=word)
    return "done"


def progress_while_running(ctx):
    """Two quick reports, then wait (while running) for the timer to write the second."""
    from django.db import OperationalError

    from scoria_django.models import Event

    ctx.progress("a")
    ctx.progress("b")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            written = Event.objects.filter(step_id=ctx.step["id"], event_type="progress").count()
        except OperationalError:  # SQLite: the timer's write holds the table a moment
            written = 0
        if written == 2:
            return {"written_while_running": True}
        time.sleep(0.02)
    return {"written_while_running": False}


def progress_bad_message(ctx):
    ctx.progress(42)
    return "unreachable"
