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
from .drafting import compose_draft, needs_bounded_review
from .forms import ApprovalForm, CancelForm, PromptForm

LAST_RUN_KEY = "last_scoria_run_id"
LAST_HANDOFF_KEY = "last_scoria_handoff_run_id"
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
    identity = _identity(request)
    draft = compose_draft(prompt)
    try:
        # One turn is all-or-nothing; its steps run once this block commits.
        with transaction.atomic():
            started = scoria.start_run(
                identity,
                root_role_id="executor",
                initial_step={
                    "sequence": 1,
                    "kind": "approval",
                    "role_id": "executor",
                    "status": "queued",
                },
                runtime={"metadata": {"payload": {"prompt": prompt}}},
                handlers={"approval": handlers.draft_reply},
            )
            handoff_run = None
            if needs_bounded_review(draft["text"]):
                handoff_run = scoria.start_handoff_run(
                    identity,
                    "critic",
                    root_role_id="planner",
                    delegated_kind="review",
                    handoff_input={"brief": "Review the draft answer for policy and accuracy"},
                    projected_context={
                        "task": "policy-and-accuracy review",
                        "draft_answer": draft["text"],
                    },
                    capability_tags=["read_only"],
                    metadata={"reviews_run_id": started.run_id},
                    handlers={"review": handlers.review_draft},
                )
    except scoria.ScoriaError as exc:
        form.add_error(None, f"{exc.code}: {exc.detail}")
        context = {"form": form, "timeline": [], "last_run_id": None}
        return render(request, "assistant/home.html", context, status=400)
    request.session[LAST_RUN_KEY] = started.run_id
    if handoff_run is not None:
        request.session[LAST_HANDOFF_KEY] = handoff_run.run_id
        return redirect("assistant:run", run_id=handoff_run.run_id)
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
    waiting = [step for step in detail.steps if step["status"] == "waiting_for_approval"]
    finished = [step for step in detail.steps if step["status"] == "completed"]
    timeline = (
        scoria.list_runs_for_session(summary.session_id, limit=50)
        if summary.session_id
        else [summary]
    )
    user = request.user
    # The page streams the run's events after the last one it shows (static live.js).
    shown = detail.events[-1]["sequence"] if detail.events else 0
    stream_url = reverse("scoria_api:run-stream", args=[summary.run_id])
    return render(
        request,
        "assistant/run.html",
        {
            "stream_url": f"{stream_url}?after={shown}",
            "stream_event_types": EVENT_TYPES,
            "run": summary,
            "detail": detail,
            "prompt": (detail.metadata.get("payload") or {}).get("prompt"),
            "reviews_run_id": detail.metadata.get("reviews_run_id"),
            "approval_request": waiting[0]["approval_request"] if waiting else None,
            "result": finished[-1]["output"] if finished else None,
            "failure": detail.error,
            "delegated": _delegated_evidence(detail),
            "timeline": timeline,
            "can_resume": summary.awaiting_approval and user.has_perm("scoria_django.resume_run"),
            "can_cancel": summary.status in ACTIVE and user.has_perm("scoria_django.cancel_run"),
            "approval_form": ApprovalForm(),
            "cancel_form": CancelForm(),
            "next_turn_form": PromptForm(),
        },
    )


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
    note = form.cleaned_data["note"] if form.is_valid() else ""
    try:
        # Resume the exact run: same run_id, the waiting step runs again with the approval.
        resumed = scoria.resume_run(
            summary.run_id, identity=_identity(request), input={"note": note} if note else None
        )
    except scoria.ScoriaError as exc:
        messages.error(request, f"{exc.code}: {exc.detail}")
    else:
        messages.success(request, f"Approved. The run is now {resumed.status}.")
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
