"""Execution policies a handler carries: retries with backoff and its own timeout.

Pure Python: ``@scoria.handler(retry=RetryPolicy(...), timeout=...)`` marks the function
itself (it stays importable by its dotted path, so any worker finds the same policy).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

Handler = TypeVar("Handler", bound=Callable[..., Any])

_RETRY = "__scoria_retry__"
_TIMEOUT = "__scoria_timeout__"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retry a failing step: ``max_attempts`` in all (the first run counts), waiting
    ``initial_interval * backoff_factor ** (attempt - 1)`` seconds (at most
    ``max_interval``) before the next, with full jitter when ``jitter`` is true (a random
    delay between half and all of it), for exceptions matching ``retry_on``."""

    max_attempts: int = 3
    initial_interval: float = 1.0
    backoff_factor: float = 2.0
    max_interval: float = 60.0
    jitter: bool = True
    retry_on: tuple[type[BaseException], ...] = (Exception,)

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise TypeError("max_attempts must be an int")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("initial_interval", "backoff_factor", "max_interval"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ValueError(f"{name} must be a number >= 0")
        retry_on = self.retry_on
        if isinstance(retry_on, type):
            object.__setattr__(self, "retry_on", (retry_on,))
        elif not all(isinstance(c, type) and issubclass(c, BaseException) for c in retry_on):
            raise TypeError("retry_on must be exception classes")

    def retries(self, error: BaseException) -> bool:
        return isinstance(error, self.retry_on)

    def allows_another(self, attempt: int) -> bool:
        """May the step, having just run ``attempt``, run once more?"""
        return attempt < self.max_attempts

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the failure of ``attempt`` (1 for the first run)."""
        base = min(self.initial_interval * self.backoff_factor ** (attempt - 1), self.max_interval)
        if self.jitter:
            base = random.uniform(base / 2, base)  # noqa: S311 - spreading load, not a secret
        return base


def handler(
    *, retry: RetryPolicy | None = None, timeout: float | None = None
) -> Callable[[Handler], Handler]:
    """Attach a retry policy and/or a timeout (seconds) to a handler function."""
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError("retry must be a scoria.RetryPolicy")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise ValueError("timeout must be a positive number of seconds")

    def mark(function: Handler) -> Handler:
        setattr(function, _RETRY, retry)
        setattr(function, _TIMEOUT, None if timeout is None else float(timeout))
        return function

    return mark


def retry_policy_of(function: Any) -> RetryPolicy | None:
    return getattr(function, _RETRY, None)


def timeout_of(function: Any) -> float | None:
    return getattr(function, _TIMEOUT, None)
