"""Wake-ups for waiting streams: one ``LISTEN scoria_events`` connection per process.

Every transaction that records events on PostgreSQL sends ``NOTIFY scoria_events,
'<run_id>'`` (``transitions.journal``), delivered at commit. A daemon thread started by
the first subscription holds one psycopg connection listening on that channel and wakes
the streams subscribed to that run: async streams on their event loop, blocking (WSGI)
streams through a ``threading.Event``. Thousands of streams share that one connection.

While the listener is not connected (other databases, or a lost connection being
retried), ``listening`` is false and streams poll every ``SCORIA_STREAM_POLL_SECONDS``.
Each (re)connection wakes every stream once, so nothing committed meanwhile waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import defaultdict

from django.db import connections

from ..transitions.journal import EVENTS_CHANNEL, db_alias

logger = logging.getLogger(__name__)

# Seconds the listener waits between two checks of its stop flag, and before reconnecting.
_TICK = 1.0
_RECONNECT_AFTER = 2.0


class Waiter:
    """One stream's wake-up: set by a notification for its run, cleared before each read."""

    __slots__ = ("run_id", "loop", "_event")

    def __init__(self, run_id: str, loop: asyncio.AbstractEventLoop | None):
        self.run_id = run_id
        self.loop = loop
        self._event: asyncio.Event | threading.Event = (
            asyncio.Event() if loop is not None else threading.Event()
        )

    def clear(self) -> None:
        self._event.clear()

    def set(self) -> None:
        """Wake the stream (on its loop's thread for an async stream)."""
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        event = self._event
        if not isinstance(event, asyncio.Event):
            raise TypeError("a blocking waiter has no async wait")
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def wait_blocking(self, timeout: float) -> bool:
        event = self._event
        if not isinstance(event, threading.Event):
            raise TypeError("an async waiter has no blocking wait")
        return event.wait(timeout)


def _set_all(waiters: list[Waiter]) -> None:
    for waiter in waiters:
        waiter.set()


class Hub:
    """The process's subscriptions and its listener thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: dict[str, set[Waiter]] = defaultdict(set)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._listening = threading.Event()

    @property
    def listening(self) -> bool:
        """True while the LISTEN connection is up: streams need not poll."""
        return self._listening.is_set()

    def subscribe(self, run_id, loop: asyncio.AbstractEventLoop | None = None) -> Waiter:
        waiter = Waiter(str(run_id), loop)
        with self._lock:
            self._waiters[waiter.run_id].add(waiter)
        self._ensure_listener()
        return waiter

    def unsubscribe(self, waiter: Waiter) -> None:
        with self._lock:
            waiters = self._waiters.get(waiter.run_id)
            if waiters is not None:
                waiters.discard(waiter)
                if not waiters:
                    del self._waiters[waiter.run_id]

    def wake(self, run_id: str | None = None) -> None:
        """Wake the streams of ``run_id`` (every stream when None)."""
        with self._lock:
            if run_id is None:
                targets = [w for waiters in self._waiters.values() for w in waiters]
            else:
                targets = list(self._waiters.get(run_id, ()))
        by_loop: dict[asyncio.AbstractEventLoop, list[Waiter]] = defaultdict(list)
        for waiter in targets:
            if waiter.loop is None:
                waiter.set()
            else:
                by_loop[waiter.loop].append(waiter)
        # One hop onto each event loop, however many of its streams wake.
        for loop, waiters in by_loop.items():
            with contextlib.suppress(RuntimeError):  # that loop closed: its streams are gone
                loop.call_soon_threadsafe(_set_all, waiters)

    # -- the listener --------------------------------------------------------------

    def _ensure_listener(self) -> None:
        if connections[db_alias()].vendor != "postgresql":
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._listen, name="scoria-stream-listener", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop the listener and close its connection (tests, shutdown)."""
        with self._lock:
            thread = self._thread
            self._thread = None
        self._stop.set()
        if thread is not None:
            thread.join(timeout=_TICK * 5)

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                self._listen_once()
            except Exception:
                logger.warning(
                    "stream listener lost its connection; streams poll meanwhile", exc_info=True
                )
            finally:
                self._listening.clear()
            self._stop.wait(_RECONNECT_AFTER)

    def _listen_once(self) -> None:
        import psycopg

        params = connections[db_alias()].get_connection_params()
        params.pop("cursor_factory", None)
        with psycopg.connect(**params, autocommit=True) as connection:
            connection.execute(f"LISTEN {EVENTS_CHANNEL}")
            self._listening.set()
            self.wake()  # whatever committed before LISTEN took effect
            while not self._stop.is_set():
                for notification in connection.notifies(timeout=_TICK):
                    self.wake(notification.payload)
                    if self._stop.is_set():
                        break


_hub = Hub()


def hub() -> Hub:
    """The process's hub."""
    return _hub
