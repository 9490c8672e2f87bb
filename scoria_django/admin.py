"""Read-only admin for runs, steps, handoffs and events, plus the evidence page of a run.

Nothing is added, changed or deleted here: records move only through the lifecycle
verbs. The one write path is the evidence page's resume / cancel buttons, which call
the facade and need their own permissions. JSON payloads are shown redacted, and every
list is scoped to the operator's tenant when ``SCORIA_TENANT_RESOLVER`` gives one.
"""

from django.contrib import admin, messages
from django.urls import path, reverse
from django.utils.html import format_html

from .evidence import pretty_json
from .identity import tenant_id_for
from .models import Event, Handoff, Run, Step
from .views import evidence_page


def redacted_json(field_name):
    """A read-only admin column showing ``field_name`` as redacted JSON."""

    @admin.display(description=field_name.replace("_", " "))
    def show(self, obj):
        return format_html("<pre>{}</pre>", pretty_json(getattr(obj, field_name)))

    show.__name__ = f"{field_name}_redacted"
    return show


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only; ``tenant_path`` is the lookup that scopes rows to a tenant."""

    tenant_path = "run__tenant_id"
    actions = None
    show_full_result_count = False

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
    fields = (
        "id",
        "status",
        "session_id",
        "thread_id",
        "parent_run",
        "actor_id",
        "tenant_id",
        "root_role_id",
        "kind",
        "current_step",
        "step_timeout",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "input_redacted",
        "output_redacted",
        "error_redacted",
        "cancel_reason_redacted",
        "metadata_redacted",
        "handlers",
    )
    input_redacted = redacted_json("input")
    output_redacted = redacted_json("output")
    error_redacted = redacted_json("error")
    cancel_reason_redacted = redacted_json("cancel_reason")
    metadata_redacted = redacted_json("metadata")

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
        # Before the defaults: their "<path:object_id>/" catch-all would shadow it.
        return [evidence, *super().get_urls()]

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
    fields = (
        "id",
        "run",
        "sequence",
        "parent_step",
        "session_id",
        "thread_id",
        "kind",
        "role_id",
        "status",
        "attempt",
        "lease_expires_at",
        "created_at",
        "updated_at",
        "started_at",
        "completed_at",
        "input_redacted",
        "handoff_input_redacted",
        "projected_context_redacted",
        "approval_request_redacted",
        "resumed_with_redacted",
        "output_redacted",
        "error_redacted",
        "cancel_reason_redacted",
    )
    input_redacted = redacted_json("input")
    handoff_input_redacted = redacted_json("handoff_input")
    projected_context_redacted = redacted_json("projected_context")
    approval_request_redacted = redacted_json("approval_request")
    resumed_with_redacted = redacted_json("resumed_with")
    output_redacted = redacted_json("output")
    error_redacted = redacted_json("error")
    cancel_reason_redacted = redacted_json("cancel_reason")


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
    fields = (
        "id",
        "run",
        "parent_step",
        "child_step",
        "delegated_role_id",
        "delegated_kind",
        "capability_tags",
        "created_at",
        "handoff_input_redacted",
    )
    handoff_input_redacted = redacted_json("handoff_input")

    @admin.display(description="child status")
    def child_status(self, obj):
        return obj.status


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = ("run", "sequence", "event_type", "step", "actor_id", "created_at")
    list_filter = ("event_type",)
    search_fields = ("run__id", "run__session_id", "actor_id")
    list_select_related = ("run", "step")
    fields = ("run", "step", "sequence", "event_type", "actor_id", "created_at", "payload_redacted")
    payload_redacted = redacted_json("payload")
