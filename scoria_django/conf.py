"""Flat ``SCORIA_*`` settings, read on every access so ``override_settings`` just works."""

from typing import Any

from django.conf import settings

DEFAULT_PROMPT_POLICY: dict[str, Any] = {
    "policy_key": "default",
    "prompt_ref": None,
    "prompt_version": None,
    "tools_allowed": True,
    "grounding_required": False,
    "approval_required": False,
    "metadata": {},
}

DEFAULT_RUNTIME = {
    "provider": "openai",
    "model": "gpt-5-mini",
    "prompt_policy": DEFAULT_PROMPT_POLICY,
}


class Settings:
    @property
    def HANDLERS(self) -> dict:
        """Step kind -> dotted path of the handler callable."""
        return dict(getattr(settings, "SCORIA_HANDLERS", {}) or {})

    @property
    def STEP_TIMEOUT(self) -> float:
        """Seconds a handler may run before its step fails with reason ``timeout``."""
        return float(getattr(settings, "SCORIA_STEP_TIMEOUT", 30))

    @property
    def LEASE_SECONDS(self) -> float:
        """How long a claim holds without renewal; the executor renews it while the handler runs."""
        return float(getattr(settings, "SCORIA_LEASE_SECONDS", 60))

    @property
    def MAX_ATTEMPTS(self) -> int:
        """The lost claim (expired lease) on which a step fails with ``lease_expired``, counted
        from its last queueing by ``resume_run``."""
        return int(getattr(settings, "SCORIA_MAX_ATTEMPTS", 3))

    @property
    def REQUEUE_AFTER(self) -> float:
        """Seconds a queued step may wait before ``scoria_recover`` enqueues it again."""
        return float(getattr(settings, "SCORIA_REQUEUE_AFTER", 300))

    @property
    def MAX_PAYLOAD_BYTES(self) -> int:
        return int(getattr(settings, "SCORIA_MAX_PAYLOAD_BYTES", 256 * 1024))

    @property
    def MAX_CONTEXT_BYTES(self) -> int:
        return int(getattr(settings, "SCORIA_MAX_CONTEXT_BYTES", 64 * 1024))

    @property
    def MAX_DEPTH(self) -> int:
        return int(getattr(settings, "SCORIA_MAX_DEPTH", 32))

    @property
    def TASK_BACKEND(self) -> str:
        """Alias in ``TASKS`` that step tasks are enqueued on."""
        return getattr(settings, "SCORIA_TASK_BACKEND", "default")

    @property
    def TASK_QUEUE(self) -> str:
        return getattr(settings, "SCORIA_TASK_QUEUE", "default")

    @property
    def RUNTIME_DEFAULTS(self) -> dict:
        configured = getattr(settings, "SCORIA_RUNTIME_DEFAULTS", None) or {}
        policy = {**DEFAULT_PROMPT_POLICY, **(configured.get("prompt_policy") or {})}
        return {**DEFAULT_RUNTIME, **configured, "prompt_policy": policy}

    @property
    def DEFAULTS_RESOLVER(self) -> str | None:
        """Dotted path of ``callable(identity) -> dict`` overlaying the runtime defaults."""
        return getattr(settings, "SCORIA_DEFAULTS_RESOLVER", None)

    @property
    def TENANT_RESOLVER(self) -> str | None:
        """Dotted path of ``callable(request) -> str | None``."""
        return getattr(settings, "SCORIA_TENANT_RESOLVER", None)

    @property
    def MAX_STEPS_PER_RUN(self) -> int | None:
        """A run that would hold more steps fails with ``step_limit_exceeded`` (None: no cap)."""
        return getattr(settings, "SCORIA_MAX_STEPS_PER_RUN", 1000)

    @property
    def SESSION_CONCURRENCY(self) -> str:
        """What a start does while its session has an active run: ``allow``, ``reject`` or
        ``cancel_previous`` (overridable per call with ``on_busy=``)."""
        return getattr(settings, "SCORIA_SESSION_CONCURRENCY", "allow")

    @property
    def APPROVAL_POLICY(self) -> str:
        """Dotted path of ``callable(approval, identity) -> bool``: may this identity decide?"""
        return getattr(
            settings, "SCORIA_APPROVAL_POLICY", "scoria_django.runtime.approvals.default_policy"
        )

    @property
    def SESSION_KEY(self) -> str:
        return getattr(settings, "SCORIA_SESSION_KEY", "scoria_session_id")

    @property
    def API_MAX_PAGE_SIZE(self) -> int:
        return int(getattr(settings, "SCORIA_API_MAX_PAGE_SIZE", 100))

    @property
    def API_PAGE_SIZE(self) -> int:
        return int(getattr(settings, "SCORIA_API_PAGE_SIZE", 25))

    @property
    def STREAM_POLL_SECONDS(self) -> float:
        """How often an event stream reads again when no notification wakes it (databases
        other than PostgreSQL, or while the PostgreSQL listener is reconnecting)."""
        return float(getattr(settings, "SCORIA_STREAM_POLL_SECONDS", 1.0))

    @property
    def STREAM_HEARTBEAT_SECONDS(self) -> float:
        """Idle seconds after which an event stream sends a comment line, so proxies and
        clients see it alive."""
        return float(getattr(settings, "SCORIA_STREAM_HEARTBEAT_SECONDS", 15.0))

    @property
    def PROGRESS_MIN_INTERVAL(self) -> float:
        """Seconds between two ``progress`` events of one step; faster calls keep only the
        latest, written when the interval has passed or at the step's end. 0 writes every
        call."""
        return max(float(getattr(settings, "SCORIA_PROGRESS_MIN_INTERVAL", 1.0)), 0.0)

    @property
    def MODEL_PRICES(self) -> dict:
        """Prices per model per million tokens, ``{"model": {"input": 2.5, "output": 10.0}}``:
        usage then shows its ``cost`` (docs/agents.md#usage). Empty: no cost."""
        return getattr(settings, "SCORIA_MODEL_PRICES", None) or {}

    @property
    def REDACTED_KEYS(self) -> tuple[str, ...]:
        """Extra key names whose values operator surfaces hide (scoria_django/redaction.py)."""
        return _strings(getattr(settings, "SCORIA_REDACTED_KEYS", ()))

    @property
    def REDACTION_PATTERNS(self) -> tuple[str, ...]:
        """Extra regular expressions whose matches operator surfaces hide."""
        return _strings(getattr(settings, "SCORIA_REDACTION_PATTERNS", ()))


def _strings(value: Any) -> tuple[str, ...]:
    """A list setting as a tuple; one bare string is one item, not its characters."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


scoria_settings = Settings()
