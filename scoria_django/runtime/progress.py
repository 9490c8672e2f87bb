"""``ctx.progress``: a step's progress events, throttled per step.

The rule (``SCORIA_PROGRESS_MIN_INTERVAL`` seconds, ``interval`` below): a call made at
least ``interval`` after the step's last written progress event is written at once, on the
handler's thread. A call made sooner is kept as the step's pending report, replacing any
earlier pending one (the latest kept); the pending report is written as soon as
``interval`` has passed since the last write (by a timer thread), or when the handler
returns, raises or times out, before the step's outcome is recorded, whichever comes
first. So a step writes at most one progress event per interval, the last report of a
burst is never lost, and every progress event comes before the step's outcome. Reports
made after the step ended (an abandoned handler still running) are dropped.
"""

import logging
import threading
import time

from django.db import connections

from .. import transitions
from ..conf import scoria_settings
from ..exceptions import InvalidPayload
from ..payloads import check_json
from .leases import retry_on_contention

logger = logging.getLogger(__name__)


def progress_payload(message, data) -> dict:
    """The event's payload, checked like every stored value (bad input raises here, in the
    handler that sent it, never later on a timer)."""
    if message is not None and not isinstance(message, str):
        raise InvalidPayload("progress message must be a string or None", field="message")
    return check_json({"message": message, "data": data}, field="progress")


class ProgressReporter:
    """One claimed step's progress reports and their throttle."""

    def __init__(self, claim) -> None:
        self._claim = claim
        self._lock = threading.Lock()
        self._last_write: float | None = None
        self._pending: dict | None = None
        self._timer: threading.Timer | None = None
        self._closed = False

    def report(self, payload: dict) -> None:
        interval = scoria_settings.PROGRESS_MIN_INTERVAL
        with self._lock:
            if self._closed:
                return
            now = time.monotonic()
            due = self._last_write is None or now - self._last_write >= interval
            if due and self._timer is None:
                self._write(payload)
                return
            self._pending = payload
            if self._timer is None:
                delay = max((self._last_write or now) + interval - now, 0)
                self._timer = threading.Timer(delay, self._on_timer)
                self._timer.daemon = True
                self._timer.name = f"scoria-progress-{self._claim.step.pk}"
                self._timer.start()

    def close(self) -> None:
        """The step ended: write the pending report now, drop any later one."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._write_pending()

    def _on_timer(self) -> None:
        try:
            with self._lock:
                self._timer = None
                if not self._closed:
                    self._write_pending()
        finally:
            connections.close_all()  # this timer thread's own connection

    def _write_pending(self) -> None:
        if self._pending is not None:
            payload, self._pending = self._pending, None
            self._write(payload)

    def _write(self, payload: dict) -> None:
        # Under the lock: writes of one step keep their order.
        self._last_write = time.monotonic()
        claim = self._claim
        try:
            written = retry_on_contention(
                lambda: transitions.record_progress(
                    claim.run.pk, claim.step.pk, claim.token, payload
                )
            )
        except Exception:
            # Evidence only: a report that cannot be written must not fail the step.
            logger.exception("could not record progress step=%s", claim.step.pk)
            return
        if not written:
            logger.info("progress dropped, claim lost step=%s", claim.step.pk)
