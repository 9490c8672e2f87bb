"""The example's step handlers: module-level, so any worker process can import them.

``reply`` runs the assistant agent (assistant/agent.py): its ``send_reply`` tool pauses for
a person's approval before it sends (a long reply needs a lead, and an unanswered request
expires and is rejected); ``review_draft`` is the critic's delegated review of a sent reply
that mentions a policy (a bounded handoff).
"""

from django.conf import settings

import scoria_django as scoria
from scoria_django.contrib.pydantic_ai import agent_handler

from .agent import ReplyDeps, assistant_agent, configured_model
from .drafting import compose_draft, needs_bounded_review, review_findings

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


def reply_deps(ctx):
    """The tool's view of the step: the run, the step's idempotency key, and the decisions of
    its last pause by tool call id (who approved the reply it sends)."""
    return ReplyDeps(
        run_id=str(ctx.run.run_id),
        step_key=ctx.idempotency_key,
        decisions={item["call_id"]: item for item in ctx.approvals if item.get("call_id")},
    )


def send_reply_approval(ctx, call):
    """Every ``send_reply`` call waits for a person: the host's policy picks who and how long."""
    draft = str(call.args_as_dict().get("draft", ""))
    return {"reason": "A person approves every reply before it is sent.", **approval_rules(draft)}


def finish(ctx, answer):
    """The agent's final answer, with the decision on its reply; a sent reply that mentions a
    policy is handed to the critic for a bounded review of exactly that reply."""
    decision = ctx.approval
    if decision is None or decision["decision"] != "approved":
        return scoria.complete(
            {
                "answer": answer,
                "reply": None,
                "sent": False,
                "decision": decision["decision"] if decision else None,
                "decided_by": decision["decided_by"] if decision else None,
                "reason": decision["reason"] if decision else None,
            }
        )
    arguments = decision["arguments"] if isinstance(decision["arguments"], dict) else {}
    reply = str(arguments.get("draft", ""))
    if needs_bounded_review(reply):
        return scoria.handoff(
            "critic",
            "review",
            handoff_input={"brief": "Review the reply for policy and accuracy"},
            # The critic sees the reply and its task, never the agent's transcript.
            projected_context={"task": "policy-and-accuracy review", "draft_answer": reply},
            capability_tags=["read_only"],
        )
    note = ctx.resume_input.get("note") if isinstance(ctx.resume_input, dict) else None
    return scoria.complete(
        {
            "answer": answer,
            "reply": reply,
            "sent": True,
            "approved_by": decision["approved_by"],
            "approval_note": note or decision["comment"],
        }
    )


def assistant_model(ctx):
    return configured_model()


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


# Kind ``approval``: the agent drafts, ``send_reply`` pauses the run for a person (approve,
# approve with an edited draft, or reject), the tool sends what was approved, and the agent
# says what happened. Its message history is saved on the step between the two runs.
reply = agent_handler(
    assistant_agent,
    prompt=_prompt,
    deps=reply_deps,
    approval=send_reply_approval,
    on_output=finish,
    model=assistant_model,
)
