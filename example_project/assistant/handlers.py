"""The example's step handlers: module-level, so any worker process can import them.

``draft_reply`` drafts an answer and pauses for a person's approval before "sending" it;
``review_draft`` is the critic's delegated review of a draft (a bounded handoff).
"""

import scoria_django as scoria

from .drafting import compose_draft, review_findings


def draft_reply(ctx):
    """Kind ``approval``: draft, wait for approval, then complete with the approved reply."""
    ctx.progress("drafting a reply")  # shown live on the run page
    draft = compose_draft(_prompt(ctx))
    if ctx.approval is None:
        return scoria.wait_for_approval(
            "send_reply",
            {"draft": draft["text"], "keywords": draft["keywords"]},
            reason="A person approves every reply before it is sent.",
        )
    note = ctx.resume_input.get("note") if isinstance(ctx.resume_input, dict) else None
    return {
        "reply": draft["text"],
        "keywords": draft["keywords"],
        "approved_by": ctx.approval["approved_by"],
        "approval_note": note,
        "sent_key": ctx.idempotency_key,
    }


def review_draft(ctx):
    """Kind ``review``: the critic reads only its projected context, never the transcript."""
    context = ctx.projected_context or {}
    draft = context.get("draft_answer", "")
    findings = review_findings(draft)
    return {
        "verdict": "revise" if findings else "approve",
        "findings": findings,
        "task": context.get("task"),
        "brief": (ctx.handoff_input or {}).get("brief"),
        "reviewed_chars": len(draft),
    }


def summarise(ctx):
    """Kind ``summary``: a step that completes at once (no approval)."""
    return compose_draft(_prompt(ctx))


def _prompt(ctx):
    """The prompt from the run payload (the guide's ``runtime.metadata.payload``) or step input."""
    for source in (ctx.payload, ctx.input):
        if isinstance(source, dict) and source.get("prompt"):
            return source["prompt"]
    return ""
