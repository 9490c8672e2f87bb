"""Pages of a run's timeline, read for streams.

``read_page`` is one read: the run's status and event counter, then its events after a
sequence, each rendered once into its SSE message. Async streams read on the few threads
of ``Readers`` (each keeps one database connection), so a thousand idle streams cost no
thread and no connection, and streams of the same run at the same position, woken by
the same notification, share one read (``shared_page``).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections

from ..records import event_row
from ..runtime.leases import retry_on_contention
from ..states import is_run_terminal

# Events per read: a stream far behind catches up in pages of this size.
PAGE_SIZE = 200
# Threads reading for async streams (each holds one database connection).
READER_THREADS = 4

Render = Callable[[dict[str, Any]], str]


@dataclass(frozen=True, slots=True)
class Page:
    """What one read found: the messages after the position, and whether the run is over."""

    messages: tuple[tuple[int, bytes], ...]  # (sequence, encoded message), in order
    last_sequence: int  # the run's event counter when read
    terminal: bool  # the run's status was terminal when read
    gone: bool = False  # the run was deleted

    def finished(self, after: int) -> bool:
        """Nothing more will come once ``after`` is sent: the run is over or gone."""
        return self.gone or (self.terminal and after >= self.last_sequence)


def message(sequence: int, event_type: str, data: str) -> bytes:
    """One SSE message. ``data`` is compact JSON (no raw line break), so one line."""
    return f"id: {sequence}\nevent: {event_type}\ndata: {data}\n\n".encode()


def read_page(run_id, after: int, render: Render) -> Page:
    """The run's events after ``after`` (at most ``PAGE_SIZE``), read after the run row so
    a terminal status read here comes with every event up to its counter."""
    # SQLite may refuse a read for a moment while a writer holds the table.
    return retry_on_contention(lambda: _read_page(run_id, after, render))


def _read_page(run_id, after: int, render: Render) -> Page:
    from ..models import Event, Run

    run = Run.objects.filter(pk=run_id).values("status", "last_event_sequence").first()
    if run is None:
        return Page((), 0, True, gone=True)
    events = Event.objects.filter(run_id=run_id, sequence__gt=after).order_by("sequence")
    messages = tuple(
        (event.sequence, message(event.sequence, event.event_type, render(event_row(event))))
        for event in events[:PAGE_SIZE]
    )
    return Page(messages, run["last_event_sequence"], is_run_terminal(run["status"]))


class Readers:
    """A few daemon threads running reads for event loops; started on first use."""

    def __init__(self, size: int = READER_THREADS):
        self._size = size
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def run(self, function: Callable[..., Any], *args: Any) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._start()
        self._queue.put((loop, future, function, args))
        return future

    def _start(self) -> None:
        with self._lock:
            self._threads = [thread for thread in self._threads if thread.is_alive()]
            while len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._work, name="scoria-stream-reader", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        """End the threads, closing their connections (tests, shutdown)."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join(timeout=5)

    def _work(self) -> None:
        try:
            while (item := self._queue.get()) is not None:
                loop, future, function, args = item
                try:
                    result = function(*args)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting stream
                    if isinstance(exc, DatabaseError):
                        connections.close_all()  # the next read reconnects
                    _settle(loop, future, exception=exc)
                else:
                    _settle(loop, future, result=result)
        finally:
            connections.close_all()


def _settle(loop, future, *, result=None, exception=None) -> None:
    def settle():
        if future.done():
            return
        if exception is not None:
            future.set_exception(exception)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits for this read
        loop.call_soon_threadsafe(settle)


readers = Readers()
_inflight: dict[tuple, asyncio.Future] = {}


async def shared_page(run_id, after: int, render: Render) -> Page:
    """``read_page`` on a reader thread, shared by concurrent streams at the same position
    of the same run (with the same renderer)."""
    key = (asyncio.get_running_loop(), str(run_id), after, render)
    future = _inflight.get(key)
    if future is None:
        future = _inflight[key] = readers.run(read_page, run_id, after, render)
        future.add_done_callback(lambda _: _inflight.pop(key, None))
    # A stream that goes away must not cancel the read the others wait for.
    return await asyncio.shield(future)
