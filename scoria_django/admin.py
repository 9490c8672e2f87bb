"""Read-only admin for runs, steps, handoffs, events and approvals (the operators' approval
inbox), plus the evidence page of a run.

Nothing is added, changed or deleted here: records move only through the lifecycle
verbs. The one write path is the evidence page's resume / cancel buttons and approval
forms, which call the facade and need their own permissions. JSON payloads are shown
redacted, and every list is scoped to the operator's tenant when
``SCORIA_TENANT_RESOLVER`` gives one.

A change page shows the fields of the read model (``records``): a summary with the run's
payloads, a step row, an event row, a handoff row, each field by the model field it reads
(foreign keys as links), plus the storage columns the read model leaves out.
"""

import datetime
import json

from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db import connections, models
from django.db.models import Q, TextField
from django.db.models.functions import Cast
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince, timeuntil

from .evidence import pretty_json
from .exceptions import ScoriaError
from .identity import Identity, actor_id_of, identity, tenant_id_for
from .models import Approval, Event, Handoff, Run, Step
from .records import (
    APPROVAL_SUMMARY,
    EVENT_ROW,
    HANDOFF_ROW,
    RUN_DETAIL,
    RUN_SUMMARY,
    STEP_ROW,
    ReadField,
    RunSummary,
    Shape,
)
from .redaction import redact_text
from .runtime.control import resume_run
from .states import ApprovalStatus, RunStatus
from .usage import priced
from .views import evidence_page, evidence_stream


def redacted_json(field_name):
    """A read-only admin column showing ``field_name`` as redacted JSON."""

    @admin.display(description=field_name.replace("_", " "))
    def show(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(getattr(obj, field_name)))

    show.__name__ = f"{field_name}_redacted"
    return show


def redacted_tags(field_name):
    """A read-only admin column showing the tags in ``field_name``, each redacted: a host
    may pass a credential as a capability tag."""

    @admin.display(description=field_name.replace("_", " "))
    def show(self, obj):
        return ", ".join(redact_text(str(tag)) for tag in getattr(obj, field_name) or ())

    show.__name__ = f"{field_name}_redacted"
    return show


def priced_usage(field_name):
    """A read-only admin column showing model usage as the other surfaces do: with its
    cost when ``SCORIA_MODEL_PRICES`` prices it."""

    @admin.display(description="model usage")
    def show(self, obj):
        usage = priced(getattr(obj, field_name))
        return "—" if usage is None else format_html("<pre>{}</pre>", pretty_json(usage))

    show.__name__ = f"{field_name}_priced"
    return show


_REDACTED_DISPLAYS = {Shape.JSON: redacted_json, Shape.TAGS: redacted_tags}


def admin_field(model: type[models.Model], spec: ReadField) -> str:
    """The change page's name for a read-model field: its redacted display for a JSON
    payload, else the model field it reads (a foreign key by its own name, so the page
    links it), else the name of a value the model admin computes."""
    if spec.shape in _REDACTED_DISPLAYS:
        return f"{spec.name}_redacted"
    if spec.shape is Shape.USAGE:
        return f"{spec.name}_priced"
    if spec.attribute == "pk":
        return model._meta.pk.name
    try:
        # By name or by column: ``parent_step_id`` is the ``parent_step`` foreign key.
        return model._meta.get_field(spec.name).name
    except FieldDoesNotExist:
        return spec.name


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only; ``tenant_path`` is the lookup that scopes rows to a tenant.

    ``read_model`` is what the change page shows, then ``storage_fields`` (columns the
    read model leaves out), then the JSON payloads, redacted.
    """

    tenant_path = "run__tenant_id"
    read_model: tuple[ReadField, ...] = ()
    storage_fields: tuple[str, ...] = ()
    actions = None
    show_full_result_count = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for spec in cls.read_model:
            if spec.shape in _REDACTED_DISPLAYS:
                display = _REDACTED_DISPLAYS[spec.shape](spec.name)
                setattr(cls, f"{spec.name}_redacted", display)
            elif spec.shape is Shape.USAGE:
                setattr(cls, f"{spec.name}_priced", priced_usage(spec.name))

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        shown = [admin_field(model, spec) for spec in self.read_model]
        payloads = [name for name in shown if name.endswith("_redacted")]
        columns = [name for name in shown if name not in payloads]
        self.fields = (*columns, *self.storage_fields, *payloads)

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        tenant = tenant_id_for(request)
        if tenant is not None:
            queryset = queryset.filter(**{self.tenant_path: tenant})
        return queryset


class AwaitingApprovalFilter(admin.SimpleListFilter):
    title = "awaiting approval"
    parameter_name = "awaiting"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(status=RunStatus.WAITING_FOR_APPROVAL)
        if self.value() == "no":
            return queryset.exclude(status=RunStatus.WAITING_FOR_APPROVAL)
        return queryset


class TenantFilter(admin.SimpleListFilter):
    """The tenants of the runs this operator may see (their own only, when scoped)."""

    title = "tenant"
    parameter_name = "tenant"
    LIMIT = 50

    def lookups(self, request, model_admin):
        tenants = (
            model_admin.get_queryset(request)
            .exclude(tenant_id=None)
            .order_by("tenant_id")
            .values_list("tenant_id", flat=True)
            .distinct()[: self.LIMIT]
        )
        return [(tenant, tenant) for tenant in tenants]

    def queryset(self, request, queryset):
        return queryset.filter(tenant_id=self.value()) if self.value() else queryset


def short(value, length=8):
    """The first characters of an id, the whole in a tooltip: an id needs no 36 columns."""
    if value is None:
        return "—"
    text = str(value)
    shown = text if len(text) <= length + 1 else f"{text[:length]}…"
    return format_html('<span title="{}">{}</span>', text, shown)


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    tenant_path = "tenant_id"
    change_form_template = "scoria_django/admin/run_change_form.html"
    # Fits a 1280 px screen: short ids, a status badge, an age instead of two timestamps.
    list_display = ("short_id", "status_badge", "kind", "session", "age", "evidence_link")
    list_display_links = ("short_id",)
    list_filter = ("status", AwaitingApprovalFilter, TenantFilter, "kind", "root_role_id")
    search_fields = ("id", "session_id", "actor_id", "thread_id")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    read_model = (*RUN_SUMMARY, *(spec for spec in RUN_DETAIL if spec.shape is Shape.JSON))
    storage_fields = ("step_timeout", "handlers")
    LATEST_EVENTS = 10

    class Media:
        css = {"all": ("scoria_django/admin.css",)}

    @admin.display(description="run", ordering="id")
    def short_id(self, obj):
        return short(obj.pk)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html(
            '<span class="scoria-badge scoria-badge-{}">{}</span>',
            obj.status,
            str(obj.status).replace("_", " "),
        )

    @admin.display(description="session", ordering="session_id")
    def session(self, obj):
        return short(obj.session_id, 12)

    @admin.display(description="age", ordering="created_at")
    def age(self, obj):
        return format_html('<span title="{}">{}</span>', obj.created_at, timesince(obj.created_at))

    @admin.display(boolean=True, description="awaiting approval")
    def awaiting_approval(self, obj):
        return RunSummary.from_run(obj).awaiting_approval

    @admin.display(description="evidence")
    def evidence_link(self, obj):
        return format_html('<a href="{}">Evidence</a>', self.evidence_url(obj.pk))

    def evidence_url(self, object_id):
        return reverse(f"{self.admin_site.name}:scoria_django_run_evidence", args=[str(object_id)])

    def get_urls(self):
        evidence = path(
            "<path:object_id>/evidence/",
            self.admin_site.admin_view(self.evidence_view),
            name="scoria_django_run_evidence",
        )
        stream = path(
            "<path:object_id>/evidence/stream/",
            self.admin_site.admin_view(self.evidence_stream_view),
            name="scoria_django_run_evidence_stream",
        )
        retry = path(
            "<path:object_id>/retry/",
            self.admin_site.admin_view(self.retry_view),
            name="scoria_django_run_retry",
        )
        # Before the defaults: their "<path:object_id>/" catch-all would shadow them.
        return [stream, evidence, retry, *super().get_urls()]

    def evidence_stream_view(self, request, object_id):
        return evidence_stream(request, object_id)

    def retry_view(self, request, object_id):
        """POST: retry a failed run (``resume_run``), for operators allowed to resume."""
        change_url = reverse(
            f"{self.admin_site.name}:scoria_django_run_change", args=[str(object_id)]
        )
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("scoria_django.resume_run"):
            raise PermissionDenied
        run = self.get_object(request, object_id)
        if run is None:  # unknown, or another tenant's: the same answer
            raise Http404("no such run")
        try:
            resumed = resume_run(run.pk, identity=Identity.from_request(request))
        except ScoriaError as error:
            self.message_user(
                request, f"Not retried: {error.detail} ({error.code})", messages.ERROR
            )
        else:
            self.message_user(request, f"Retried: the run is {resumed.status}.", messages.SUCCESS)
        return HttpResponseRedirect(change_url)

    def evidence_view(self, request, object_id):
        site = self.admin_site.name
        return evidence_page(
            request,
            object_id,
            admin_site=self.admin_site,
            notify=lambda req, message, level=messages.INFO: self.message_user(
                req, message, level, fail_silently=True
            ),
            extra_context={
                "opts": self.opts,
                "runs_changelist_url": reverse(f"{site}:scoria_django_run_changelist"),
                "run_change_url": reverse(
                    f"{site}:scoria_django_run_change", args=[str(object_id)]
                ),
            },
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        run = self.get_object(request, object_id)
        context = {"evidence_url": self.evidence_url(object_id)}
        if run is not None:
            context.update(
                run_steps=list(
                    Step.objects.filter(run_id=run.pk)
                    .order_by("sequence")
                    .values("id", "sequence", "kind", "role_id", "status", "attempt", "updated_at")
                ),
                latest_events=list(
                    Event.objects.filter(run_id=run.pk)
                    .order_by("-sequence")
                    .values("sequence", "event_type", "actor_id", "created_at")[
                        : self.LATEST_EVENTS
                    ]
                ),
                can_retry=run.status == RunStatus.FAILED
                and request.user.has_perm("scoria_django.resume_run"),
                retry_url=reverse(
                    f"{self.admin_site.name}:scoria_django_run_retry", args=[str(run.pk)]
                ),
            )
        return super().change_view(
            request, object_id, form_url, {**(extra_context or {}), **context}
        )


@admin.register(Step)
class StepAdmin(ReadOnlyAdmin):
    list_display = ("id", "run", "sequence", "kind", "role_id", "status", "attempt", "updated_at")
    list_filter = ("status", "kind", "role_id")
    search_fields = ("id", "run__id", "session_id", "run__actor_id")
    list_select_related = ("run",)
    read_model = STEP_ROW
    storage_fields = ("session_id", "thread_id")


@admin.register(Handoff)
class HandoffAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "run",
        "delegated_role_id",
        "delegated_kind",
        "child_status",
        "created_at",
    )
    list_filter = ("delegated_kind", "delegated_role_id")
    search_fields = ("id", "run__id", "run__session_id", "run__actor_id", "delegated_role_id")
    list_select_related = ("run", "parent_step", "child_step")
    read_model = HANDOFF_ROW
    storage_fields = ("run",)

    @admin.display(description="child status")
    def child_status(self, obj):
        return obj.status


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("run", "sequence", "event_type", "step", "actor_id", "created_at")
    list_filter = ("event_type",)
    search_fields = ("run__id", "run__session_id", "actor_id")
    list_select_related = ("run", "step")
    read_model = EVENT_ROW
    storage_fields = ("run",)


# -- the approval inbox ---------------------------------------------------------------

EXPIRING_WITHIN = datetime.timedelta(hours=1)


def _lists_any(queryset, field, values):
    """Rows whose JSON list ``field`` holds one of ``values``. SQLite has no JSON
    ``contains``: there the list's JSON text is searched for each value's JSON text (with
    its quotes, so ``"7"`` does not match ``"17"``; SQLite's LIKE ignores ASCII case)."""
    if not values:
        return queryset.none()
    match = Q()
    if connections[queryset.db].features.supports_json_field_contains:
        for value in values:
            match |= Q(**{f"{field}__contains": [value]})
        return queryset.filter(match)
    text = f"{field}_text"
    for value in values:
        match |= Q(**{f"{text}__contains": json.dumps(value)})
    return queryset.alias(**{text: Cast(field, output_field=TextField())}).filter(match)


class _YesFilter(admin.SimpleListFilter):
    """A filter with one choice, "Yes", applied from the request user."""

    def lookups(self, request, model_admin):
        return (("yes", "Yes"),)

    def queryset(self, request, queryset):
        if self.value() != "yes":
            return queryset
        return self.apply(request, queryset)

    def apply(self, request, queryset):
        raise NotImplementedError


class PendingFilter(_YesFilter):
    title = "pending"
    parameter_name = "pending"

    def apply(self, request, queryset):
        return queryset.pending()


class MineFilter(_YesFilter):
    """Approvals that name the operator (their actor id, the user pk) as an assignee."""

    title = "assigned to me"
    parameter_name = "mine"

    def apply(self, request, queryset):
        actor = identity(actor_id=actor_id_of(request.user)).actor_id
        return _lists_any(queryset, "assignees", [actor] if actor else [])


class MyGroupsFilter(_YesFilter):
    """Approvals addressed to one of the operator's Django groups."""

    title = "my groups"
    parameter_name = "my_groups"

    def apply(self, request, queryset):
        names = list(request.user.groups.values_list("name", flat=True))
        return _lists_any(queryset, "groups", names)


class ExpiringFilter(_YesFilter):
    """Pending approvals whose expiry falls within the next hour."""

    title = "expiring within an hour"
    parameter_name = "expiring"

    def apply(self, request, queryset):
        now = timezone.now()
        return queryset.pending().filter(expires_at__gte=now, expires_at__lt=now + EXPIRING_WITHIN)


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    """The approval inbox: decisions are made on the run's evidence page it links to."""

    tenant_path = "tenant_id"
    list_display = (
        "tool_name",
        "status",
        "run_link",
        "requested_at",
        "expires_in",
        "may_decide",
        "call_id",
    )
    list_filter = (PendingFilter, MineFilter, MyGroupsFilter, ExpiringFilter, "status")
    search_fields = ("id", "run__id", "tool_name", "call_id", "decided_by")
    ordering = ("requested_at", "position")
    read_model = APPROVAL_SUMMARY
    storage_fields = ()

    @admin.display(description="run")
    def run_link(self, obj):
        url = reverse(f"{self.admin_site.name}:scoria_django_run_evidence", args=[str(obj.run_id)])
        return format_html('<a href="{}" class="scoria-run-link">{}</a>', url, obj.run_id)

    @admin.display(description="expires in", ordering="expires_at")
    def expires_in(self, obj):
        if obj.expires_at is None:
            return "never"
        if obj.status != ApprovalStatus.PENDING:
            return "-"
        if obj.expires_at <= timezone.now():
            return "due (applied by the next scoria_recover)"
        return timeuntil(obj.expires_at)

    @admin.display(description="assignees")
    def may_decide(self, obj):
        names = [*obj.assignees, *(f"group {group}" for group in obj.groups)]
        return ", ".join(names) or "anyone"

    def changelist_view(self, request, extra_context=None):
        extra_context = {"title": "Approval inbox", **(extra_context or {})}
        return super().changelist_view(request, extra_context)
