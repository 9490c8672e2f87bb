"""Input serializers: small, explicit, and closed.

Only the fields listed here can be sent; any other key (``status``, ``tenant_id``,
``actor_id``, ``run_id``, timestamps, ``handlers`` ...) is rejected with ``unknown_field``.
Step kinds are chosen only among those registered in ``SCORIA_HANDLERS``: clients never
send handler paths. Deep checks (blank role ids, JSON hygiene, handoff context safety)
stay in the facade, so the API answers with the facade's own error codes; that is why
the role id fields allow blanks here.
"""

from collections.abc import Mapping

from django.core.validators import ProhibitNullCharactersValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ..conf import scoria_settings
from ..names import MAX_ID_LENGTH, NAME_PATTERN
from ..runtime.approvals import MAX_COMMENT


class StrictSerializer(serializers.Serializer):
    """Rejects keys that are not writable fields instead of silently dropping them."""

    def to_internal_value(self, data):
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = sorted(str(key) for key in data if key not in writable)
            if unknown:
                message = f"Unknown field; allowed fields are: {', '.join(sorted(writable))}."
                raise serializers.ValidationError(
                    {unknown[0]: [ErrorDetail(message, code="unknown_field")]}
                )
        return super().to_internal_value(data)


@extend_schema_field({"type": "object", "additionalProperties": {}})
class JSONObjectField(serializers.JSONField):
    """A JSON object; whether it is one is checked by the facade, with its own error code."""


class StrictCharField(serializers.CharField):
    """Text only: DRF's CharField would turn ``0`` or ``true`` into ``"0"`` / ``"True"``."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {"type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": NAME_PATTERN}
)
class NameField(StrictCharField):
    """A role id. Blank, NUL and lone surrogates are left to the facade's own check
    (``names.check_name``), so the API answers with the facade's code
    (``invalid_root_role_id``, ``invalid_initial_step``, ...)."""

    def __init__(self, **kwargs):
        super().__init__(allow_blank=True, max_length=MAX_ID_LENGTH, **kwargs)
        self.validators = [
            validator
            for validator in self.validators
            if not isinstance(
                validator, ProhibitNullCharactersValidator | ProhibitSurrogateCharactersValidator
            )
        ]


class HandlerKindField(serializers.ChoiceField):
    """A step kind registered in ``SCORIA_HANDLERS``, read each time a serializer is built."""

    def __init__(self, **kwargs):
        super().__init__(sorted(scoria_settings.HANDLERS), **kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):  # ChoiceField would look up str(data)
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "minLength": 1, "maxLength": 100, "pattern": NAME_PATTERN})
class TagField(StrictCharField):
    """A capability tag: non-blank text (DRF's CharField refuses NUL and lone surrogates)."""


class InitialStepInput(StrictSerializer):
    """The run's first step, created queued and dispatched to its kind's handler."""

    kind = HandlerKindField(help_text="A step kind registered in SCORIA_HANDLERS.")
    role_id = NameField()
    input = serializers.JSONField(required=False, allow_null=True)


class StartRunInput(StrictSerializer):
    """Start a run for the caller; actor, tenant and session come from the request."""

    root_role_id = NameField(required=False, default="executor")
    initial_step = InitialStepInput()
    input = serializers.JSONField(required=False, allow_null=True)
    metadata = JSONObjectField(required=False)


class StartHandoffInput(StrictSerializer):
    """Start a run whose first step hands a bounded context to ``delegated_role_id``."""

    delegated_role_id = NameField()
    root_role_id = NameField()
    delegated_kind = HandlerKindField(help_text="A step kind registered in SCORIA_HANDLERS.")
    handoff_input = JSONObjectField()
    projected_context = JSONObjectField()
    capability_tags = serializers.ListField(
        child=TagField(max_length=100), required=False, max_length=32
    )
    metadata = JSONObjectField(required=False)


class ResumeInput(StrictSerializer):
    """Approve a waiting run, or retry a failed one."""

    input = serializers.JSONField(
        required=False, allow_null=True, help_text="Handed to the handler as ctx.resume_input."
    )


class CancelInput(StrictSerializer):
    """Cancel a run; ``reason`` is stored on the run and its unfinished steps."""

    reason = serializers.JSONField(required=False, allow_null=True)


def _decision_text(help_text):
    # Blank is allowed and kept as sent: the facade stores what the person wrote.
    return serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        trim_whitespace=False,
        max_length=MAX_COMMENT,
        help_text=help_text,
    )


class ApproveInput(StrictSerializer):
    """Approve one approval; ``arguments`` replaces the requested arguments."""

    input = serializers.JSONField(
        required=False, allow_null=True, help_text="Handed to the handler as ctx.approval.input."
    )
    arguments = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="Edited arguments: the handler sees them as ctx.approval.arguments.",
    )
    comment = _decision_text("Stored on the approval and shown to the handler.")


class RejectInput(StrictSerializer):
    """Reject one approval: its step runs again and decides what a rejection means."""

    reason = _decision_text("Why: stored on the approval and shown to the handler.")
    input = serializers.JSONField(
        required=False, allow_null=True, help_text="Handed to the handler as ctx.approval.input."
    )
