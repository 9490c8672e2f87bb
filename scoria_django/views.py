"""The operator evidence page: one run's evidence, and the resume / cancel buttons.

The same view serves ``/scoria/workflows/<run_id>/`` and the admin's
``<run_id>/evidence/`` URL. Access: staff only (the admin site's own check, so anonymous
and non-staff users are sent to the admin login), plus the ``view_run`` permission
(403 without it). An operator whose request resolves to a tenant
(``SCORIA_TENANT_RESOLVER``) sees only that tenant's runs: any other run is the same
404 as a run that does not exist.

Each evidence URL has a ``stream/`` beside it, checked the same way: the run's events as
Server-Sent Events (``streaming.sse``), which the page subscribes to so it updates live.
"""

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseBadRequest, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.response import TemplateResponse

from .evidence import build_evidence
from .exceptions import ScoriaError, ScoriaNotFound, ScoriaValidationError
from .identity import Identity, tenant_id_for
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
MAX_REASON_LENGTH = 500
TEMPLATE = "scoria_django/workflow_detail.html"


def _visible(read, request, run_id):
    """``read(run_id)`` if the operator may see that run; 404 otherwise, whatever the cause."""
    try:
        value = read(run_id)
    except ScoriaNotFound:
        raise Http404("No run matches the given id.") from None
    summary = getattr(value, "summary", value)
    tenant = tenant_id_for(request)
    if tenant is not None and summary.tenant_id != tenant:
        raise Http404("No run matches the given id.")
    return value


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
    _visible(scoria.get_run, request, run_id)
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


def evidence_page(request, run_id, *, admin_site, notify, extra_context=None):
    """GET renders the evidence; POST runs one action and redirects back (PRG)."""
    import scoria_django as scoria

    if request.method not in ("GET", "HEAD", "POST"):
        return HttpResponseNotAllowed(["GET", "HEAD", "POST"])
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    if request.method == "POST":
        return run_action(request, run_id, notify)
    detail = _visible(scoria.get_run_detail, request, run_id)
    evidence = build_evidence(detail)
    user = request.user
    context = {
        **admin_site.each_context(request),
        "title": f"Run {detail.run_id}",
        "evidence": evidence,
        "summary": evidence.summary,
        "show_resume": evidence.can_be_resumed and user.has_perm(ACTION_PERMISSIONS["resume"]),
        "show_cancel": evidence.can_be_cancelled and user.has_perm(ACTION_PERMISSIONS["cancel"]),
        "max_reason_length": MAX_REASON_LENGTH,
        # The page asks for the events after the last one it shows.
        "stream_url": f"{request.path}stream/?after={evidence.last_event_sequence}",
        "stream_event_types": EVENT_TYPES,
        **(extra_context or {}),
    }
    return TemplateResponse(request, TEMPLATE, context)


def evidence_stream(request, run_id):
    """The run's events as Server-Sent Events, for the evidence page (same access rules)."""
    import scoria_django as scoria

    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    summary = _visible(scoria.get_run, request, run_id)
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
