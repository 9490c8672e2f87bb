"""Frozen read-side values: ``RunSummary``, ``RunDetail`` and their dict rows."""

from dataclasses import asdict, dataclass
from types import SimpleNamespace

from .states import CHILD_STEP_PENDING, RunStatus

SUMMARY_FIELDS = (
    "run_id",
    "session_id",
    "thread_id",
    "parent_run_id",
    "status",
    "actor_id",
    "tenant_id",
    "root_role_id",
    "kind",
    "current_step_id",
    "awaiting_approval",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
)

# What a summary reads, as ``QuerySet.values()`` names: list pages build summaries from
# these plain rows (``RunSummary.from_values``), not from model instances, and never load
# the JSON payloads a summary does not show. ``run_id`` is the primary key and
# ``awaiting_approval`` derives from the status; every other field is the run's column.
SUMMARY_VALUES = (
    "pk",
    *(name for name in SUMMARY_FIELDS if name not in ("run_id", "awaiting_approval")),
)


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str
    session_id: str | None
    thread_id: str | None
    parent_run_id: str | None
    status: str
    actor_id: str | None
    tenant_id: str | None
    root_role_id: str
    kind: str
    current_step_id: str | None
    awaiting_approval: bool
    created_at: object
    updated_at: object
    started_at: object
    completed_at: object

    @classmethod
    def from_run(cls, run):
        return cls(
            run_id=str(run.pk),
            session_id=run.session_id,
            thread_id=run.thread_id,
            parent_run_id=_str_or_none(run.parent_run_id),
            status=str(run.status),
            actor_id=run.actor_id,
            tenant_id=run.tenant_id,
            root_role_id=run.root_role_id,
            kind=run.kind,
            current_step_id=_str_or_none(run.current_step_id),
            awaiting_approval=run.status == RunStatus.WAITING_FOR_APPROVAL,
            created_at=run.created_at,
            updated_at=run.updated_at,
            started_at=run.started_at,
            completed_at=run.completed_at,
        )

    @classmethod
    def from_values(cls, row):
        """From a ``values(*SUMMARY_VALUES)`` row: the same fields ``from_run`` reads."""
        return cls.from_run(SimpleNamespace(**row))

    def as_dict(self):
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RunDetail:
    summary: RunSummary
    metadata: dict
    input: object
    output: object
    error: object
    cancel_reason: object
    steps: list
    events: list
    handoffs: list
    delegated_handoffs: list

    @property
    def run_id(self):
        return self.summary.run_id

    def as_dict(self):
        return {
            "summary": self.summary.as_dict(),
            "metadata": self.metadata,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "cancel_reason": self.cancel_reason,
            "steps": self.steps,
            "events": self.events,
            "handoffs": self.handoffs,
            "delegated_handoffs": self.delegated_handoffs,
        }


def _str_or_none(value):
    return None if value is None else str(value)


def step_row(step):
    return {
        "id": str(step.pk),
        "run_id": str(step.run_id),
        "sequence": step.sequence,
        "kind": step.kind,
        "role_id": step.role_id,
        "status": str(step.status),
        "parent_step_id": _str_or_none(step.parent_step_id),
        "attempt": step.attempt,
        "input": step.input,
        "handoff_input": step.handoff_input,
        "projected_context": step.projected_context,
        "output": step.output,
        "error": step.error,
        "cancel_reason": step.cancel_reason,
        "approval_request": step.approval_request,
        "resumed_with": step.resumed_with,
        "lease_expires_at": step.lease_expires_at,
        "created_at": step.created_at,
        "updated_at": step.updated_at,
        "started_at": step.started_at,
        "completed_at": step.completed_at,
    }


def event_row(event):
    return {
        "id": event.pk,
        "sequence": event.sequence,
        "event_type": event.event_type,
        "step_id": _str_or_none(event.step_id),
        "payload": event.payload,
        "actor_id": event.actor_id,
        "created_at": event.created_at,
    }


def handoff_row(handoff, steps_by_id):
    """The stored Handoff row; its status follows the linked child step."""
    child = steps_by_id.get(handoff.child_step_id)
    return {
        "id": str(handoff.pk),
        "parent_step_id": str(handoff.parent_step_id),
        "child_step_id": _str_or_none(handoff.child_step_id),
        "delegated_role_id": handoff.delegated_role_id,
        "delegated_kind": handoff.delegated_kind,
        "capability_tags": list(handoff.capability_tags or []),
        "handoff_input": handoff.handoff_input,
        "status": str(child.status) if child else CHILD_STEP_PENDING,
        "created_at": handoff.created_at,
    }


def delegated_handoff_rows(handoffs, steps_by_id):
    """The curated delegated evidence of SPEC 1.7, ordered by parent sequence then creation.

    ``steps_by_id`` holds the run's steps in sequence order.
    """
    handoffs = list(handoffs)
    # A step linked to one handoff is never matched to another.
    linked = {handoff.child_step_id for handoff in handoffs if handoff.child_step_id}
    items = []
    for handoff in handoffs:
        parent = steps_by_id.get(handoff.parent_step_id)
        child = steps_by_id.get(handoff.child_step_id) or _matching_child(
            handoff, steps_by_id, linked
        )
        if child is not None and handoff.child_step_id is None:
            linked.add(child.pk)
        child_status = str(child.status) if child else CHILD_STEP_PENDING
        items.append(
            {
                "handoff_id": str(handoff.pk),
                "parent_step_id": str(handoff.parent_step_id),
                "parent_step_sequence": parent.sequence if parent else None,
                "parent_role_id": parent.role_id if parent else None,
                "delegated_role_id": handoff.delegated_role_id,
                "delegated_kind": handoff.delegated_kind,
                "handoff_input": handoff.handoff_input,
                "capability_tags": list(handoff.capability_tags or []),
                "child_step_id": str(child.pk) if child else None,
                "child_step_sequence": child.sequence if child else None,
                "child_role_id": child.role_id if child else None,
                "child_status": child_status,
                "status": child_status,
                "projected_context": (child.projected_context or {}) if child else {},
                "created_at": handoff.created_at,
            }
        )
    items.sort(
        key=lambda item: (item["parent_step_sequence"] or 0, item["created_at"], item["handoff_id"])
    )
    return items


def _matching_child(handoff, steps_by_id, linked):
    """A child recorded without a link: the first unlinked step under the same parent step
    with the handoff's role and kind."""
    for step in steps_by_id.values():
        if (
            step.pk not in linked
            and step.parent_step_id == handoff.parent_step_id
            and step.role_id == handoff.delegated_role_id
            and step.kind == handoff.delegated_kind
        ):
            return step
    return None
