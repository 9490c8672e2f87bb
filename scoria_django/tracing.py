"""OpenTelemetry spans for the engine, when ``opentelemetry-api`` is installed
(``scoria_django[otel]``); without it every function here is a no-op.

Spans: ``scoria.start``, ``scoria.claim``, ``scoria.handler`` and ``scoria.outcome``, each with
``scoria.run_id``, ``scoria.step_id``, ``scoria.kind`` and ``scoria.attempt`` where known. The
trace context active when a step is queued or resumed (the web request that started or
resumed the run) is stored on the step (``Step.trace_context``, W3C ``traceparent``), and the
worker that claims it continues that trace.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError:  # the optional extra is not installed
    otel_context = propagate = trace = None  # type: ignore[assignment]

TRACER_NAME = "scoria_django"


def enabled() -> bool:
    return trace is not None


def _attributes(values: dict[str, Any]) -> dict[str, Any]:
    shown = {}
    for name, value in values.items():
        if value is None:
            continue
        shown[f"scoria.{name}"] = value if isinstance(value, int | str) else str(value)
    return shown


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """A span named ``name`` (a child of the current one), or nothing without OpenTelemetry."""
    if trace is None:
        yield None
        return
    tracer = _tracer(trace)
    with tracer.start_as_current_span(name, attributes=_attributes(attributes)) as current:
        yield current


@functools.cache
def _tracer(api: Any) -> Any:
    # A proxy until the application installs its provider, then that provider's tracer.
    return api.get_tracer(TRACER_NAME)


def carrier() -> dict[str, str] | None:
    """The current trace context as W3C headers, to store with a step (None: no trace)."""
    if propagate is None or trace is None:
        return None
    if not trace.get_current_span().get_span_context().is_valid:
        return None  # no trace to continue
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers or None


@contextmanager
def continued(headers: dict[str, str] | None) -> Iterator[None]:
    """Run the block in the trace ``headers`` carry (a step's stored context)."""
    if otel_context is None or propagate is None or not headers:
        yield
        return
    token = otel_context.attach(propagate.extract(headers))
    try:
        yield
    finally:
        otel_context.detach(token)


def current() -> Any:
    """The current context, to hand to another thread (``attached``)."""
    return None if otel_context is None else otel_context.get_current()


@contextmanager
def attached(context: Any) -> Iterator[None]:
    if otel_context is None or context is None:
        yield
        return
    token = otel_context.attach(context)
    try:
        yield
    finally:
        otel_context.detach(token)
