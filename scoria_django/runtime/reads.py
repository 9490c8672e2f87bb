"""Reads: summaries and the curated detail. A malformed id is simply ``not_found``."""

import uuid
from typing import TYPE_CHECKING

from ..exceptions import InvalidFilter, NotFound
from ..records import (
    SUMMARY_VALUES,
    RunDetail,
    RunSummary,
    delegated_handoff_rows,
    event_row,
    handoff_row,
    step_row,
)
from ..transitions import read_run

if TYPE_CHECKING:
    from ..models import Run


def _run(run_id: str | uuid.UUID) -> "Run":
    # The engine's own read of the row: the hot read of every start and resume.
    run = read_run(run_id)
    if run is None:
        raise NotFound(f"run {run_id!s} does not exist")
    return run


def get_run(run_id: str | uuid.UUID) -> RunSummary:
    return RunSummary.from_run(_run(run_id))


def list_runs_for_session(session_id: str | None, *, limit: int | None = None) -> list[RunSummary]:
    """The session's runs, newest first."""
    from ..models import Run

    if limit is not None and (type(limit) is not int or limit <= 0):
        raise InvalidFilter("limit must be a positive integer", field="limit")
    if not isinstance(session_id, str) or not session_id.strip():
        return []
    # Plain rows of the summary columns: no model instances, no JSON payloads decoded.
    queryset = Run.objects.for_session(session_id).values(*SUMMARY_VALUES)
    if limit is not None:
        queryset = queryset[:limit]
    return [RunSummary.from_values(row) for row in queryset]


def detail_of(run: "Run") -> RunDetail:
    from ..models import Event, Handoff, Step

    steps = list(Step.objects.filter(run_id=run.pk).order_by("sequence"))
    steps_by_id = {step.pk: step for step in steps}
    handoffs = list(Handoff.objects.filter(run_id=run.pk).order_by("created_at", "id"))
    events = Event.objects.filter(run_id=run.pk).order_by("sequence")
    return RunDetail(
        summary=RunSummary.from_run(run),
        metadata=run.metadata,
        input=run.input,
        output=run.output,
        error=run.error,
        cancel_reason=run.cancel_reason,
        steps=[step_row(step) for step in steps],
        events=[event_row(event) for event in events],
        handoffs=[handoff_row(handoff, steps_by_id) for handoff in handoffs],
        delegated_handoffs=delegated_handoff_rows(handoffs, steps_by_id),
    )


def get_run_detail(run_id: str | uuid.UUID) -> RunDetail:
    return detail_of(_run(run_id))
