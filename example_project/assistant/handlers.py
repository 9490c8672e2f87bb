"""The example's step handlers: module-level, so any worker process can import them.

``draft_reply`` drafts an answer and pauses for a person's approval before "sending" it
(a long reply needs a lead, and an unanswered request expires and is rejected);
``review_draft`` is the critic's delegated review of a draft (a bounded handoff).
"""

from django.conf import settings

import scoria_django as scoria

from .drafting import compose_draft, review_findings

LEADS = "leads"
# The defaults of the two settings (example_project/settings.py sets them explicitly).
LEAD_REVIEW_CHARS = 200
APPROVAL_EXPIRES_SECONDS = 24 * 3600


def approval_rules(text):
    """Who may approve a reply, and how long they have: the host's policy, in settings."""
    limit = getattr(settings, "ASSISTANT_LEAD_REVIEW_CHARS", LEAD_REVIEW_CHARS)
    expires = getattr(settings, "ASSISTANT_APPROVAL_EXPIRES_SECONDS", APPROVAL_EXPIRES_SECONDS)
    return {
        "groups": [LEADS] if len(text) > limit else [],
        "expires_in": expires or None,  # 0: never expires
        "on_expiry": "reject",
    }


def draft_reply(ctx):
    """Kind ``approval``: draft, wait for approval, then complete with the approved reply
    (as the approver edited it), or complete unsent when it was rejected or expired."""
    ctx.progress("drafting a reply")  # shown live on the run page
    draft = compose_draft(_prompt(ctx))
    if ctx.approval is None:
        return scoria.wait_for_approval(
            "send_reply",
            {"draft": draft["text"], "keywords": draft["keywords"]},
            reason="A person approves every reply before it is sent.",
            **approval_rules(draft["text"]),
        )
    decision = ctx.approval
    if decision["decision"] != "approved":
        return {
            "reply": None,
            "sent": False,
            "decision": decision["decision"],
            "decided_by": decision["decided_by"],
            "reason": decision["reason"],
        }
    arguments = decision["arguments"] if isinstance(decision["arguments"], dict) else {}
    note = ctx.resume_input.get("note") if isinstance(ctx.resume_input, dict) else None
    return {
        "reply": arguments.get("draft", draft["text"]),
        "sent": True,
        "keywords": arguments.get("keywords", draft["keywords"]),
        "approved_by": decision["approved_by"],
        "approval_note": note or decision["comment"],
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
