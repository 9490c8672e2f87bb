"""Plain-text and JSON renderings of runs for the commands. Secrets are redacted, as on
the operator page: a terminal is an operator surface too."""

import datetime
import json

from django.core.serializers.json import DjangoJSONEncoder

from ..evidence import step_tree, traceback_of
from ..redaction import redact, redact_text

# The step-row payloads a step line is followed by: what the step asked and ended with
# (its inputs and contexts are in ``--json``).
STEP_OUTCOMES = ("approval_request", "output", "error", "cancel_reason")
# A few ``RunSummary`` fields, by name: the table prints them from the summary itself.
LIST_COLUMNS = ("run_id", "status", "kind", "root_role_id", "session_id", "updated_at")


def to_json(value):
    return json.dumps(redact(value), cls=DjangoJSONEncoder, indent=2, sort_keys=True)


def compact(value):
    """One-line JSON for a value shown inside a text line."""
    return json.dumps(redact(value), cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False)


def timestamp(value):
    return value.isoformat(timespec="seconds") if value is not None else "-"


def cell(value):
    """One value of a text table: instants to the second, empty values as ``-``."""
    if isinstance(value, datetime.datetime):
        return timestamp(value)
    return "-" if value is None or value == "" else str(value)


def list_lines(summaries):
    rows = [[cell(getattr(summary, column)) for column in LIST_COLUMNS] for summary in summaries]
    header = [column.upper() for column in LIST_COLUMNS]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def detail_lines(detail):
    summary = detail.summary
    lines = [
        f"Run {summary.run_id}",
        f"  status: {summary.status}"
        + ("  (awaiting approval)" if summary.awaiting_approval else ""),
        f"  kind: {summary.kind}  root role: {summary.root_role_id or '-'}",
        f"  session: {summary.session_id or '-'}  thread: {summary.thread_id or '-'}"
        f"  parent run: {summary.parent_run_id or '-'}",
        f"  actor: {summary.actor_id or '-'}  tenant: {summary.tenant_id or '-'}",
        f"  created: {timestamp(summary.created_at)}  updated: {timestamp(summary.updated_at)}"
        f"  completed: {timestamp(summary.completed_at)}",
    ]
    for label, value in (
        ("output", detail.output),
        ("error", detail.error),
        ("cancel reason", detail.cancel_reason),
    ):
        if value is not None:
            lines.append(f"  {label}: {compact(value)}")
    lines += ["", f"Steps ({len(detail.steps)}):"]
    for step, depth in step_tree(detail.steps):
        indent = "  " * (depth + 1)
        lines.append(
            f"{indent}#{step['sequence']} {step['kind']} [{step['role_id'] or '-'}] "
            f"{step['status']} attempt={step['attempt']} id={step['id']}"
        )
        for name in STEP_OUTCOMES:
            if step[name] is not None:
                shown = step[name]
                if name == "error" and isinstance(shown, dict) and "traceback" in shown:
                    shown = {key: value for key, value in shown.items() if key != "traceback"}
                lines.append(f"{indent}    {name.replace('_', ' ')}: {compact(shown)}")
        if trace := traceback_of(step["error"]):
            lines.append(f"{indent}    traceback:")
            lines += [f"{indent}      {line}" for line in trace.rstrip().splitlines()]
    lines += ["", f"Delegated evidence ({len(detail.delegated_handoffs)}):"]
    if not detail.delegated_handoffs:
        lines.append("  No delegated handoffs recorded.")
    for item in detail.delegated_handoffs:
        child = (
            f"child step #{item['child_step_sequence']}"
            if item["child_step_id"]
            else "child step pending"
        )
        lines.append(
            f"  {item['parent_role_id'] or '-'} to {item['delegated_role_id']}: "
            f"kind={item['delegated_kind']} parent step #{item['parent_step_sequence']} -> "
            f"{child} status={item['child_status']}"
        )
        keys = ", ".join(sorted(item["projected_context"])) or "-"
        tags = redact_text(", ".join(map(str, item["capability_tags"]))) or "-"
        lines.append(f"    context keys: {keys}  capability tags: {tags}")
    lines += ["", f"Events ({len(detail.events)}):"]
    for event in detail.events:
        actor = f" actor={event['actor_id']}" if event["actor_id"] else ""
        lines.append(
            f"  {event['sequence']:>4} {timestamp(event['created_at'])} "
            f"{event['event_type']}{actor}"
        )
    return lines
