"""A running step's ``progress`` event: evidence only, no status changes.

It goes through the journal like every event (the run's lock, its gapless sequence, the
``NOTIFY`` that wakes streams), and only while the step is still running under the
claim that reports it: a worker that lost its claim adds nothing to the timeline.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..exceptions import NotFound
from ..states import StepStatus
from . import _sql
from .journal import locked_run


def record_progress(run_id, step_id, token: uuid.UUID, payload: dict[str, Any]) -> bool:
    """Append a ``progress`` event for ``step_id``; False (nothing written) when the step
    is no longer running under ``token`` or the run is gone."""
    from ..models import Step

    try:
        with locked_run(run_id) as journal:
            held = {"id": step_id, "claim_token": token, "status": StepStatus.RUNNING}
            if not _sql.exists(Step, held, journal.connection):
                return False
            journal.record("progress", step_id=step_id, **payload)
            return True
    except NotFound:
        return False
