"""Handlers for the handoff tests: module-level, so any worker process can import them."""

import scoria_django as scoria

DRAFT_CONTEXT = {"task": "policy-and-accuracy review", "draft_answer": "The policy allows it."}


def review(ctx):
    """The delegated role: sees only its brief and the projected context."""
    return {
        "brief": ctx.handoff_input["brief"],
        "reviewed": ctx.projected_context["draft_answer"],
        "role": ctx.step["role_id"],
    }


def review_after_approval(ctx):
    if ctx.approval is None:
        return scoria.wait_for_approval("publish_review", {"draft": "d1"}, reason="policy")
    return {"approved_by": ctx.approval["approved_by"]}


def review_rejects(ctx):
    return scoria.fail("draft_rejected", score=2)


def review_fails_first_attempt(ctx):
    if ctx.attempt == 1:
        return scoria.fail("reviewer_unavailable")
    return {"reviewed_on_attempt": ctx.attempt}


def delegate(ctx):
    return scoria.handoff(
        "critic",
        "review",
        {"brief": "Review the draft answer"},
        DRAFT_CONTEXT,
        capability_tags=["read", 7],
    )


def plan_then_delegate(ctx):
    """A first step that queues a second one, which delegates: handoff from a later step."""
    return scoria.complete({"planned": True}, next_steps=[{"kind": "draft", "role_id": "writer"}])


def delegate_to_auditor(ctx):
    """A delegated child that delegates again; no handler exists for ``audit``."""
    return scoria.handoff("auditor", "audit", {"brief": "audit"}, {"finding": "ok"})


def delegate_chat_history(ctx):
    return scoria.handoff("critic", "review", {}, {"task": "t", "chatHistory": []})


def delegate_nested_unsafe(ctx):
    return scoria.handoff("critic", "review", {}, {"items": [{"messages": []}]})


def delegate_list_context(ctx):
    return scoria.handoff("critic", "review", {}, ["not", "a", "dict"])


def delegate_without_context(ctx):
    return scoria.handoff("critic", "review", {"brief": "b"})


def delegate_blank_role(ctx):
    return scoria.handoff("  ", "review", {}, {})


def delegate_blank_kind(ctx):
    return scoria.handoff("critic", "", {}, {})


def delegate_list_input(ctx):
    return scoria.handoff("critic", "review", ["brief"], {})


def delegate_string_tags(ctx):
    return scoria.handoff("critic", "review", {}, {}, capability_tags="read")


def delegate_nan_context(ctx):
    return scoria.handoff("critic", "review", {}, {"score": float("nan")})
