"""The guide's controller, in Django: identity -> start -> inspect -> resume.

``start`` persists the exact ``run_id`` in the Django session and redirects to the run
page; a new turn in the same browser session reuses the scoria ``session_id`` (kept by
the middleware) and gets a fresh ``run_id``.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

import scoria_django as scoria
from scoria_django.streaming import EVENT_TYPES

from . import handlers
from .agent import final_answer
from .forms import ApprovalForm, CancelForm, PromptForm, RejectForm
from .models import SentReply

LAST_RUN_KEY = "last_scoria_run_id"
REPLY_HANDLER = "example_project.assistant.handlers.reply"
# Plain strings: TextChoices members hash by name, so set lookups need the values.
ACTIVE = frozenset({"running", "waiting_for_approval"})


def _identity(request):
    """One normalised identity per request: actor, tenant and session from the middleware."""
    return scoria.Identity.from_request(request, metadata={"channel": "web"})


@login_required
@require_GET
def home(request):
    session_id = request.scoria_identity.session_id
    return render(
        request,
        "assistant/home.html",
        {
            "form": PromptForm(),
            "timeline": scoria.list_runs_for_session(session_id, limit=20),
            "last_run_id": request.session.get(LAST_RUN_KEY),
        },
    )


@login_required
@require_POST
def start(request):
    form = PromptForm(request.POST)
    if not form.is_valid():
        context = {"form": form, "timeline": [], "last_run_id": None}
        return render(request, "assistant/home.html", context, status=400)
    prompt = form.cleaned_data["prompt"]
    try:
        # One turn is all-or-nothing; its step runs once this block commits.
        with transaction.atomic():
            started = scoria.start_run(
                _identity(request),
                root_role_id="executor",
                initial_step={
                    "sequence": 1,
                    "kind": "approval",
                    "role_id": "executor",
                    "status": "queued",
                },
                runtime={"metadata": {"payload": {"prompt": prompt}}},
                # The agent, and the critic it may hand a sent reply to. A path: the agent's
                # handler is built by agent_handler(), not a def.
                handlers={"approval": REPLY_HANDLER, "review": handlers.review_draft},
            )
    except scoria.ScoriaError as exc:
        form.add_error(None, f"{exc.code}: {exc.detail}")
        context = {"form": form, "timeline": [], "last_run_id": None}
        return render(request, "assistant/home.html", context, status=400)
    request.session[LAST_RUN_KEY] = started.run_id
    return redirect("assistant:run", run_id=started.run_id)


def _visible_run(request, run_id):
    """The run, if it belongs to this request's tenant and this user started it (staff:
    any run of their tenant); otherwise a plain 404, the same as for an unknown id.

    Staff are operators of their own tenant only: the tenant comes from
    ``SCORIA_TENANT_RESOLVER``, as on scoria's own operator pages.
    """
    identity = request.scoria_identity
    try:
        summary = scoria.get_run(run_id)
    except scoria.ScoriaNotFound:
        raise Http404("No such run.") from None
    mine = summary.actor_id == identity.actor_id
    if summary.tenant_id != identity.tenant_id or not (mine or request.user.is_staff):
        raise Http404("No such run.")
    return summary


@login_required
@require_GET
def run_page(request, run_id):
    summary = _visible_run(request, run_id)
    detail = scoria.get_run_detail(summary.run_id)
    agent_step = detail.steps[0] if detail.steps else None
    output = agent_step["output"] if agent_step and agent_step["status"] == "completed" else None
    # Every send_reply call of the run, decided or not: the draft, then what became of it.
    approvals = scoria.list_approvals(
        identity=scoria.identity(tenant_id=summary.tenant_id), run_id=summary.run_id, status=None
    )
    pending = [approval for approval in approvals if approval.status == "pending"]
    timeline = (
        scoria.list_runs_for_session(summary.session_id, limit=50)
        if summary.session_id
        else [summary]
    )
    user = request.user
    # The page streams the run's events after the last one it shows (static live.js).
    shown = detail.events[-1]["sequence"] if detail.events else 0
    stream_url = reverse("scoria_api:run-stream", args=[summary.run_id])
    can_decide = summary.awaiting_approval and user.has_perm("scoria_django.resume_run")
    return render(
        request,
        "assistant/run.html",
        {
            "stream_url": f"{stream_url}?after={shown}",
            "stream_event_types": EVENT_TYPES,
            "run": summary,
            "detail": detail,
            "prompt": (detail.metadata.get("payload") or {}).get("prompt"),
            "approvals": approvals,
            "pending": pending[0] if pending else None,
            "sent_replies": list(SentReply.objects.filter(run_id=summary.run_id)),
            "result": output,
            # The agent's last words, from its message history on the step (also there when
            # the step ended in a handoff, whose output names only the critic).
            "answer": (output or {}).get("answer")
            or final_answer(agent_step["agent_state"] if agent_step else None),
            "failure": detail.error,
            "delegated": _delegated_evidence(detail),
            "timeline": timeline,
            "can_resume": can_decide,
            "can_cancel": summary.status in ACTIVE and user.has_perm("scoria_django.cancel_run"),
            "approval_form": ApprovalForm(initial=_approval_initial(pending)),
            "reject_form": RejectForm(),
            "cancel_form": CancelForm(),
            "next_turn_form": PromptForm(),
        },
    )


def _approval_initial(pending):
    """The approve form starts from the first pending draft, as the agent wrote it."""
    if not pending:
        return None
    arguments = pending[0].arguments if isinstance(pending[0].arguments, dict) else {}
    return {"approval_id": pending[0].approval_id, "draft": arguments.get("draft", "")}


def _delegated_evidence(detail):
    """The curated handoff rows plus what the page shows: sorted keys and the child's output."""
    outputs = {step["id"]: step["output"] for step in detail.steps}
    return [
        {
            **item,
            "context_keys": sorted(item["projected_context"]),
            "child_output": outputs.get(item["child_step_id"]),
        }
        for item in detail.delegated_handoffs
    ]


@login_required
@require_POST
def approve(request, run_id):
    summary = _visible_run(request, run_id)
    if not request.user.has_perm("scoria_django.resume_run"):
        raise PermissionDenied("You may not approve runs.")
    form = ApprovalForm(request.POST)
    if not form.is_valid():
        # Nothing is decided: approving without the form's approval would approve every
        # pending call of the run, as the agent drafted it.
        problems = "; ".join(
            f"{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
            for field, errors in form.errors.items()
        )
        messages.error(request, f"Not approved. {problems}")
        return redirect("assistant:run", run_id=summary.run_id)
    data = form.cleaned_data
    note, draft = data["note"], data["draft"]
    try:
        # The exact approval the page showed: the run's waiting step runs again and
        # send_reply gets the approved arguments, with the draft as the approver edited it
        # when they changed it.
        resumed = scoria.approve(
            summary.run_id,
            approval_id=data["approval_id"],
            identity=_identity(request),
            input={"note": note} if note else None,
            arguments=_edited(summary.run_id, data["approval_id"], draft),
        )
    except scoria.ScoriaError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, f"Approved. The run is now {resumed.status}.")
    return redirect("assistant:run", run_id=summary.run_id)


def _edited(run_id, approval_id, draft):
    """The arguments with the edited draft, or None when the draft was left as requested."""
    if not approval_id or not draft.strip():
        return None
    requested = scoria.get_approval(approval_id)
    if str(requested.run_id) != str(run_id) or not isinstance(requested.arguments, dict):
        return None
    if requested.arguments.get("draft") == draft:
        return None
    return {**requested.arguments, "draft": draft}


@login_required
@require_POST
def reject(request, run_id):
    summary = _visible_run(request, run_id)
    if not request.user.has_perm("scoria_django.resume_run"):
        raise PermissionDenied("You may not decide on runs.")
    form = RejectForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or "rejected by the user"
    try:
        # The agent sees the denial (with this reason) and answers without sending.
        resumed = scoria.reject(summary.run_id, identity=_identity(request), reason=reason)
    except scoria.ScoriaError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, f"Rejected. The run is now {resumed.status}.")
    return redirect("assistant:run", run_id=summary.run_id)


@login_required
@require_POST
def cancel(request, run_id):
    summary = _visible_run(request, run_id)
    if not request.user.has_perm("scoria_django.cancel_run"):
        raise PermissionDenied("You may not cancel runs.")
    form = CancelForm(request.POST)
    reason = (form.cleaned_data["reason"] if form.is_valid() else "") or "cancelled by the user"
    try:
        scoria.cancel_run(summary.run_id, reason=reason, identity=_identity(request))
    except scoria.ScoriaError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, "Cancelled.")
    return redirect("assistant:run", run_id=summary.run_id)
