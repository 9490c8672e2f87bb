"""A run's timeline as Server-Sent Events: one message per event, then the end.

Each message is ``id: <sequence>``, ``event: <event_type>``, ``data: <the event row as
JSON>``. A stream starts after the sequence the client names (``Last-Event-ID`` on a
reconnection, or ``?after=``), so a reconnecting client gets every event once, in order.
It sends a comment line (``: heartbeat``) after ``SCORIA_STREAM_HEARTBEAT_SECONDS`` of
quiet, and ends once the run is completed, failed or cancelled and every event up to that
ending is sent.

Under ASGI the stream is an async iterator: it holds no thread while it waits for a
notification (``notifications``) and reads on the shared reader threads (``reads``).
Under WSGI it is a blocking iterator that holds its worker thread until the run ends or
the client goes away.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.http import HttpResponse, StreamingHttpResponse

from ..conf import scoria_settings
from ..states import RunStatus, StepStatus, is_run_terminal
from . import reads
from .notifications import Hub, hub
from .reads import PAGE_SIZE, Page, Render

# Every event type the engine records (``event:`` of a message). An EventSource hears a
# named event only through a listener for that name, so the live pages register these
# (tests/test_streaming.py checks the list against the code that records events).
EVENT_TYPES = (
    "run_started",
    "run_waiting_for_approval",
    *(f"run_{status}" for status in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)),
    *(f"step_{status}" for status in StepStatus),
    "step_started",
    "step_claimed",
    "step_requeued",
    "resume_requested",
    "retry_requested",
    "handoff_created",
    "late_result_discarded",
    "step_retry_scheduled",
    "approval_requested",
    "approval_decided",
    "approval_expired",
    "approval_cancelled",
    "progress",
)
# The events after which a run has ended (until a retry reopens a failed one).
ENDING_TYPES = ("run_completed", "run_failed", "run_cancelled")

CONTENT_TYPE = "text/event-stream"
# A comment opens the stream: the client sees it live (and subscribed) before any event.
OPENING = b": stream open\n\n"
HEARTBEAT = b": heartbeat\n\n"


def _json_default(value: Any) -> str:
    if isinstance(value, datetime.datetime):
        text = value.astimezone(datetime.UTC).isoformat()
        return text.removesuffix("+00:00") + "Z"
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def render_row(row: dict[str, Any]) -> str:
    """An event row as compact JSON (ISO 8601 instants in UTC, as the API gives them)."""
    return json.dumps(row, default=_json_default, ensure_ascii=False, separators=(",", ":"))


_SEQUENCE = re.compile(r"[0-9]{1,18}")


def parse_position(last_event_id: str | None, after: str | None) -> int | None:
    """Where a stream starts: ``Last-Event-ID`` (an EventSource reconnecting) wins over
    ``?after=``; neither given is 0 (the whole timeline); None when the value given is not
    an event sequence (a non-negative integer)."""
    raw = last_event_id if last_event_id is not None else after
    if raw is None or raw.strip() == "":
        return 0
    return int(raw) if _SEQUENCE.fullmatch(raw.strip()) else None


def nothing_left(run_id, status: str, after: int) -> bool:
    """The run is over and the client has every event: there is nothing to stream."""
    from ..models import Run

    if not is_run_terminal(status):
        return False
    last = Run.objects.filter(pk=run_id).values_list("last_event_sequence", flat=True).first()
    return last is None or after >= last


def event_stream_response(
    request, run_id, after: int, *, render: Render = render_row
) -> StreamingHttpResponse:
    """The stream of ``run_id`` after ``after``: the caller has checked who may read it."""
    if isinstance(request, ASGIRequest):
        content: Iterator[bytes] | AsyncIterator[bytes] = stream_events(run_id, after, render)
        # The stream reads on the reader threads; the connection this request opened to
        # authenticate would otherwise stay open, idle, for as long as the stream lasts.
        for connection in connections.all(initialized_only=True):
            if not connection.in_atomic_block:
                connection.close()
    else:
        content = stream_events_blocking(run_id, after, render)
    response = StreamingHttpResponse(content, content_type=CONTENT_TYPE)
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each message on at once
    return response


def no_content() -> HttpResponse:
    """204: the run ended and the client has every event. An EventSource stops here
    instead of reconnecting."""
    return HttpResponse(status=204, content_type=CONTENT_TYPE)


def _wait_seconds(listener: Hub, quiet_since: float) -> float:
    heartbeat_in = scoria_settings.STREAM_HEARTBEAT_SECONDS - (time.monotonic() - quiet_since)
    if listener.listening:
        return max(heartbeat_in, 0.0)
    return max(min(heartbeat_in, scoria_settings.STREAM_POLL_SECONDS), 0.0)


def _chunk(page: Page) -> bytes:
    return b"".join(data for _, data in page.messages)


async def stream_events(run_id, after: int, render: Render) -> AsyncIterator[bytes]:
    listener = hub()
    waiter = listener.subscribe(run_id, asyncio.get_running_loop())
    try:
        yield OPENING
        quiet_since = time.monotonic()
        while True:
            waiter.clear()  # before the read: a notification from now on reads again
            page = await reads.shared_page(run_id, after, render)
            if page.messages:
                yield _chunk(page)
                after, quiet_since = page.messages[-1][0], time.monotonic()
            if page.finished(after):
                return
            if len(page.messages) == PAGE_SIZE:
                continue  # catching up: read the next page at once
            woken = await waiter.wait(_wait_seconds(listener, quiet_since))
            if not woken and time.monotonic() - quiet_since >= (
                scoria_settings.STREAM_HEARTBEAT_SECONDS
            ):
                yield HEARTBEAT
                quiet_since = time.monotonic()
    finally:
        listener.unsubscribe(waiter)


def stream_events_blocking(run_id, after: int, render: Render) -> Iterator[bytes]:
    listener = hub()
    waiter = listener.subscribe(run_id)
    try:
        yield OPENING
        quiet_since = time.monotonic()
        while True:
            waiter.clear()
            page = reads.read_page(run_id, after, render)
            if page.messages:
                yield _chunk(page)
                after, quiet_since = page.messages[-1][0], time.monotonic()
            if page.finished(after):
                return
            if len(page.messages) == PAGE_SIZE:
                continue
            woken = waiter.wait_blocking(_wait_seconds(listener, quiet_since))
            if not woken and time.monotonic() - quiet_since >= (
                scoria_settings.STREAM_HEARTBEAT_SECONDS
            ):
                yield HEARTBEAT
                quiet_since = time.monotonic()
    finally:
        listener.unsubscribe(waiter)
