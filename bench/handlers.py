"""Handlers the benchmarks register: module-level so db_worker processes can import them."""

import scoria_django as scoria


def chain(ctx):
    """Steps 1 and 2 of the 3-step lifecycle: each queues the next."""
    n = (ctx.input or {}).get("n", 1)
    kind = "chain" if n < 2 else "finish"
    return scoria.complete({"n": n}, next_steps=[{"kind": kind, "input": {"n": n + 1}}])


def finish(ctx):
    """Step 3: completes, and with it the run."""
    return {"n": (ctx.input or {}).get("n")}


def approval(ctx):
    """Asks for approval once; completes when resumed."""
    if ctx.approval:
        return {"approved_by": ctx.approval["approved_by"]}
    return scoria.wait_for_approval("send_email", {"to": "a@example.com"}, reason="external")
