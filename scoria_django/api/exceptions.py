"""Every API error is JSON ``{"code", "detail", "field"}`` with a stable ``code``.

Core exceptions know nothing of HTTP: this module maps the ScoriaError families to
400 / 404 / 409, and DRF's own validation, parse, authentication and permission errors
to the same shape. Views set ``exception_handler`` themselves, so the host's
``REST_FRAMEWORK`` settings cannot change it.
"""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ..exceptions import (
    ScoriaConfigurationError,
    ScoriaConflict,
    ScoriaError,
    ScoriaNotFound,
    ScoriaPermissionDenied,
)
from ..names import printable

# One body for "unknown run" and "run of another tenant": byte-identical on purpose,
# so a client cannot probe which run ids exist elsewhere.
NOT_FOUND = {"code": "not_found", "detail": "Not found.", "field": None}


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE."
    default_code = "request_too_large"


def _status_of(exc):
    if isinstance(exc, ScoriaNotFound):
        return status.HTTP_404_NOT_FOUND
    if isinstance(exc, ScoriaConflict):
        return status.HTTP_409_CONFLICT
    if isinstance(exc, ScoriaPermissionDenied):
        return status.HTTP_403_FORBIDDEN
    if isinstance(exc, ScoriaConfigurationError):
        # The host's configuration is broken, not the request.
        return status.HTTP_500_INTERNAL_SERVER_ERROR
    return status.HTTP_400_BAD_REQUEST


def scoria_error_response(exc):
    body = exc.as_dict()
    if body["code"] == NOT_FOUND["code"]:
        body = dict(NOT_FOUND)
    return Response(body, status=_status_of(exc))


def _first_error(detail, path=()):
    """The first leaf ErrorDetail of a (nested) DRF validation error, with its field path."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_error(value, (*path, f"[{key}]" if isinstance(key, int) else str(key)))
    if isinstance(detail, list):
        for index, value in enumerate(detail):
            # A list of messages for one field keeps the field's path; a list of
            # nested items (a ListField of dicts) names the index.
            step = path if not isinstance(value, dict | list) else (*path, f"[{index}]")
            return _first_error(value, step)
    return detail, path


def _field_name(path):
    parts = [part for part in path if part not in ("non_field_errors",)]
    if not parts:
        return None
    return ".".join(parts).replace(".[", "[")


def _validation_body(exc):
    error, path = _first_error(exc.detail)
    if error is None:
        return {"code": "invalid", "detail": "Invalid input.", "field": None}
    code = getattr(error, "code", None) or "invalid"
    return {"code": str(code), "detail": str(error), "field": _field_name(path)}


def _api_body(exc):
    detail = exc.detail
    if isinstance(detail, dict | list):
        return _validation_body(exc)
    code = getattr(detail, "code", None) or exc.default_code
    if isinstance(exc, exceptions.PermissionDenied) and str(detail).startswith("CSRF Failed"):
        code = "csrf_failed"
    if isinstance(exc, exceptions.NotFound):
        return dict(NOT_FOUND)
    return {"code": str(code), "detail": str(detail), "field": None}


def exception_handler(exc, context):
    """DRF exception handler: JSON for every error a client can cause."""
    if isinstance(exc, ScoriaError):
        set_rollback()
        return scoria_error_response(exc)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc) or None, code="bad_request")
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = f"{int(exc.wait)}"
    set_rollback()
    body = _validation_body(exc) if isinstance(exc, exceptions.ValidationError) else _api_body(exc)
    # DRF's messages quote the input ('"\ud800" is not a valid choice.') and a field may be
    # a body key: escaped, or the error itself could not be rendered (a 500).
    body = {
        key: printable(value) if isinstance(value, str) else value for key, value in body.items()
    }
    return Response(body, status=exc.status_code, headers=headers)
