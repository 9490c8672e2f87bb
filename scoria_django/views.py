"""The operator evidence page: one run's evidence, the resume / cancel buttons, and the
approve / reject / edit-arguments forms of its pending approvals.

The same view serves ``/scoria/workflows/<run_id>/`` and the admin's
``<run_id>/evidence/`` URL. Access: staff only (the admin site's own check, so anonymous
and non-staff users are sent to the admin login), plus the ``view_run`` permission
(403 without it). An operator whose request resolves to a tenant
(``SCORIA_TENANT_RESOLVER``) sees only that tenant's runs: any other run is the same
404 as a run that does not exist, after the same single query (the tenant is resolved
before anything is read, and is part of that query). A decision also needs
``decide_approval`` and the approval policy's consent, and is recorded as an admin
``LogEntry``.

Each evidence URL has a ``stream/`` beside it, checked the same way: the run's events as
Server-Sent Events (``streaming.sse``), which the page subscribes to so it updates live.
"""

import json

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .evidence import build_evidence
from .exceptions import ScoriaError, ScoriaNotFound, ScoriaValidationError
from .identity import Identity, tenant_id_for
from .ids import parse_uuid
from .runtime.approvals import MAX_COMMENT
from .runtime.reads import tenant_run, tenant_run_detail
from .states import RunStatus
from .streaming.sse import (
    EVENT_TYPES,
    event_stream_response,
    no_content,
    nothing_left,
    parse_position,
)

VIEW_PERMISSION = "scoria_django.view_run"
ACTION_PERMISSIONS = {
    "resume": "scoria_django.resume_run",
    "cancel": "scoria_django.cancel_run",
}
DECIDE_PERMISSION = "scoria_django.decide_approval"
DECISIONS = ("approve", "reject", "edit")
MAX_REASON_LENGTH = 500
TEMPLATE = "scoria_django/workflow_detail.html"


class DecisionFormError(Exception):
    """A decision form that cannot be sent: the page is shown again with the message."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field, self.message = field, message


def _visible(read, request, run_id):
    """``read(run_id, tenant)`` if the operator may see that run; 404 otherwise, whatever
    the cause. The tenant is resolved first and is part of the read's one query, so a
    foreign run is found missing with the same work as an id that does not exist."""
    tenant = tenant_id_for(request)
    try:
        return read(run_id, tenant)
    except ScoriaNotFound:
        raise Http404("No run matches the given id.") from None


def _cancel_reason(request):
    text = (request.POST.get("reason") or "").strip()
    if len(text) > MAX_REASON_LENGTH:
        raise ScoriaValidationError(
            f"the cancel reason is longer than {MAX_REASON_LENGTH} characters",
            field="reason",
            code="invalid_cancel_reason",
        )
    return text or "cancelled by operator"


def run_action(request, run_id, notify):
    """Resume or cancel through the facade as the operator; report with ``notify``."""
    import scoria_django as scoria

    action = request.POST.get("action")
    permission = ACTION_PERMISSIONS.get(action)
    if permission is None:
        return HttpResponseBadRequest("Unknown action.")
    if not request.user.has_perm(permission):
        raise PermissionDenied
    _visible(tenant_run, request, run_id)
    operator = Identity.from_request(request)
    verb = "resumed" if action == "resume" else "cancelled"
    try:
        if action == "resume":
            summary = scoria.resume_run(run_id, identity=operator)
        else:
            summary = scoria.cancel_run(run_id, reason=_cancel_reason(request), identity=operator)
    except ScoriaError as exc:
        # The stable code first-class in the message: operators quote it in tickets.
        notify(request, f"Run {run_id} was not {verb}: {exc.code} ({exc.detail}).", messages.ERROR)
    else:
        notify(request, f"Run {summary.run_id} {verb}; status is now {summary.status}.")
    return redirect(request.path)


def _decision_text(request, field):
    text = request.POST.get(field, "").strip()
    if len(text) > MAX_COMMENT:
        raise DecisionFormError(field, f"The {field} is longer than {MAX_COMMENT} characters.")
    return text or None


def _strict_constant(name):
    raise ValueError(f"{name} is not JSON")


def _edited_arguments(request):
    text = request.POST.get("arguments", "")
    if not text.strip():
        raise DecisionFormError("arguments", "Enter the arguments as JSON.")
    try:
        return json.loads(text, parse_constant=_strict_constant)
    except RecursionError:
        raise DecisionFormError("arguments", "The JSON is nested too deeply.") from None
    except ValueError as exc:
        raise DecisionFormError("arguments", f"Not valid JSON: {exc}.") from None


def _log_decision(request, approval_id, message):
    """The decision in the admin's history of the approval (``LogEntry``, CHANGE)."""
    from django.contrib.admin.models import CHANGE, LogEntry

    from .models import Approval

    approval = Approval.objects.get(pk=approval_id)
    LogEntry.objects.log_actions(
        request.user.pk, [approval], CHANGE, change_message=message, single_object=True
    )


def decide_action(request, run_id, notify, render):
    """Approve, reject or approve with edited arguments one approval of the run, as the
    operator, through the facade; an invalid form is shown again and decides nothing."""
    import scoria_django as scoria

    if not request.user.has_perm(DECIDE_PERMISSION):
        raise PermissionDenied
    run = _visible(tenant_run, request, run_id)
    approval_id = parse_uuid(request.POST.get("approval_id") or "")
    if approval_id is None:
        # Never None into the facade: that would decide every pending approval of the run.
        return HttpResponseBadRequest("Unknown approval.")
    action = request.POST["action"]
    try:
        if action == "reject":
            options = {"reason": _decision_text(request, "reason")}
        else:
            options = {"comment": _decision_text(request, "comment")}
        if action == "edit":
            options["arguments"] = _edited_arguments(request)
    except DecisionFormError as error:
        return render(
            {
                "approval_id": str(approval_id),
                "action": action,
                "field": error.field,
                "message": error.message,
                "values": request.POST,
            }
        )
    verb = "rejected" if action == "reject" else "approved"
    decide = scoria.reject if action == "reject" else scoria.approve
    try:
        summary = decide(
            run.run_id,
            approval_id=approval_id,
            identity=Identity.from_request(request),
            **options,
        )
    except ScoriaError as exc:
        # The policy's refusal (approval_not_allowed) lands here too: nothing was written.
        notify(
            request,
            f"Approval {approval_id} was not {verb}: {exc.code} ({exc.detail}).",
            messages.ERROR,
        )
        return redirect(request.path)
    how = " with edited arguments" if action == "edit" else ""
    said = options.get("reason") or options.get("comment")
    _log_decision(
        request,
        approval_id,
        f"{verb.capitalize()}{how} on the evidence page" + (f": {said}" if said else "."),
    )
    notify(request, f"Approval {approval_id} {verb}{how}; run status is now {summary.status}.")
    return redirect(request.path)


def _render_evidence(request, run_id, *, admin_site, extra_context, decision_error=None):
    import scoria_django as scoria

    detail = _visible(tenant_run_detail, request, run_id)
    # The run is visible: its approvals are read in its own tenant, in one query.
    approvals = scoria.list_approvals(
        identity=scoria.identity(tenant_id=detail.summary.tenant_id),
        status=None,
        run_id=detail.run_id,
    )
    evidence = build_evidence(detail, approvals)
    user = request.user
    context = {
        **admin_site.each_context(request),
        "title": f"Run {detail.run_id}",
        "evidence": evidence,
        "summary": evidence.summary,
        "show_resume": evidence.can_be_resumed and user.has_perm(ACTION_PERMISSIONS["resume"]),
        "show_cancel": evidence.can_be_cancelled and user.has_perm(ACTION_PERMISSIONS["cancel"]),
        # Who may decide is the policy's answer, asked when a form is sent: showing the
        # forms costs no query per approval.
        "show_decisions": evidence.summary.status == RunStatus.WAITING_FOR_APPROVAL
        and user.has_perm(DECIDE_PERMISSION),
        "decision_error": decision_error,
        "max_reason_length": MAX_REASON_LENGTH,
        "max_comment_length": MAX_COMMENT,
        # The page asks for the events after the last one it shows.
        "stream_url": f"{request.path}stream/?after={evidence.last_event_sequence}",
        "stream_event_types": EVENT_TYPES,
        **(extra_context or {}),
    }
    return TemplateResponse(request, TEMPLATE, context)


def evidence_page(request, run_id, *, admin_site, notify, extra_context=None):
    """GET renders the evidence; POST runs one action and redirects back (PRG)."""
    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    if request.method == "POST" and request.POST.get("action") in DECISIONS:
        return decide_action(
            request,
            run_id,
            notify,
            lambda error: _render_evidence(
                request,
                run_id,
                admin_site=admin_site,
                extra_context=extra_context,
                decision_error=error,
            ),
        )
    if request.method == "POST":
        return run_action(request, run_id, notify)
    return _render_evidence(request, run_id, admin_site=admin_site, extra_context=extra_context)


def evidence_stream(request, run_id):
    """The run's events as Server-Sent Events, for the evidence page (same access rules)."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    summary = _visible(tenant_run, request, run_id)
    after = parse_position(request.headers.get("Last-Event-ID"), request.GET.get("after"))
    if after is None:
        return HttpResponseBadRequest("Last-Event-ID or after must be an event sequence.")
    if nothing_left(summary.run_id, summary.status, after):
        return no_content()
    return event_stream_response(request, summary.run_id, after)


def _notify(request, message, level=messages.INFO):
    messages.add_message(request, level, message, fail_silently=True)


def _workflow_detail(request, run_id):
    return evidence_page(request, run_id, admin_site=admin.site, notify=_notify)


# The admin site's wrapper gives the staff check, the login redirect, CSRF and never_cache.
workflow_detail = admin.site.admin_view(_workflow_detail)
workflow_stream = admin.site.admin_view(evidence_stream)
