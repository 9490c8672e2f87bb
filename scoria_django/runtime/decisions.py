"""Turn what a handler returned (or raised) into a decision about its step. Pure: no I/O."""

from dataclasses import dataclass, field

from django.utils import timezone

from .. import outcomes
from ..exceptions import ScoriaError
from ..names import MAX_KIND_LENGTH, is_name
from ..payloads import check_json
from ..redaction import redact_text
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


@dataclass(frozen=True)
class Failed:
    error: dict


def _class_path(cls):
    return f"{cls.__module__}.{cls.__qualname__}"


def clean_text(text, limit=MAX_MESSAGE):
    """A message safe to store as JSON on every database: no NUL, no lone surrogate."""
    text = str(text).replace("\x00", "")[:limit]
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _not_json(exc):
    reason = "output_not_json" if exc.code == "invalid_payload" else exc.code
    return Failed({"reason": reason, "detail": clean_text(exc.detail)})


def exception_error(exc, reason="exception"):
    """Type and message only: never the traceback's frames or local variables."""
    try:
        # Redacted as it is recorded: scoria wrote this text, and messages quote
        # connection strings, headers and keys (scoria_django/redaction.py).
        message = clean_text(redact_text(str(exc)[: MAX_MESSAGE * 4]))
    except Exception:  # noqa: BLE001 - a broken __str__ must not hide the failure
        message = ""
    return {"reason": reason, "type": _class_path(type(exc)), "message": message}


def decide(result):
    if isinstance(result, BaseException):
        return Failed(exception_error(result))
    try:
        if isinstance(result, outcomes.Fail):
            if not isinstance(result.reason, str) or not result.reason.strip():
                raise ScoriaError("fail() needs a non-blank reason", code="invalid_outcome")
            error = {**result.details, "reason": result.reason}
            return Failed(check_json(error, field="error"))
        if isinstance(result, outcomes.WaitForApproval):
            return _waiting(result)
        if isinstance(result, outcomes.Handoff):
            return _handoff(result)
        if isinstance(result, outcomes.Complete):
            return Completed(_output(result.value), _next_steps(result.next_steps))
        return Completed(_output(result))
    except ScoriaError as exc:
        return _not_json(exc)


def _output(value):
    output = value if isinstance(value, dict) else {"result": value}
    return check_json(output, field="output")


def _waiting(result):
    if not isinstance(result.tool_name, str) or not result.tool_name.strip():
        return Failed({"reason": "invalid_outcome", "detail": "tool_name must be a string"})
    request = {
        "tool_name": result.tool_name,
        "arguments": result.arguments,
        "reason": result.reason,
        "requested_at": timezone.now().isoformat(),
    }
    return Waiting(check_json(request, field="approval_request"))


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
        unknown = set(spec) - {"kind", "role_id", "input"}
        if unknown:
            raise ScoriaError(
                f"next_steps[{index}] has unsupported keys {sorted(unknown)}",
                code="invalid_outcome",
            )
        steps.append(
            {
                "kind": kind,
                "role_id": role_id,
                "input": check_json(spec.get("input"), field=f"next_steps[{index}].input"),
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
