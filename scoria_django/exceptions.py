"""The ScoriaError family: every error scoria raises, each with a stable ``code``.

Core exceptions know nothing of HTTP; ``scoria_django.api.exceptions`` maps the
families to 400 / 404 / 409.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .names import printable


class ScoriaError(Exception):
    """Base class. ``code`` is stable and machine-readable; ``detail`` is for humans."""

    code = "scoria_error"

    def __init__(
        self, detail: str | None = None, *, field: str | None = None, code: str | None = None
    ) -> None:
        if code is not None:
            self.code = code
        # Both quote what the caller sent, which may hold a lone surrogate: escaped here, so
        # every surface (JSON, a terminal, the admin) can show the error.
        self.detail = printable(detail or self.code.replace("_", " "))
        self.field = None if field is None else printable(field)
        super().__init__(self.detail)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "field": self.field}

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(code={self.code!r}, detail={self.detail!r}, field={self.field!r})"


# Families -------------------------------------------------------------------


class ScoriaValidationError(ScoriaError, ValueError):
    """The caller sent a value scoria cannot accept. Nothing was written."""

    code = "invalid"


class ScoriaNotFound(ScoriaError, LookupError):
    """The record does not exist (or is not visible to the caller)."""

    code = "not_found"


class ScoriaConflict(ScoriaError):
    """The record exists but its current state does not allow the request."""

    code = "conflict"


class ScoriaConfigurationError(ScoriaError, ImproperlyConfigured):
    """The host project's configuration is wrong (a handler path does not import, ...)."""

    code = "improperly_configured"


# Validation -----------------------------------------------------------------


class InvalidPayload(ScoriaValidationError):
    code = "invalid_payload"


class InvalidScope(ScoriaValidationError):
    code = "invalid_scope"


class UnsupportedScopeKey(ScoriaValidationError):
    code = "unsupported_scope_key"


class SessionIdRequiredForThread(ScoriaValidationError):
    code = "session_id_required_for_thread"


class InconsistentParentScope(ScoriaValidationError):
    code = "inconsistent_parent_scope"


class InvalidRunOpt(ScoriaValidationError):
    code = "invalid_run_opt"


class UnsupportedRunOpt(ScoriaValidationError):
    code = "unsupported_run_opt"


class InvalidStepOpt(ScoriaValidationError):
    code = "invalid_step_opt"


class UnsupportedStepOpt(ScoriaValidationError):
    code = "unsupported_step_opt"


class InvalidFilter(ScoriaValidationError):
    code = "invalid_filter"


class UnsupportedFilter(ScoriaValidationError):
    code = "unsupported_filter"


class InvalidIdentity(ScoriaValidationError):
    code = "invalid_identity"


class InvalidRunId(ScoriaValidationError):
    code = "invalid_run_id"


class InvalidRootRoleId(ScoriaValidationError):
    code = "invalid_root_role_id"


class InvalidInitialStep(ScoriaValidationError):
    code = "invalid_initial_step"


class InvalidOption(ScoriaValidationError):
    code = "invalid_option"


class UnsafeRuntimeOverride(ScoriaValidationError):
    code = "unsafe_runtime_override"


class InvalidDelegatedRoleId(ScoriaValidationError):
    code = "invalid_delegated_role_id"


class InvalidDelegatedKind(ScoriaValidationError):
    code = "invalid_delegated_kind"


class InvalidHandoffInput(ScoriaValidationError):
    code = "invalid_handoff_input"


class InvalidProjectedContext(ScoriaValidationError):
    code = "invalid_projected_context"


class UnsafeProjectedContext(ScoriaValidationError):
    code = "unsafe_projected_context"


# Not found ------------------------------------------------------------------


class NotFound(ScoriaNotFound):
    code = "not_found"


class ParentRunNotFound(ScoriaNotFound):
    code = "parent_run_not_found"


# Conflicts ------------------------------------------------------------------


class AlreadyExists(ScoriaConflict):
    code = "already_exists"


class InvalidStatusTransition(ScoriaConflict):
    code = "invalid_status_transition"

    def __init__(self, current: str, target: str, *, detail: str | None = None) -> None:
        self.current = current
        self.target = target
        super().__init__(detail or f"cannot move from {current!s} to {target!s}")

    def as_dict(self) -> dict[str, Any]:
        return {**super().as_dict(), "current": str(self.current), "target": str(self.target)}


class ActiveSteps(ScoriaConflict):
    code = "active_steps"


class RunNotActive(ScoriaConflict):
    code = "run_not_active"


class NotResumable(ScoriaConflict):
    code = "not_resumable"


class ScoriaPermissionDenied(ScoriaError, PermissionError):
    """The identity may not make this request (web surfaces answer 403)."""

    code = "permission_denied"


class ApprovalNotAllowed(ScoriaPermissionDenied):
    code = "approval_not_allowed"


class IdempotencyKeyReused(ScoriaConflict):
    code = "idempotency_key_reused"


class SessionBusy(ScoriaConflict):
    code = "session_busy"


class ConcurrentUpdate(ScoriaConflict):
    """Another transaction changed the run between our read and our write."""

    code = "concurrent_update"


class EventImmutable(ScoriaError):
    """Code tried to change or delete an Event; events go only with their run."""

    code = "event_immutable"


# Configuration --------------------------------------------------------------


class HandlerNotFound(ScoriaConfigurationError):
    code = "handler_not_found"
