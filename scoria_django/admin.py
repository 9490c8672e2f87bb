"""Read-only admin for runs, steps, handoffs and events, plus the evidence page of a run.

Nothing is added, changed or deleted here: records move only through the lifecycle
verbs. The one write path is the evidence page's resume / cancel buttons, which call
the facade and need their own permissions. JSON payloads are shown redacted, and every
list is scoped to the operator's tenant when ``SCORIA_TENANT_RESOLVER`` gives one.

A change page shows the fields of the read model (``records``): a summary with the run's
payloads, a step row, an event row, a handoff row, each field by the model field it reads
(foreign keys as links), plus the storage columns the read model leaves out.
"""

from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.urls import path, reverse
from django.utils.html import format_html

from .evidence import pretty_json
from .identity import tenant_id_for
from .models import Event, Handoff, Run, Step
from .records import (
    EVENT_ROW,
    HANDOFF_ROW,
    RUN_DETAIL,
    RUN_SUMMARY,
    STEP_ROW,
    ReadField,
    RunSummary,
    Shape,
)
from .views import evidence_page, evidence_stream


def redacted_json(field_name):
    """A read-only admin column showing ``field_name`` as redacted JSON."""

    @admin.display(description=field_name.replace("_", " "))
    def show(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(getattr(obj, field_name)))

    show.__name__ = f"{field_name}_redacted"
    return show


def admin_field(model: type[models.Model], spec: ReadField) -> str:
    """The change page's name for a read-model field: its redacted display for a JSON
    payload, else the model field it reads (a foreign key by its own name, so the page
    links it), else the name of a value the model admin computes."""
    if spec.shape is Shape.JSON:
        return f"{spec.name}_redacted"
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
            if spec.shape is Shape.JSON:
                setattr(cls, f"{spec.name}_redacted", redacted_json(spec.name))

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


@admin.register(Run)
class RunAdmin(ReadOnlyAdmin):
    tenant_path = "tenant_id"
    change_form_template = "scoria_django/admin/run_change_form.html"
    list_display = (
        "id",
        "status",
        "root_role_id",
        "kind",
        "session_id",
        "actor_id",
        "tenant_id",
        "created_at",
        "updated_at",
        "evidence_link",
    )
    list_filter = ("status", "kind", "root_role_id", "created_at", "updated_at")
    search_fields = ("id", "session_id", "actor_id", "thread_id")
    date_hierarchy = "created_at"
    list_select_related = ("parent_run",)
    read_model = (*RUN_SUMMARY, *(spec for spec in RUN_DETAIL if spec.shape is Shape.JSON))
    storage_fields = ("step_timeout", "handlers")

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
        # Before the defaults: their "<path:object_id>/" catch-all would shadow them.
        return [stream, evidence, *super().get_urls()]

    def evidence_stream_view(self, request, object_id):
        return evidence_stream(request, object_id)

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
        extra_context = {**(extra_context or {}), "evidence_url": self.evidence_url(object_id)}
        return super().change_view(request, object_id, form_url, extra_context)


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
