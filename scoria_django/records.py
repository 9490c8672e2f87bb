"""The read model, defined once: ``RunSummary``, ``RunDetail`` and their dict rows.

Each value lists its fields here and nowhere else, each with the ``Shape`` it has on
every surface: the API serializers build their fields from these definitions, the
evidence page and the admin pick their payloads and columns from them, and
``scoria_runs show --json`` prints the rows as they are. ``handoff_status`` is the only
place a handoff's status is decided.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

from .states import CHILD_STEP_PENDING, RunStatus
from .usage import priced


class Shape(StrEnum):
    """What a read-model value is, whichever surface shows it."""

    UUID = "uuid"
    """An id, as text."""
    TEXT = "text"
    INTEGER = "integer"
    BOOLEAN = "boolean"
    INSTANT = "instant"
    """An aware ``datetime``."""
    JSON = "json"
    """A stored JSON payload: surfaces that show it to people redact it."""
    TAGS = "tags"
    """A list of strings."""
    RUN_STATUS = "run_status"
    STEP_STATUS = "step_status"
    APPROVAL_STATUS = "approval_status"
    USAGE = "usage"
    """Model usage (``usage.py``): token counts, per model, with cost when priced."""
    SUMMARY = "summary"
    """A ``RunSummary``."""
    STEP_ROWS = "step_rows"
    EVENT_ROWS = "event_rows"
    HANDOFF_ROWS = "handoff_rows"
    DELEGATED_HANDOFFS = "delegated_handoffs"


@dataclass(frozen=True, slots=True)
class ReadField:
    """One field of a read-model value: its name, its shape and where a row reads it."""

    name: str
    shape: Shape
    null: bool = False
    blank: bool = False
    """Text that may be empty."""
    help_text: str | None = None
    source: str | None = None
    """The model attribute a row reads, when it is not ``name``."""
    listed: bool = True
    """False for the large values list responses leave out (a step's payloads)."""

    @property
    def attribute(self) -> str:
        return self.source or self.name


def names(read_fields: Iterable[ReadField]) -> tuple[str, ...]:
    return tuple(spec.name for spec in read_fields)


def _shaped(shape: Shape, **options: Any) -> dict[str, Any]:
    """Dataclass field metadata: the ``ReadField`` options of that field."""
    return {"shape": shape, **options}


def read_fields(value_class: type) -> tuple[ReadField, ...]:
    """The ``ReadField`` definitions of a read-model dataclass, in field order."""
    return tuple(ReadField(item.name, **item.metadata) for item in fields(value_class))


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: str = field(metadata=_shaped(Shape.UUID, source="pk"))
    session_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    thread_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    parent_run_id: str | None = field(metadata=_shaped(Shape.UUID, null=True))
    status: str = field(metadata=_shaped(Shape.RUN_STATUS))
    actor_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    tenant_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    root_role_id: str = field(metadata=_shaped(Shape.TEXT, blank=True))
    kind: str = field(metadata=_shaped(Shape.TEXT))
    current_step_id: str | None = field(metadata=_shaped(Shape.UUID, null=True))
    awaiting_approval: bool = field(metadata=_shaped(Shape.BOOLEAN, source="status"))
    created_at: Any = field(metadata=_shaped(Shape.INSTANT))
    updated_at: Any = field(metadata=_shaped(Shape.INSTANT))
    started_at: Any = field(metadata=_shaped(Shape.INSTANT, null=True))
    completed_at: Any = field(metadata=_shaped(Shape.INSTANT, null=True))
    usage: dict[str, Any] | None = field(
        default=None,
        metadata=_shaped(
            Shape.USAGE,
            null=True,
            help_text="Model tokens of the run's steps, with cost when priced (docs/agents.md).",
        ),
    )

    @classmethod
    def from_run(cls, run: Any) -> "RunSummary":
        # Spelled out: this is the hot read of every start, resume and list page, and
        # the keyword call fails loudly if it ever misses or invents a field.
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
            usage=priced(run.usage),
        )

    @classmethod
    def from_values(cls, row: Mapping[str, Any]) -> "RunSummary":
        """From a ``values(*SUMMARY_VALUES)`` row: the same fields ``from_run`` reads."""
        return cls.from_run(SimpleNamespace(**row))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RUN_SUMMARY = read_fields(RunSummary)
SUMMARY_FIELDS = names(RUN_SUMMARY)

# What a summary reads, as ``QuerySet.values()`` names: list pages build summaries from
# these plain rows (``RunSummary.from_values``), not from model instances, and never load
# the JSON payloads a summary does not show.
SUMMARY_VALUES = tuple(dict.fromkeys(spec.attribute for spec in RUN_SUMMARY))


# A step as ``get_run_detail`` and ``ctx.step`` give it; the API's step lists leave out
# the fields that are not ``listed``.
STEP_ROW = (
    ReadField("id", Shape.UUID, source="pk"),
    ReadField("run_id", Shape.UUID),
    ReadField("sequence", Shape.INTEGER),
    ReadField("kind", Shape.TEXT),
    ReadField("role_id", Shape.TEXT, blank=True),
    ReadField("status", Shape.STEP_STATUS),
    ReadField("parent_step_id", Shape.UUID, null=True),
    ReadField("attempt", Shape.INTEGER),
    ReadField("input", Shape.JSON, null=True, listed=False),
    ReadField("handoff_input", Shape.JSON, null=True, listed=False),
    ReadField("projected_context", Shape.JSON, null=True, listed=False),
    ReadField("output", Shape.JSON, null=True, listed=False),
    ReadField("error", Shape.JSON, null=True),
    ReadField("cancel_reason", Shape.JSON, null=True, listed=False),
    ReadField("approval_request", Shape.JSON, null=True),
    ReadField("resumed_with", Shape.JSON, null=True, listed=False),
    ReadField("usage", Shape.USAGE, null=True),
    ReadField("agent_state", Shape.JSON, null=True, listed=False),
    ReadField("lease_expires_at", Shape.INSTANT, null=True, listed=False),
    ReadField("created_at", Shape.INSTANT),
    ReadField("updated_at", Shape.INSTANT),
    ReadField("started_at", Shape.INSTANT, null=True),
    ReadField("completed_at", Shape.INSTANT, null=True),
)
STEP_LIST_ROW = tuple(spec for spec in STEP_ROW if spec.listed)
STEP_FIELDS = names(STEP_ROW)

EVENT_ROW = (
    ReadField("id", Shape.INTEGER, source="pk"),
    ReadField("sequence", Shape.INTEGER),
    ReadField("event_type", Shape.TEXT),
    ReadField("step_id", Shape.UUID, null=True),
    ReadField("payload", Shape.JSON),
    ReadField("actor_id", Shape.TEXT, null=True),
    ReadField("created_at", Shape.INSTANT),
)
EVENT_FIELDS = names(EVENT_ROW)

HANDOFF_STATUS_HELP = "The child step's status, or child_step_pending."

# The stored Handoff; ``status`` is ``handoff_status`` of its linked child step.
HANDOFF_ROW = (
    ReadField("id", Shape.UUID, source="pk"),
    ReadField("parent_step_id", Shape.UUID),
    ReadField("child_step_id", Shape.UUID, null=True),
    ReadField("delegated_role_id", Shape.TEXT),
    ReadField("delegated_kind", Shape.TEXT),
    ReadField("capability_tags", Shape.TAGS),
    ReadField("handoff_input", Shape.JSON),
    ReadField("status", Shape.TEXT, help_text=HANDOFF_STATUS_HELP),
    ReadField("created_at", Shape.INSTANT),
)
HANDOFF_FIELDS = names(HANDOFF_ROW)

# The curated delegated evidence (docs/handoffs.md): one item per handoff, with its parent and
# (possibly unlinked) child step.
DELEGATED_HANDOFF = (
    ReadField("handoff_id", Shape.UUID),
    ReadField("parent_step_id", Shape.UUID),
    ReadField("parent_step_sequence", Shape.INTEGER, null=True),
    ReadField("parent_role_id", Shape.TEXT, null=True, blank=True),
    ReadField("delegated_role_id", Shape.TEXT),
    ReadField("delegated_kind", Shape.TEXT),
    ReadField("handoff_input", Shape.JSON),
    ReadField("capability_tags", Shape.TAGS),
    ReadField("child_step_id", Shape.UUID, null=True),
    ReadField("child_step_sequence", Shape.INTEGER, null=True),
    ReadField("child_role_id", Shape.TEXT, null=True, blank=True),
    ReadField("child_status", Shape.TEXT),
    ReadField("status", Shape.TEXT, help_text=HANDOFF_STATUS_HELP),
    ReadField("projected_context", Shape.JSON),
    ReadField("created_at", Shape.INSTANT),
)
DELEGATED_HANDOFF_FIELDS = names(DELEGATED_HANDOFF)


@dataclass(frozen=True, slots=True)
class RunDetail:
    summary: RunSummary = field(metadata=_shaped(Shape.SUMMARY))
    metadata: dict[str, Any] = field(metadata=_shaped(Shape.JSON))
    input: Any = field(metadata=_shaped(Shape.JSON, null=True))
    output: Any = field(metadata=_shaped(Shape.JSON, null=True))
    error: Any = field(metadata=_shaped(Shape.JSON, null=True))
    cancel_reason: Any = field(metadata=_shaped(Shape.JSON, null=True))
    steps: list[dict[str, Any]] = field(metadata=_shaped(Shape.STEP_ROWS))
    events: list[dict[str, Any]] = field(metadata=_shaped(Shape.EVENT_ROWS))
    handoffs: list[dict[str, Any]] = field(metadata=_shaped(Shape.HANDOFF_ROWS))
    delegated_handoffs: list[dict[str, Any]] = field(metadata=_shaped(Shape.DELEGATED_HANDOFFS))

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def as_dict(self) -> dict[str, Any]:
        # Not ``asdict``: the rows are plain dicts already and need no deep copy.
        return {
            name: self.summary.as_dict() if name == "summary" else getattr(self, name)
            for name in RUN_DETAIL_FIELDS
        }


RUN_DETAIL = read_fields(RunDetail)
RUN_DETAIL_FIELDS = names(RUN_DETAIL)


def handoff_status(child_step: Any | None) -> str:
    """A handoff has no status of its own: it follows its child step's, and is
    ``child_step_pending`` until delegated execution has produced that step."""
    return CHILD_STEP_PENDING if child_step is None else str(child_step.status)


def _str_or_none(value: object) -> str | None:
    return None if value is None else str(value)


def _tags(value: Iterable[str] | None) -> list[str]:
    return list(value or [])


_CONVERSIONS: dict[Shape, Callable[[Any], Any]] = {
    Shape.UUID: str,
    Shape.RUN_STATUS: str,
    Shape.STEP_STATUS: str,
    Shape.APPROVAL_STATUS: str,
    Shape.TAGS: _tags,
    Shape.USAGE: priced,  # cost at read: a price change applies to past steps too
}

_Reader = tuple[str, str | None, Callable[[Any], Any] | None]


def _readers(row: tuple[ReadField, ...], computed: tuple[str, ...] = ()) -> tuple[_Reader, ...]:
    """(name, model attribute or None when computed, conversion or None) per field."""
    return tuple(
        (
            spec.name,
            None if spec.name in computed else spec.attribute,
            _str_or_none
            if spec.null and spec.shape is Shape.UUID
            else _CONVERSIONS.get(spec.shape),
        )
        for spec in row
    )


def _read(readers: tuple[_Reader, ...], instance: Any, **computed: Any) -> dict[str, Any]:
    row = {}
    for name, attribute, convert in readers:
        if attribute is None:
            row[name] = computed[name]
        else:
            value = getattr(instance, attribute)
            row[name] = value if convert is None else convert(value)
    return row


_STEP_READERS = _readers(STEP_ROW)
_EVENT_READERS = _readers(EVENT_ROW)
_HANDOFF_READERS = _readers(HANDOFF_ROW, computed=("status",))


def step_row(step: Any) -> dict[str, Any]:
    return _read(_STEP_READERS, step)


def event_row(event: Any) -> dict[str, Any]:
    return _read(_EVENT_READERS, event)


def handoff_row(handoff: Any, steps_by_id: Mapping[Any, Any]) -> dict[str, Any]:
    """The stored Handoff row; its status follows the linked child step."""
    child = steps_by_id.get(handoff.child_step_id)
    return _read(_HANDOFF_READERS, handoff, status=handoff_status(child))


def delegated_handoff_rows(
    handoffs: Iterable[Any], steps_by_id: Mapping[Any, Any]
) -> list[dict[str, Any]]:
    """The ``DELEGATED_HANDOFF`` items of a run, ordered by parent sequence then creation.

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
        status = handoff_status(child)
        items.append(
            {
                "handoff_id": str(handoff.pk),
                "parent_step_id": str(handoff.parent_step_id),
                "parent_step_sequence": parent.sequence if parent else None,
                "parent_role_id": parent.role_id if parent else None,
                "delegated_role_id": handoff.delegated_role_id,
                "delegated_kind": handoff.delegated_kind,
                "handoff_input": handoff.handoff_input,
                "capability_tags": _tags(handoff.capability_tags),
                "child_step_id": str(child.pk) if child else None,
                "child_step_sequence": child.sequence if child else None,
                "child_role_id": child.role_id if child else None,
                "child_status": status,
                "status": status,
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


@dataclass(frozen=True, slots=True)
class ApprovalSummary:
    """One approval as every surface shows it (docs/approvals.md)."""

    approval_id: str = field(metadata=_shaped(Shape.UUID, source="pk"))
    run_id: str = field(metadata=_shaped(Shape.UUID))
    step_id: str = field(metadata=_shaped(Shape.UUID))
    tenant_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    status: str = field(metadata=_shaped(Shape.APPROVAL_STATUS))
    tool_name: str = field(metadata=_shaped(Shape.TEXT))
    arguments: Any = field(metadata=_shaped(Shape.JSON, null=True))
    reason: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    call_id: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    position: int = field(metadata=_shaped(Shape.INTEGER))
    assignees: list[str] = field(metadata=_shaped(Shape.TAGS))
    groups: list[str] = field(metadata=_shaped(Shape.TAGS))
    requested_at: Any = field(metadata=_shaped(Shape.INSTANT))
    expires_at: Any = field(metadata=_shaped(Shape.INSTANT, null=True))
    on_expiry: str = field(metadata=_shaped(Shape.TEXT))
    decided_at: Any = field(metadata=_shaped(Shape.INSTANT, null=True))
    decided_by: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    comment: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    decision_reason: str | None = field(metadata=_shaped(Shape.TEXT, null=True))
    decision_input: Any = field(metadata=_shaped(Shape.JSON, null=True))
    edited_arguments: Any = field(metadata=_shaped(Shape.JSON, null=True))

    @classmethod
    def from_approval(cls, approval: Any) -> "ApprovalSummary":
        return cls(**_read(_APPROVAL_READERS, approval))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


APPROVAL_SUMMARY = read_fields(ApprovalSummary)
APPROVAL_FIELDS = names(APPROVAL_SUMMARY)
_APPROVAL_READERS = _readers(APPROVAL_SUMMARY)


def approval_row(approval: Any) -> dict[str, Any]:
    return _read(_APPROVAL_READERS, approval)
