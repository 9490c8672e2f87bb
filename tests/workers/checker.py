"""Invariants that must hold after any mix of workers dying, freezing and losing their
database connections: the evidence and the stored state agree, and nothing ran twice."""

from collections import Counter

from scoria_django.models import Event, Run, Step
from scoria_django.states import RunStatus, StepStatus, fold_events, is_run_terminal


def check_store():
    """Return a list of human-readable violations (empty when the store is consistent)."""
    problems = []
    events_by_run = {}
    for event in Event.objects.order_by("run_id", "sequence").values(
        "run_id", "step_id", "sequence", "event_type", "payload"
    ):
        events_by_run.setdefault(event["run_id"], []).append(event)
    steps_by_run = {}
    for step in Step.objects.values("id", "run_id", "status"):
        steps_by_run.setdefault(step["run_id"], {})[str(step["id"])] = step["status"]

    for run in Run.objects.values("id", "status", "last_event_sequence"):
        run_id, events = run["id"], events_by_run.get(run["id"], [])
        sequences = [event["sequence"] for event in events]
        if sequences != list(range(1, len(events) + 1)):
            problems.append(f"run {run_id}: event sequence has gaps: {sequences}")
        if run["last_event_sequence"] != len(events):
            problems.append(
                f"run {run_id}: last_event_sequence {run['last_event_sequence']} "
                f"but {len(events)} events"
            )
        completions = Counter(
            event["step_id"] for event in events if event["event_type"] == "step_completed"
        )
        for step_id, count in completions.items():
            if count > 1:
                problems.append(f"run {run_id}: step {step_id} completed {count} times")
        folded_run, folded_steps = fold_events(events)
        if folded_run != run["status"]:
            problems.append(f"run {run_id}: stored {run['status']}, events say {folded_run}")
        stored_steps = steps_by_run.get(run_id, {})
        if folded_steps != stored_steps:
            problems.append(f"run {run_id}: stored steps {stored_steps}, events {folded_steps}")
        if not is_run_terminal(run["status"]) and not _legitimately_waiting(run, stored_steps):
            problems.append(f"run {run_id}: left {run['status']} ({stored_steps})")
    return problems


def _legitimately_waiting(run, steps):
    """Waiting for a human is the one non-terminal state a quiet system may hold."""
    waiting = [status for status in steps.values() if status == StepStatus.WAITING_FOR_APPROVAL]
    return run["status"] == RunStatus.WAITING_FOR_APPROVAL and len(waiting) == 1


def describe_running(limit=5):
    """The runs still ``running``, with their steps and last events, to explain a hang."""
    lines = []
    for run in Run.objects.filter(status=RunStatus.RUNNING)[:limit]:
        steps = Step.objects.filter(run=run).order_by("sequence")
        lines.append(
            f"run {run.pk}: "
            + "; ".join(
                f"{s.sequence}:{s.kind}:{s.status}:a{s.attempt}:lease={s.lease_expires_at}"
                f":updated={s.updated_at:%H:%M:%S.%f}"
                for s in steps
            )
            + " | "
            + ", ".join(
                f"{e.sequence}:{e.event_type}"
                for e in Event.objects.filter(run=run).order_by("sequence")
            )
        )
    return lines
