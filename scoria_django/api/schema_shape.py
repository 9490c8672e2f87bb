"""What drf-spectacular cannot infer, so the schema says exactly what the server does.

- request bodies are closed (``additionalProperties: false``, as ``StrictSerializer`` is);
- run status, step status and handler kind are named components, each defined once;
- the error body lists its codes (``ErrorCode``) and every operation declares it as its
  ``default`` response (405, 406, 429 and 500 carry it too);
- filter values are non-empty text, and any-JSON fields carry no ``nullable`` without a type
  (a nullable nested object is ``oneOf`` the object or null);
- session authentication declares the CSRF header that every unsafe request needs.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema

from ..conf import scoria_settings
from ..exceptions import ScoriaError
from ..names import MAX_ID_LENGTH, MAX_KIND_LENGTH, NAME_PATTERN, TEXT_PATTERN
from ..states import ApprovalStatus, RunStatus, StepStatus
from .inputs import NameField, StrictSerializer

# Codes the API itself answers with, besides the ScoriaError family (docs/api.md "Errors").
API_CODES = (
    "unknown_field",
    "malformed_json",
    "json_too_deep",
    "request_too_large",
    "invalid_page_size",
    "bad_request",
    "not_authenticated",
    "authentication_failed",
    "permission_denied",
    "csrf_failed",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "throttled",
)

# Filters of the run list whose value is free text, with their column widths.
TEXT_FILTERS = {
    "session_id": MAX_ID_LENGTH,
    "thread_id": MAX_ID_LENGTH,
    "root_role_id": MAX_ID_LENGTH,
    "kind": MAX_KIND_LENGTH,
}

ERROR_REF = {"$ref": "#/components/schemas/Error"}
_COMBINERS = ("type", "$ref", "allOf", "anyOf", "oneOf", "enum", "properties", "not")


class ScoriaAutoSchema(AutoSchema):
    def _insert_field_validators(self, field, schema):
        super()._insert_field_validators(field, schema)
        if isinstance(field, NameField) and "oneOf" in schema:
            # NameField lets a blank value through to the facade, which refuses it with its
            # own code: blank is not valid, so no ``{"maxLength": 0}`` alternative.
            schema.update(schema.pop("oneOf")[0])

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if isinstance(serializer, StrictSerializer):
            schema["additionalProperties"] = False
        return schema


class SessionWithCSRFScheme(OpenApiAuthenticationExtension):
    """DRF's session authentication, with the CSRF header its unsafe requests need."""

    target_class = "rest_framework.authentication.SessionAuthentication"
    name = ["cookieAuth", "csrfToken"]
    priority = 1  # before drf-spectacular's own SessionScheme

    def get_security_definition(self, auto_schema):
        header = settings.CSRF_HEADER_NAME.removeprefix("HTTP_").replace("_", "-")
        return [
            {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME},
            {
                "type": "apiKey",
                "in": "header",
                "name": header,
                "description": f"The value of the {settings.CSRF_COOKIE_NAME} cookie; "
                "every POST with session authentication needs it.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        # Only scoria's views: a host's own schema keeps drf-spectacular's description.
        ours = type(auto_schema.view).__module__.startswith(__package__)
        if not ours or auto_schema.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return {"cookieAuth": []}
        return {"cookieAuth": [], "csrfToken": []}


def error_codes():
    codes = set(API_CODES)
    pending = [ScoriaError]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        codes.add(cls.code)
    codes.discard(ScoriaError.code)
    return sorted(codes)


def _enum_component(choices, description):
    return {"type": "string", "enum": [value for value, _ in choices], "description": description}


def _named_enums():
    named = {
        "RunStatus": _enum_component(RunStatus.choices, "A run's status."),
        "StepStatus": _enum_component(StepStatus.choices, "A step's status."),
        "ApprovalStatus": _enum_component(ApprovalStatus.choices, "An approval's status."),
    }
    kinds = sorted(scoria_settings.HANDLERS)
    if kinds:
        named["HandlerKind"] = {
            "type": "string",
            "enum": kinds,
            "description": "A step kind registered in SCORIA_HANDLERS (read when the schema "
            "is requested).",
        }
    return named


def _refer_to_named(node, by_values):
    """``node`` with every inline enum equal to a named one replaced by its ``$ref``."""
    if isinstance(node, list):
        return [_refer_to_named(item, by_values) for item in node]
    if not isinstance(node, dict):
        return node
    if isinstance(node.get("enum"), list):
        name = by_values.get(frozenset(node["enum"]))
        if name:
            return {"$ref": f"#/components/schemas/{name}"}
    return {key: _refer_to_named(value, by_values) for key, value in node.items()}


# The JSON null, in OpenAPI 3.0 terms (which has no "null" type).
NULL_ONLY = {"type": "object", "nullable": True, "enum": [None]}


def _type_any_json(component):
    """Any-JSON properties: ``{}`` already admits null; ``nullable`` needs a ``type``."""
    for prop in component.get("properties", {}).values():
        if prop.get("nullable") and "type" not in prop and len(prop.get("allOf", ())) == 1:
            # A nullable nested serializer (a summary's ``usage``): drf-spectacular writes
            # ``allOf: [$ref]`` + ``nullable``, which Redocly refuses without a ``type``,
            # and with one openapi-python-client drops the null. "The object, or null"
            # as a ``oneOf`` satisfies both, and every JSON Schema validator.
            prop["oneOf"] = [*prop.pop("allOf"), NULL_ONLY]
            del prop["nullable"]
        if not any(key in prop for key in _COMBINERS):
            prop.pop("nullable", None)
            prop.setdefault(
                "description",
                "Any JSON value (no NUL character, no lone surrogate, no NaN; size-capped).",
            )


def _shape_parameters(operation):
    for parameter in operation.get("parameters", []):
        name, where = parameter["name"], parameter["in"]
        # A filter's own choices (``status`` with ``any``, ``mine``): plain enums, no ids.
        parameter.get("schema", {}).pop("x-spec-enum-id", None)
        if where == "query" and name in TEXT_FILTERS:
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": TEXT_FILTERS[name],
                "pattern": TEXT_PATTERN,
            }
            parameter["description"] = "Exact match."
        elif where == "query" and parameter["schema"].get("format") in ("date-time", "uuid"):
            parameter["schema"]["minLength"] = 1
        elif where == "query" and name == "after":
            # An event sequence: what parse_position accepts (at most 18 digits).
            parameter["schema"] = {
                "type": "integer",
                "minimum": 0,
                "maximum": 999_999_999_999_999_999,
            }
        elif where == "header" and name == "Idempotency-Key":
            # What idempotency_key accepts: a non-blank id that fits its column.
            parameter["schema"] = {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_ID_LENGTH,
                "pattern": NAME_PATTERN,
            }
        elif where == "path" and name == "session_id":
            parameter["schema"] = {"type": "string", "minLength": 1, "pattern": TEXT_PATTERN}
            parameter["description"] = "The session id the runs were started with."


def shape_schema(result, generator, request, public):
    """drf-spectacular postprocessing hook (see the module docstring)."""
    named = _named_enums()
    by_values = {frozenset(schema["enum"]): name for name, schema in named.items()}
    result["paths"] = _refer_to_named(result["paths"], by_values)
    schemas = _refer_to_named(result["components"]["schemas"], by_values)
    for component in schemas.values():
        _type_any_json(component)
    schemas.update(named)
    schemas["ErrorCode"] = {
        "type": "string",
        "enum": error_codes(),
        "description": "The codes scoria answers with (docs/errors.md and docs/api.md).",
    }
    result["components"]["schemas"] = dict(sorted(schemas.items()))
    for operations in result["paths"].values():
        for operation in operations.values():
            _shape_parameters(operation)
            operation["responses"]["default"] = {
                "description": "Any other error (405, 406, 429, 500, ...), with the error body.",
                "content": {"application/json": {"schema": ERROR_REF}},
            }
    return result


def extend_operation(**options: Any) -> Callable[[Any], Any]:
    """``extend_schema`` on ``ScoriaAutoSchema``, whatever the project's
    ``REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"]``: drf-spectacular bases a decorated method's
    schema on that setting, and DRF's own default class cannot build this document (the
    schema view answered 500 in a project that did not set drf-spectacular's)."""

    def decorate(function: Any) -> Any:
        function.schema = ScoriaAutoSchema
        return extend_schema(**options)(function)

    return decorate
