"""What an agent step keeps besides its status: its saved state and its model usage.

Neither is a status change. The saved state is written only while the step runs under the
claim that saves it (a worker that lost its claim must not overwrite its successor's
state). Usage is written whatever the claim: the tokens were spent, and the run's total is
kept with the step's in the same transaction, under the run's lock.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connections

from ..exceptions import NotFound
from ..states import StepStatus
from ..usage import add_usage
from . import _sql
from .journal import db_alias, locked_run


def save_agent_state(run_id, step_id, token: uuid.UUID, state: Any) -> bool:
    """Store ``state`` on the step; False (nothing written) when the step is no longer
    running under ``token`` (or is gone). One guarded UPDATE: it appends no event, so it
    needs neither the run's lock nor its transaction."""
    from ..models import Step

    held = {"id": step_id, "run_id": run_id, "claim_token": token, "status": StepStatus.RUNNING}
    return _sql.update(Step, held, {"agent_state": state}, connections[db_alias()]) == 1


def record_usage(run_id, step_id, entry: dict[str, Any]) -> bool:
    """Add ``entry`` (``usage.usage_entry``) to the step's and the run's usage; False when
    the step or its run is gone."""
    from ..models import Step

    try:
        with locked_run(run_id) as journal:
            # The usage column only: the step row also holds the agent's whole state.
            stored = (
                Step.objects.using(journal.alias)
                .filter(pk=step_id, run_id=journal.run.pk)
                .values_list("usage", flat=True)
            )
            found = list(stored)
            if not found:
                return False
            _sql.update(
                Step, {"id": step_id}, {"usage": add_usage(found[0], entry)}, journal.connection
            )
            journal.set_run(usage=add_usage(journal.run.usage, entry))
            return True
    except NotFound:
        return False
