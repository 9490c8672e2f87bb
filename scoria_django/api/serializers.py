"""Read serializers: what the API answers, built from the read model of ``records``.

Their fields are the ``RunSummary``, ``RunDetail`` and row definitions there, never a
list of their own, and they read the frozen values the facade returns (summaries and
row dicts), never models, so the API shows exactly what the facade does. Inputs are in
``inputs``.
"""

from functools import cache
from typing import Any

from django.utils.timezone import is_aware
from drf_spectacular.utils import extend_schema_field
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from ..records import (
    APPROVAL_SUMMARY,
    DELEGATED_HANDOFF,
    EVENT_ROW,
    HANDOFF_ROW,
    RUN_DETAIL,
    RUN_SUMMARY,
    STEP_LIST_ROW,
    STEP_ROW,
    ReadField,
    RunSummary,
    Shape,
)
from ..states import ApprovalStatus, RunStatus, StepStatus


@extend_schema_field(
    {
        "anyOf": [{"$ref": "#/components/schemas/ErrorCode"}, {"type": "string"}],
        "description": "Stable machine-readable error code: one of ErrorCode, or a code of "
        "DRF's field validation (required, null, blank, max_length, invalid_choice, ...).",
    }
)
class ErrorCodeField(serializers.CharField):
    pass


class ErrorSerializer(serializers.Serializer):
    code = ErrorCodeField()
    detail = serializers.CharField(help_text="Human-readable explanation.")
    field = serializers.CharField(allow_null=True, help_text="The field at fault, if one is.")
    current = serializers.CharField(
        required=False, help_text="invalid_status_transition only: the run's status."
    )
    target = serializers.CharField(
        required=False, help_text="invalid_status_transition only: the status asked for."
    )


class ApiRootSerializer(serializers.Serializer):
    runs = serializers.URLField(help_text="List (GET) and start (POST) runs.")
    handoffs = serializers.URLField(help_text="Start a handoff run (POST).")
    session_runs = serializers.CharField(
        help_text="URL template of a session's runs: replace {session_id}."
    )
    schema = serializers.URLField(help_text="This API's OpenAPI 3 document.")


# The read serializers are built from the read model of ``records``: each names a tuple of
# ``ReadField`` definitions, and ``read_field`` turns one into its DRF field. No class
# docstring here: drf-spectacular would give it to every subclass as its description.
class ReadSerializer(serializers.Serializer):
    read_fields: tuple[ReadField, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        return {spec.name: read_field(spec) for spec in self.read_fields}


class RunSummarySerializer(ReadSerializer):
    read_fields = RUN_SUMMARY


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


class StepRowSerializer(ReadSerializer):
    """A step without its large payloads (input, output, contexts): used by list responses."""

    read_fields = STEP_LIST_ROW


class StepSerializer(StepRowSerializer):
    """A step with everything it carries: used by ``detail/``."""

    # The listed fields first, then the large ones: the order the API has always answered in.
    read_fields = (*STEP_LIST_ROW, *(spec for spec in STEP_ROW if not spec.listed))


class EventSerializer(ReadSerializer):
    read_fields = EVENT_ROW


class HandoffSerializer(ReadSerializer):
    read_fields = HANDOFF_ROW


class DelegatedHandoffSerializer(ReadSerializer):
    read_fields = DELEGATED_HANDOFF


class RunDetailSerializer(ReadSerializer):
    read_fields = RUN_DETAIL


class ApprovalSummarySerializer(ReadSerializer):
    read_fields = APPROVAL_SUMMARY


class ModelUsageSerializer(serializers.Serializer):
    input_tokens = serializers.IntegerField(min_value=0)
    output_tokens = serializers.IntegerField(min_value=0)
    requests = serializers.IntegerField(min_value=0)


class UsageSerializer(serializers.Serializer):
    """Model usage as ``usage.priced`` shows it (docs/agents.md#usage)."""

    input_tokens = serializers.IntegerField(min_value=0)
    output_tokens = serializers.IntegerField(min_value=0)
    requests = serializers.IntegerField(min_value=0)
    model = serializers.CharField(allow_null=True, help_text="The latest model named.")
    models = serializers.DictField(
        child=ModelUsageSerializer(), help_text="The counts of each named model."
    )
    # Present only when SCORIA_MODEL_PRICES is set: the optional fields of the schema.
    cost = serializers.FloatField(
        required=False, min_value=0, help_text="The sum over priced models (SCORIA_MODEL_PRICES)."
    )
    unpriced_models = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Models that used tokens and have no price; their tokens are not in cost.",
    )


_SCALARS: dict[Shape, type[serializers.Field]] = {
    Shape.UUID: serializers.UUIDField,
    Shape.TEXT: serializers.CharField,
    Shape.INTEGER: serializers.IntegerField,
    Shape.BOOLEAN: serializers.BooleanField,
    Shape.INSTANT: serializers.DateTimeField,
    Shape.JSON: serializers.JSONField,
}

_NESTED: dict[Shape, tuple[type[ReadSerializer], bool]] = {
    Shape.SUMMARY: (RunSummarySerializer, False),
    Shape.STEP_ROWS: (StepSerializer, True),
    Shape.EVENT_ROWS: (EventSerializer, True),
    Shape.HANDOFF_ROWS: (HandoffSerializer, True),
    Shape.DELEGATED_HANDOFFS: (DelegatedHandoffSerializer, True),
}


def read_field(spec: ReadField) -> serializers.Field:
    """The DRF field of one read-model field."""
    options: dict[str, Any] = {}
    if spec.null:
        options["allow_null"] = True
    if spec.blank:
        options["allow_blank"] = True
    if spec.help_text:
        options["help_text"] = spec.help_text
    if spec.shape is Shape.RUN_STATUS:
        return serializers.ChoiceField(RunStatus.choices, **options)
    if spec.shape is Shape.STEP_STATUS:
        return serializers.ChoiceField(StepStatus.choices, **options)
    if spec.shape is Shape.APPROVAL_STATUS:
        return serializers.ChoiceField(ApprovalStatus.choices, **options)
    if spec.shape is Shape.TAGS:
        return serializers.ListField(child=serializers.CharField(), **options)
    if spec.shape is Shape.USAGE:
        return UsageSerializer(**options)
    if spec.shape in _NESTED:
        serializer_class, many = _NESTED[spec.shape]
        return serializer_class(many=many, **options)
    return _SCALARS[spec.shape](**options)
