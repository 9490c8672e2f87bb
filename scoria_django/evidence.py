"""Turn a ``RunDetail`` (and the run's ``ApprovalSummary`` list) into the rows the
operator evidence page displays.

Pure Python over what ``get_run_detail`` and ``list_approvals`` returned: no queries, so
the page's query count does not grow with the number of steps, events, handoffs or
approvals. Every JSON value is redacted here; the template escapes everything it prints.
"""

import json
from dataclasses import dataclass

from .records import RUN_DETAIL, STEP_ROW, Shape
from .redaction import redact, redact_text
from .states import CHILD_STEP_PENDING, RUN_ACTIVE, ApprovalStatus, RunStatus, StepStatus

PREVIEW_KEYS = 3
MAX_INDENT = 8  # deeper steps share the last indentation class of the stylesheet
PREVIEW_CHARS = 77
PENDING_SENTENCE = (
    "The handoff is recorded, but delegated execution has not produced a child-step readback yet."
)
RESUMABLE = frozenset({RunStatus.WAITING_FOR_APPROVAL, RunStatus.FAILED})


def pretty_json(value):
    """Redacted, indented JSON text for a ``<pre>`` block (escaped by the template)."""
    return json.dumps(redact(value), indent=2, sort_keys=True, ensure_ascii=False, default=str)


def cut(text):
    """Long preview strings: the first 77 characters and an ellipsis."""
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "..."


def preview_value(value):
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return cut(text)


@dataclass(frozen=True, slots=True)
class UsageView:
    """Model usage as the page shows it: totals, one row per model, cost when priced."""

    input_tokens: int
    output_tokens: int
    requests: int
    models: tuple  # ((model, input_tokens, output_tokens, requests), ...), by name
    cost: float | None = None
    unpriced_models: tuple = ()


def usage_view(usage):
    """``usage`` (already priced by the read model) for display; None when none was
    recorded. Model names are text a handler chose: redacted like the rest."""
    if not isinstance(usage, dict):
        return None
    models = usage.get("models") or {}
    return UsageView(
        input_tokens=usage.get("input_tokens", 0),
        output_tokens=usage.get("output_tokens", 0),
        requests=usage.get("requests", 0),
        models=tuple(
            (
                redact_text(str(name)),
                counts.get("input_tokens", 0),
                counts.get("output_tokens", 0),
                counts.get("requests", 0),
            )
            for name, counts in sorted(models.items())
        ),
        cost=usage.get("cost"),
        unpriced_models=tuple(redact_text(str(name)) for name in usage.get("unpriced_models", ())),
    )


@dataclass(frozen=True, slots=True)
class StepRow:
    id: str
    sequence: int
    depth: int
    indent: int
    parent_sequence: int | None
    kind: str
    role_id: str
    status: str
    attempt: int
    waiting: bool
    created_at: object
    started_at: object
    completed_at: object
    payloads: tuple  # (label, pretty JSON) for each non-empty payload
    traceback: str = ""  # the failed attempt's traceback, redacted
    usage: UsageView | None = None


@dataclass(frozen=True, slots=True)
class EventRow:
    sequence: int
    event_type: str
    step_sequence: int | None
    actor_id: str | None
    created_at: object
    payload: str


@dataclass(frozen=True, slots=True)
class TrailRow:
    """One event of an approval's decision trail."""

    event_type: str
    actor_id: str | None
    created_at: object
    detail: str  # the event's redacted payload, one line


@dataclass(frozen=True, slots=True)
class ApprovalRow:
    approval_id: str | None  # None: a pause recorded before approvals were records
    step_sequence: int | None
    step_id: str
    role_id: str
    tool_name: str
    reason: str
    request: str  # the requested arguments, redacted and indented
    status: str = ApprovalStatus.PENDING
    call_id: str | None = None
    assignees: tuple = ()
    groups: tuple = ()
    requested_at: object = None
    expires_at: object = None
    on_expiry: str = ""
    decided_at: object = None
    decided_by: str | None = None
    comment: str | None = None
    decision_reason: str | None = None
    decision_input: str = ""
    edited_arguments: str = ""
    trail: tuple = ()
    # The edit form starts from the shown (redacted) arguments: a secret is never sent
    # back to the browser, so an operator editing such arguments must re-enter it.
    arguments_redacted: bool = False

    @property
    def pending(self):
        return self.approval_id is not None and self.status == ApprovalStatus.PENDING


@dataclass(frozen=True, slots=True)
class DelegatedRow:
    handoff_id: str
    title: str
    delegated_kind: str
    parent_step_sequence: int | None
    parent_step_id: str
    child_step_sequence: int | None
    child_step_id: str | None
    child_pending: bool
    child_status: str
    preview: tuple  # ((key, shown value), ...)
    hidden_keys: int
    capability_tags: tuple
    handoff_input: str
    full_context: str


@dataclass(frozen=True, slots=True)
class Evidence:
    summary: object
    current_step_sequence: int | None
    run_payloads: tuple
    steps: tuple
    events: tuple
    approvals: tuple
    delegated: tuple
    can_be_resumed: bool
    can_be_cancelled: bool
    usage: UsageView | None = None  # the run's total

    @property
    def last_event_sequence(self) -> int:
        """The newest event shown: the live page streams the ones after it."""
        return max((event.sequence for event in self.events), default=0)


def _labelled_payloads(read_fields):
    """(name, label) of the JSON payloads among ``read_fields``, in read-model order."""
    return tuple(
        (spec.name, spec.name.replace("_", " ").capitalize())
        for spec in read_fields
        if spec.shape is Shape.JSON
    )


_STEP_PAYLOADS = _labelled_payloads(STEP_ROW)
_RUN_PAYLOADS = _labelled_payloads(RUN_DETAIL)


def _payloads(source, fields):
    return tuple(
        (label, pretty_json(source[name]))
        for name, label in fields
        if source.get(name) not in (None, {}, [])
    )


def step_tree(steps):
    """Steps in tree order (each child right after its parent), with their depth."""
    by_id = {step["id"]: step for step in steps}
    children = {}
    roots = []
    for step in sorted(steps, key=lambda s: s["sequence"]):
        parent = step["parent_step_id"]
        if parent in by_id and parent != step["id"]:
            children.setdefault(parent, []).append(step)
        else:
            roots.append(step)
    ordered, seen = [], set()
    stack = [(step, 0) for step in reversed(roots)]
    while stack:
        step, depth = stack.pop()
        if step["id"] in seen:
            continue
        seen.add(step["id"])
        ordered.append((step, depth))
        stack.extend((child, depth + 1) for child in reversed(children.get(step["id"], [])))
    # A parent cycle cannot come from the runtime; still, never drop a step from evidence.
    ordered.extend((step, 0) for step in steps if step["id"] not in seen)
    return ordered


def traceback_of(error):
    """The traceback a failed step's error keeps, redacted for display ("" if none)."""
    if isinstance(error, dict) and isinstance(error.get("traceback"), str):
        return redact_text(error["traceback"])
    return ""


def _step_rows(steps):
    sequence_of = {step["id"]: step["sequence"] for step in steps}
    return tuple(
        StepRow(
            id=step["id"],
            sequence=step["sequence"],
            depth=depth,
            indent=min(depth, MAX_INDENT),
            parent_sequence=sequence_of.get(step["parent_step_id"]),
            kind=step["kind"],
            role_id=step["role_id"],
            status=step["status"],
            attempt=step["attempt"],
            waiting=step["status"] == StepStatus.WAITING_FOR_APPROVAL,
            created_at=step["created_at"],
            started_at=step["started_at"],
            completed_at=step["completed_at"],
            payloads=_payloads(step, _STEP_PAYLOADS),
            traceback=traceback_of(step["error"]),
            usage=usage_view(step["usage"]),
        )
        for step, depth in step_tree(steps)
    )


def _event_rows(events, sequence_of):
    return tuple(
        EventRow(
            sequence=event["sequence"],
            event_type=event["event_type"],
            step_sequence=sequence_of.get(event["step_id"]),
            actor_id=event["actor_id"],
            created_at=event["created_at"],
            payload=pretty_json(event["payload"]) if event["payload"] else "",
        )
        for event in events
    )


def _trails(events):
    """The approval events of a run, by approval id, in sequence order."""
    trails = {}
    for event in events:
        payload = event["payload"] if isinstance(event["payload"], dict) else {}
        approval_id = payload.get("approval_id")
        if not approval_id or not event["event_type"].startswith("approval_"):
            continue
        shown = {k: v for k, v in payload.items() if k != "approval_id" and v is not None}
        trails.setdefault(approval_id, []).append(
            TrailRow(
                event_type=event["event_type"],
                actor_id=event["actor_id"],
                created_at=event["created_at"],
                detail=json.dumps(redact(shown), sort_keys=True, ensure_ascii=False, default=str),
            )
        )
    return trails


def _optional_json(value):
    return "" if value is None else pretty_json(value)


def _approval_rows(steps, approvals, events):
    by_id = {step["id"]: step for step in steps}
    trails = _trails(events)
    rows = []
    for approval in approvals:
        step = by_id.get(approval.step_id, {})
        rows.append(
            ApprovalRow(
                approval_id=approval.approval_id,
                step_sequence=step.get("sequence"),
                step_id=approval.step_id,
                role_id=step.get("role_id", ""),
                tool_name=approval.tool_name,
                reason=redact_text(approval.reason or ""),
                request=pretty_json(approval.arguments),
                status=approval.status,
                call_id=approval.call_id,
                assignees=tuple(approval.assignees),
                groups=tuple(approval.groups),
                requested_at=approval.requested_at,
                expires_at=approval.expires_at,
                on_expiry=approval.on_expiry,
                decided_at=approval.decided_at,
                decided_by=approval.decided_by,
                comment=redact_text(approval.comment) if approval.comment else None,
                decision_reason=(
                    redact_text(approval.decision_reason) if approval.decision_reason else None
                ),
                decision_input=_optional_json(approval.decision_input),
                edited_arguments=_optional_json(approval.edited_arguments),
                trail=tuple(trails.get(approval.approval_id, ())),
                arguments_redacted=redact(approval.arguments) != approval.arguments,
            )
        )
    # A pause recorded before approvals were records: shown from its step, without forms.
    recorded = {approval.step_id for approval in approvals}
    for step in steps:
        request = step["approval_request"]
        if (
            step["status"] != StepStatus.WAITING_FOR_APPROVAL
            or not request
            or step["id"] in recorded
        ):
            continue
        shown = redact(request) if isinstance(request, dict) else {}
        rows.append(
            ApprovalRow(
                approval_id=None,
                step_sequence=step["sequence"],
                step_id=step["id"],
                role_id=step["role_id"],
                tool_name=str(shown.get("tool_name") or ""),
                reason=str(shown.get("reason") or ""),
                request=pretty_json(request),
            )
        )
    return tuple(rows)


def _preview(context):
    if not isinstance(context, dict):
        return (), 0
    shown = redact(context)
    keys = sorted(shown, key=str)
    preview = tuple((key, preview_value(shown[key])) for key in keys[:PREVIEW_KEYS])
    return preview, max(len(keys) - PREVIEW_KEYS, 0)


def _delegated_rows(items):
    rows = []
    for item in items:
        preview, hidden = _preview(item["projected_context"])
        pending = item["child_status"] == CHILD_STEP_PENDING
        rows.append(
            DelegatedRow(
                handoff_id=item["handoff_id"],
                title=f"{item['parent_role_id'] or 'unknown role'} to {item['delegated_role_id']}",
                delegated_kind=item["delegated_kind"],
                parent_step_sequence=item["parent_step_sequence"],
                parent_step_id=item["parent_step_id"],
                child_step_sequence=item["child_step_sequence"],
                child_step_id=item["child_step_id"],
                child_pending=pending,
                child_status="child step pending" if pending else item["child_status"],
                preview=preview,
                hidden_keys=hidden,
                capability_tags=tuple(redact_text(str(tag)) for tag in item["capability_tags"]),
                handoff_input=pretty_json(item["handoff_input"] or {}),
                full_context=pretty_json(item["projected_context"] or {}),
            )
        )
    return tuple(rows)


def build_evidence(detail, approvals=()):
    """The display rows of one run, from ``scoria.get_run_detail(run_id)`` and its
    approvals (``scoria.list_approvals(run_id=..., status=None)``)."""
    sequence_of = {step["id"]: step["sequence"] for step in detail.steps}
    run_values = {name: getattr(detail, name) for name, _ in _RUN_PAYLOADS}
    status = detail.summary.status
    return Evidence(
        summary=detail.summary,
        current_step_sequence=sequence_of.get(detail.summary.current_step_id),
        run_payloads=_payloads(run_values, _RUN_PAYLOADS),
        steps=_step_rows(detail.steps),
        events=_event_rows(detail.events, sequence_of),
        approvals=_approval_rows(detail.steps, approvals, detail.events),
        delegated=_delegated_rows(detail.delegated_handoffs),
        can_be_resumed=status in RESUMABLE,
        can_be_cancelled=status in RUN_ACTIVE,
        usage=usage_view(detail.summary.usage),
    )
