"""Reads: summaries and the curated detail. A malformed id is simply ``not_found``."""

import uuid
from typing import TYPE_CHECKING

from ..exceptions import InvalidFilter, NotFound
from ..ids import parse_uuid
from ..names import check_text
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


def _run(run_id: str | uuid.UUID, *, tenant_id: str | None = None) -> "Run":
    from ..models import Run

    if tenant_id is None:
        # The engine's own read of the row: the hot read of every start and resume.
        run = read_run(run_id)
    else:
        pk = parse_uuid(run_id)
        run = Run.objects.for_tenant(tenant_id).filter(pk=pk).first() if pk else None
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
    check_text(session_id, field="session_id", error=InvalidFilter)
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


def tenant_run_detail(run_id: str | uuid.UUID, tenant_id: str | None) -> RunDetail:
    """``get_run_detail`` among one tenant's runs (every run when ``tenant_id`` is None).

    The tenant is part of the first query, so another tenant's run costs what an unknown
    id costs (one query, then ``not_found``): the operator pages' 404 does not say which.
    """
    return detail_of(_run(run_id, tenant_id=tenant_id))


def tenant_run(run_id: str | uuid.UUID, tenant_id: str | None) -> RunSummary:
    """``get_run`` among one tenant's runs, with the same one query for any missing run."""
    from ..models import Run

    pk = parse_uuid(run_id)
    runs = Run.objects.all() if tenant_id is None else Run.objects.for_tenant(tenant_id)
    row = runs.filter(pk=pk).values(*SUMMARY_VALUES).first() if pk else None
    if row is None:
        raise NotFound(f"run {run_id!s} does not exist")
    return RunSummary.from_values(row)
