"""Handlers of the approval tests: module-level, so any worker process can import them."""

import scoria_django as scoria

RUNS = []  # (step attempt, ctx.approvals) each time a gated handler runs again


def gated(ctx):
    """One approval; the request's options come from the step input."""
    if ctx.approval:
        RUNS.append(ctx.approvals)
        seen = ctx.approval
        return {
            "decision": seen["decision"],
            "decided_by": seen["decided_by"],
            "arguments": seen["arguments"],
            "input": seen["input"],
            "reason": seen["reason"],
            "comment": seen["comment"],
            "sent": seen["decision"] == "approved",
        }
    options = (ctx.input or {}).get("options", {})
    return scoria.wait_for_approval("send_reply", {"text": "hello"}, "outbound", **options)


def two_tools(ctx):
    """Two tool calls in one pause; each runs only if approved, with its final arguments."""
    if ctx.approvals:
        RUNS.append(ctx.approvals)
        return {
            "ran": [
                {"call_id": a["call_id"], "arguments": a["arguments"]}
                for a in ctx.approvals
                if a["decision"] == "approved"
            ],
            "decisions": [a["decision"] for a in ctx.approvals],
        }
    return scoria.wait_for_approvals(
        [
            scoria.approval_request("search", {"q": "docs"}, call_id="call-1"),
            scoria.approval_request("send_email", {"to": "a@example.com"}, call_id="call-2"),
        ]
    )


def asks_twice_with_one_call_id(ctx):
    """Pauses again with the call_id its first pause used: the step fails."""
    return scoria.wait_for_approvals([scoria.approval_request("tool", call_id="same")])


def bad_request(ctx):
    return scoria.wait_for_approval("tool", expires_in=-1)
