"""Turn what a handler returned (or raised) into a decision about its step. Pure: no I/O."""

import datetime
import traceback
from dataclasses import dataclass, field

from django.utils import timezone

from .. import outcomes
from ..exceptions import ScoriaError
from ..names import MAX_KIND_LENGTH, is_name
from ..payloads import check_json
from ..redaction import redact_text
from ..states import OnExpiry
from .handoffs import check_delegated_role_id, delegation

HANDOFF_CONTRACT = "bounded_handoff_projected_context"
MAX_MESSAGE = 1000


@dataclass(frozen=True)
class Completed:
    output: dict
    next_steps: list = field(default_factory=list)
    handoff: dict | None = None


@dataclass(frozen=True)
class Waiting:
    approval_request: dict
    """The first request, as the step's ``approval_request`` has always shown it."""
    requests: list = field(default_factory=list)
    """Every request, checked: one ``Approval`` each."""


@dataclass(frozen=True)
class Failed:
    error: dict


@dataclass(frozen=True)
class Retry:
    """Run the same step again after ``delay`` seconds (a retry policy or ``retry_later``)."""

    delay: float
    reason: str | None = None
    error: dict | None = None


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def clean_text(text, limit=MAX_MESSAGE):
    """A message safe to store as JSON on every database: no NUL, no lone surrogate."""
    text = str(text).replace("\x00", "")[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_json(exc):
    reason = "output_not_json" if exc.code == "invalid_payload" else exc.code
    return Failed({"reason": reason, "detail": clean_text(exc.detail)})


MAX_TRACEBACK = 8000  # characters kept of a traceback: its end, where the error is


def exception_error(exc, reason="exception"):
    """Type, message and a redacted, size-capped traceback (frames only: never local
    variables), for the operators who read the step's evidence."""
    try:
        # Redacted as it is recorded: scoria wrote this text, and messages quote
        # connection strings, headers and keys (scoria_django/redaction.py).
        message = clean_text(redact_text(str(exc)[: MAX_MESSAGE * 4]))
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        message = ""
    error = {"reason": reason, "type": _class_path(type(exc)), "message": message}
    if exc.__traceback__ is not None:
        error["traceback"] = traceback_text(exc)
    return error


def traceback_text(exc):
    try:
        text = "".join(traceback.format_exception(exc))
    except Exception:  # noqa: BLE001 - a broken exception still fails its step
        return ""
    text = redact_text(clean_text(text, limit=len(text)))
    if len(text) > MAX_TRACEBACK:
        text = "...\n" + text[-MAX_TRACEBACK:]
    return text


def decide(result):
    if isinstance(result, BaseException):
        return Failed(exception_error(result))
    try:
        if isinstance(result, outcomes.Fail):
            if not isinstance(result.reason, str) or not result.reason.strip():
                raise ScoriaError("fail() needs a non-blank reason", code="invalid_outcome")
            error = {**result.details, "reason": result.reason}
            return Failed(check_json(error, field="error"))
        if isinstance(result, outcomes.RetryLater):
            return _retry_later(result)
        if isinstance(result, outcomes.WaitForApproval):
            return _waiting(result)
        if isinstance(result, outcomes.Handoff):
            return _handoff(result)
        if isinstance(result, outcomes.Complete):
            return Completed(_output(result.value), _next_steps(result.next_steps))
        return Completed(_output(result))
    except ScoriaError as exc:
        return _not_json(exc)


MAX_DELAY = 366 * 24 * 3600  # a year: longer is a mistake, not a timer


def _delay(value, where):
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_DELAY:
        raise ScoriaError(
            f"{where} must be a number of seconds between 0 and {MAX_DELAY}", code="invalid_outcome"
        )
    return float(value)


def _retry_later(result):
    if result.reason is not None and not isinstance(result.reason, str):
        raise ScoriaError("retry_later's reason must be a string", code="invalid_outcome")
    return Retry(_delay(result.delay, "retry_later's delay"), reason=result.reason or "retry_later")


def _output(value):
    output = value if isinstance(value, dict) else {"result": value}
    return check_json(output, field="output")


MAX_APPROVALS = 100  # requests in one pause
MAX_REASON = 2000


def _waiting(result):
    requests = result.requests
    if not requests:
        return Failed({"reason": "invalid_outcome", "detail": "no approval requested"})
    if len(requests) > MAX_APPROVALS:
        return Failed(
            {"reason": "invalid_outcome", "detail": f"more than {MAX_APPROVALS} approvals"}
        )
    checked = []
    for index, request in enumerate(requests):
        try:
            checked.append(_approval_request(request, f"requests[{index}]"))
        except ScoriaError as exc:
            return Failed({"reason": "invalid_outcome", "detail": clean_text(exc.detail)})
    call_ids = [item["call_id"] for item in checked if item["call_id"] is not None]
    if len(call_ids) != len(set(call_ids)):
        return Failed({"reason": "invalid_outcome", "detail": "call_id repeated in one pause"})
    first = checked[0]
    summary = {
        "tool_name": first["tool_name"],
        "arguments": first["arguments"],
        "reason": first["reason"],
        "requested_at": timezone.now().isoformat(),
    }
    return Waiting(check_json(summary, field="approval_request"), checked)


def _approval_request(request, where):
    """One request, normalised (ids as strings, expiry in seconds) or ``invalid_outcome``."""
    if not isinstance(request, outcomes.ApprovalRequest):
        raise _invalid(f"{where} must come from scoria.approval_request()")
    if not is_name(request.tool_name):
        raise _invalid(f"{where}.tool_name must be a non-blank string")
    if request.reason is not None and (
        not isinstance(request.reason, str) or len(request.reason) > MAX_REASON
    ):
        raise _invalid(f"{where}.reason must be a string of at most {MAX_REASON} characters")
    if request.call_id is not None and not is_name(request.call_id):
        raise _invalid(f"{where}.call_id must be a non-blank string")
    if request.on_expiry not in OnExpiry.values:
        raise _invalid(f"{where}.on_expiry must be one of {', '.join(OnExpiry.values)}")
    return {
        "tool_name": request.tool_name,
        "arguments": check_json(request.arguments, field=f"{where}.arguments"),
        "reason": request.reason,
        "call_id": request.call_id,
        "assignees": _ids(request.assignees, f"{where}.assignees"),
        "groups": _ids(request.groups, f"{where}.groups", allow_int=False),
        "expires_in": _seconds(request.expires_in, f"{where}.expires_in"),
        "on_expiry": request.on_expiry,
    }


def _ids(values, where, *, allow_int=True):
    kinds = (str, int) if allow_int else (str,)
    ids = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kinds) or not is_name(str(value)):
            raise _invalid(f"{where} holds {value!r}, not a name")
        ids.append(str(value))
    return ids


def _seconds(value, where):
    if value is None:
        return None
    if isinstance(value, datetime.timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 10**9:
        raise _invalid(f"{where} must be a positive number of seconds or a timedelta")
    return float(value)


def _invalid(detail):
    return ScoriaError(detail, code="invalid_outcome")


def _next_steps(specs):
    steps = []
    for index, spec in enumerate(specs):
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if not is_name(kind, MAX_KIND_LENGTH):
            raise ScoriaError(
                f"next_steps[{index}] needs a kind of at most {MAX_KIND_LENGTH} characters",
                code="invalid_outcome",
            )
        role_id = spec.get("role_id")
        if role_id is not None and not is_name(role_id):
            raise ScoriaError(
                f"next_steps[{index}].role_id must be a non-blank string", code="invalid_outcome"
            )
        unknown = set(spec) - {"kind", "role_id", "input", "delay", "not_before"}
        if unknown:
            raise ScoriaError(
                f"next_steps[{index}] has unsupported keys {sorted(unknown)}",
                code="invalid_outcome",
            )
        not_before = spec.get("not_before")
        if not_before is not None and (
            not isinstance(not_before, datetime.datetime) or timezone.is_naive(not_before)
        ):
            raise ScoriaError(
                f"next_steps[{index}].not_before must be an aware datetime", code="invalid_outcome"
            )
        delay = spec.get("delay")
        steps.append(
            {
                "kind": kind,
                "role_id": role_id,
                "input": check_json(spec.get("input"), field=f"next_steps[{index}].input"),
                "delay": None if delay is None else _delay(delay, f"next_steps[{index}].delay"),
                "not_before": not_before,
            }
        )
    return steps


def _handoff(result):
    """The same checks as ``start_handoff_run``; a rejected handoff fails the step.

    The error is the bounded-handoff envelope: ``reason`` (the validation code),
    ``contract`` and ``detail`` (which names the offending path).
    """
    handoff_input = {} if result.handoff_input is None else result.handoff_input
    try:
        check_delegated_role_id(result.delegated_role_id)
        handoff = delegation(
            result.delegated_role_id,
            result.delegated_kind,
            handoff_input,
            result.projected_context,
            result.capability_tags,
        )
    except ScoriaError as exc:
        return Failed(
            {"reason": exc.code, "contract": HANDOFF_CONTRACT, "detail": clean_text(exc.detail)}
        )
    return Completed({"handoff": handoff["delegated_role_id"]}, handoff=handoff)
