"""Read serializers: what the API answers. Field names follow ``RunSummary`` and ``RunDetail``.

They read the frozen read values of ``records`` (summaries and row dicts), never models
directly, so the API shows exactly what the facade returns. Inputs are in ``inputs``.
"""

from functools import cache

from django.utils.timezone import is_aware
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from ..records import RunSummary
from ..states import RunStatus, StepStatus


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    detail = serializers.CharField(help_text="Human-readable explanation.")
    field = serializers.CharField(allow_null=True, help_text="The field at fault, if one is.")


class RunSummarySerializer(serializers.Serializer):
    run_id = serializers.UUIDField()
    session_id = serializers.CharField(allow_null=True)
    thread_id = serializers.CharField(allow_null=True)
    parent_run_id = serializers.UUIDField(allow_null=True)
    status = serializers.ChoiceField(RunStatus.choices)
    actor_id = serializers.CharField(allow_null=True)
    tenant_id = serializers.CharField(allow_null=True)
    root_role_id = serializers.CharField(allow_blank=True)
    kind = serializers.CharField()
    current_step_id = serializers.UUIDField(allow_null=True)
    awaiting_approval = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


@cache
def _summary_fields():
    return tuple(RunSummarySerializer().fields.items())


def summary_list_data(rows):
    """``RunSummarySerializer(summaries, many=True).data`` for ``values(*SUMMARY_VALUES)``
    rows, without the per-row machinery: each field's ``to_representation``, applied as
    ``Serializer.to_representation`` does (``None`` stays ``None``), and date-times
    rendered in the time zone looked up once per page. A list page serialises 50 of them
    on every request."""
    renderers = [
        (name, _instant_renderer(field) if isinstance(field, serializers.DateTimeField) else field)
        for name, field in _summary_fields()
    ]
    data = []
    for row in rows:
        summary = RunSummary.from_values(row)
        data.append(
            {
                name: None
                if (value := getattr(summary, name)) is None
                else field.to_representation(value)
                for name, field in renderers
            }
        )
    return data


class _InstantRenderer:
    """``DateTimeField.to_representation`` of an aware value in ISO 8601 (DRF's default
    output), with the field's time zone resolved once instead of once per value."""

    def __init__(self, field, zone):
        self.field, self.zone = field, zone

    def to_representation(self, value):
        if not is_aware(value):
            return self.field.to_representation(value)
        try:
            text = value.astimezone(self.zone).isoformat()
        except OverflowError:
            return self.field.to_representation(value)  # DRF's own "overflow" error
        return text[:-6] + "Z" if text.endswith("+00:00") else text


def _instant_renderer(field):
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if not isinstance(output_format, str) or output_format.lower() != ISO_8601 or zone is None:
        return field  # any other configured output: DRF renders it
    return _InstantRenderer(field, zone)


class StepRowSerializer(serializers.Serializer):
    """A step without its large payloads (input, output, contexts): used by list responses."""

    id = serializers.UUIDField()
    run_id = serializers.UUIDField()
    sequence = serializers.IntegerField()
    kind = serializers.CharField()
    role_id = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(StepStatus.choices)
    parent_step_id = serializers.UUIDField(allow_null=True)
    attempt = serializers.IntegerField()
    error = serializers.JSONField(allow_null=True)
    approval_request = serializers.JSONField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)


class StepSerializer(StepRowSerializer):
    """A step with everything it carries: used by ``detail/``."""

    input = serializers.JSONField(allow_null=True)
    handoff_input = serializers.JSONField(allow_null=True)
    projected_context = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    cancel_reason = serializers.JSONField(allow_null=True)
    resumed_with = serializers.JSONField(allow_null=True)
    lease_expires_at = serializers.DateTimeField(allow_null=True)


class EventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sequence = serializers.IntegerField()
    event_type = serializers.CharField()
    step_id = serializers.UUIDField(allow_null=True)
    payload = serializers.JSONField()
    actor_id = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class HandoffSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    parent_step_id = serializers.UUIDField()
    child_step_id = serializers.UUIDField(allow_null=True)
    delegated_role_id = serializers.CharField()
    delegated_kind = serializers.CharField()
    capability_tags = serializers.ListField(child=serializers.CharField())
    handoff_input = serializers.JSONField()
    status = serializers.CharField(help_text="The child step's status, or child_step_pending.")
    created_at = serializers.DateTimeField()


class DelegatedHandoffSerializer(serializers.Serializer):
    handoff_id = serializers.UUIDField()
    parent_step_id = serializers.UUIDField()
    parent_step_sequence = serializers.IntegerField(allow_null=True)
    parent_role_id = serializers.CharField(allow_null=True, allow_blank=True)
    delegated_role_id = serializers.CharField()
    delegated_kind = serializers.CharField()
    handoff_input = serializers.JSONField()
    capability_tags = serializers.ListField(child=serializers.CharField())
    child_step_id = serializers.UUIDField(allow_null=True)
    child_step_sequence = serializers.IntegerField(allow_null=True)
    child_role_id = serializers.CharField(allow_null=True, allow_blank=True)
    child_status = serializers.CharField()
    status = serializers.CharField(help_text="The child step's status, or child_step_pending.")
    projected_context = serializers.JSONField()
    created_at = serializers.DateTimeField()


class RunDetailSerializer(serializers.Serializer):
    summary = RunSummarySerializer()
    metadata = serializers.JSONField()
    input = serializers.JSONField(allow_null=True)
    output = serializers.JSONField(allow_null=True)
    error = serializers.JSONField(allow_null=True)
    cancel_reason = serializers.JSONField(allow_null=True)
    steps = StepSerializer(many=True)
    events = EventSerializer(many=True)
    handoffs = HandoffSerializer(many=True)
    delegated_handoffs = DelegatedHandoffSerializer(many=True)
