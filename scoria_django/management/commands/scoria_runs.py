"""``manage.py scoria_runs list | show <run_id> | stats``: read runs from a terminal."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.db.models.functions import Now, TruncDate
from django.http import QueryDict
from django.utils import timezone

from ...exceptions import ScoriaError
from ...names import printable
from ...records import SUMMARY_VALUES, RunSummary
from ...states import RunStatus, StepStatus
from ...usage import priced, total_usage, usage_by_tenant_and_day
from ..arguments import command_error, day_count, positive_int, run_id, tenant_id
from ..render import detail_lines, list_lines, to_json

DEFAULT_LIMIT = 50
DEFAULT_USAGE_DAYS = 7


def check_filter_values(pairs):
    """The API's rule for filter values (non-empty, storable text)."""
    from ...api.filters import check_filter_values

    check_filter_values(pairs)


def _filterset_class():
    """The API's own FilterSet, so ``list`` accepts exactly the API's filters."""
    from ...api.filters import RunFilterSet

    return RunFilterSet


class Command(BaseCommand):
    help = "List runs (with the API's filters), show one run's evidence, or print queue stats."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, title="actions")

        listing = actions.add_parser("list", help="Runs, newest first.")
        for name, spec in _filterset_class().base_filters.items():
            listing.add_argument(
                f"--{name.replace('_', '-')}", dest=f"filter_{name}", help=spec.label
            )
        listing.add_argument("--tenant-id", help="Only runs of this tenant.")
        listing.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT)
        listing.add_argument("--json", action="store_true", help="JSON instead of a table.")

        show = actions.add_parser("show", help="One run's evidence: steps, handoffs, events.")
        show.add_argument("run_id", type=run_id)
        show.add_argument("--json", action="store_true", help="The full RunDetail as JSON.")

        stats = actions.add_parser(
            "stats", help="Runs by status, queue age, expired leases, model usage per day."
        )
        stats.add_argument(
            "--days",
            type=day_count,
            default=DEFAULT_USAGE_DAYS,
            help="Model usage of the runs created in the last N days, today included "
            f"(default {DEFAULT_USAGE_DAYS}).",
        )
        stats.add_argument(
            "--tenant-id", "--tenant", type=tenant_id, help="Only this tenant's runs and steps."
        )
        stats.add_argument("--json", action="store_true")

    def handle(self, *args, action, **options):
        return getattr(self, f"handle_{action}")(**options)

    def handle_list(self, *, limit, json, tenant_id=None, **options):
        from ...models import Run

        params = QueryDict(mutable=True)
        for key, value in options.items():
            if key.startswith("filter_") and value is not None:
                params[key.removeprefix("filter_")] = value
        tenant = [] if tenant_id is None else [("tenant_id", tenant_id)]
        try:
            check_filter_values([*params.items(), *tenant])
        except ScoriaError as exc:
            raise command_error(exc) from None
        queryset = Run.objects.order_by("-created_at", "-id")
        if tenant_id is not None:
            queryset = queryset.for_tenant(tenant_id)
        filterset = _filterset_class()(params, queryset=queryset)
        if not filterset.is_valid():
            name, messages = next(iter(filterset.errors.items()))
            raise CommandError(f"invalid_filter: --{name.replace('_', '-')}: {' '.join(messages)}")
        # Plain summary rows, as the API's lists: no model instances, no JSON payloads.
        rows = filterset.qs.values(*SUMMARY_VALUES)[:limit]
        summaries = [RunSummary.from_values(row) for row in rows]
        if json:
            self.stdout.write(to_json([summary.as_dict() for summary in summaries]))
            return
        if not summaries:
            self.stdout.write("No runs match.")
            return
        self.stdout.write("\n".join(list_lines(summaries)))

    def handle_show(self, *, run_id, json, **options):
        import scoria_django as scoria

        try:
            detail = scoria.get_run_detail(run_id)
        except ScoriaError as exc:
            raise command_error(exc) from None
        self.stdout.write(to_json(detail.as_dict()) if json else "\n".join(detail_lines(detail)))

    def handle_stats(self, *, json, days, tenant_id=None, **options):
        from ...models import Run, Step

        runs = Run.objects.all()
        steps = Step.objects.all()
        if tenant_id is not None:
            runs = runs.for_tenant(tenant_id)
            steps = steps.filter(run__tenant_id=tenant_id)
        counts = dict(runs.values_list("status").annotate(n=Count("id")).order_by())
        by_status = {str(status): counts.get(status, 0) for status in RunStatus.values}
        oldest = steps.filter(status=StepStatus.QUEUED).aggregate(at=Min("updated_at"))
        age = (timezone.now() - oldest["at"]).total_seconds() if oldest["at"] else None
        # The lease is measured on the database clock, so compare with the database's now().
        expired = steps.filter(status=StepStatus.RUNNING, lease_expires_at__lt=Now()).count()
        usage = _usage_by_day(runs, days)
        stats = {
            "tenant_id": tenant_id,
            "runs_by_status": by_status,
            "runs_total": sum(by_status.values()),
            "queued_steps": steps.filter(status=StepStatus.QUEUED).count(),
            "oldest_queued_step_age_seconds": None if age is None else round(max(age, 0), 1),
            "expired_leases": expired,
            "usage_days": days,
            "usage_by_day": usage,
            "usage_total": priced(total_usage(usage)),
        }
        if json:
            self.stdout.write(to_json(stats))
            return
        lines = [f"Tenant: {tenant_id}"] if tenant_id is not None else []
        lines.append("Runs by status:")
        lines += [f"  {status:<22}{count}" for status, count in by_status.items()]
        lines.append(f"  {'total':<22}{stats['runs_total']}")
        lines.append(f"Queued steps: {stats['queued_steps']}")
        shown = "-" if age is None else str(datetime.timedelta(seconds=round(max(age, 0))))
        lines.append(f"Oldest queued step age: {shown}")
        lines.append(f"Expired leases (running steps past their lease): {expired}")
        lines += _usage_lines(usage, stats["usage_total"], days)
        self.stdout.write("\n".join(lines))


def _usage_by_day(runs, days):
    """The usage of the runs created in the last ``days`` days (today included, in the
    current time zone), per day and tenant. Summed here rather than in SQL: ``usage`` is
    JSON with a per-model breakdown, and only runs that made a model request are read."""
    first_day = timezone.localdate() - datetime.timedelta(days=days - 1)
    since = timezone.make_aware(datetime.datetime.combine(first_day, datetime.time.min))
    rows = (
        runs.filter(created_at__gte=since, usage__isnull=False)
        .annotate(day=TruncDate("created_at"))
        .values_list("day", "tenant_id", "usage")
        .order_by()
    )
    return usage_by_tenant_and_day(rows.iterator())


def _usage_lines(usage, total, days):
    heading = f"Model usage, runs created in the last {days} day{'s' if days != 1 else ''}:"
    if not usage:
        return [heading, "  none recorded"]
    priced_rows = any("cost" in row for row in usage)
    header = ["day", "tenant", "runs", "requests", "input tokens", "output tokens"]
    table = [
        [
            str(row["day"]),
            printable(row["tenant_id"]) if row["tenant_id"] is not None else "-",
            str(row["runs"]),
            str(row["requests"]),
            str(row["input_tokens"]),
            str(row["output_tokens"]),
            *([_cost(row)] if priced_rows else []),
        ]
        for row in usage
    ]
    footer = ["total", "", str(sum(row["runs"] for row in usage))]
    footer += [str(total["requests"]), str(total["input_tokens"]), str(total["output_tokens"])]
    if priced_rows:
        header.append("cost")
        footer.append(_cost(total))
    widths = [max(len(row[i]) for row in (header, *table, footer)) for i in range(len(header))]
    lines = [heading]
    for row in (header, *table, footer):
        lines.append(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    models = sorted(total.get("models") or {})
    if models:
        lines.append("Models: " + ", ".join(printable(model) for model in models))
    if total.get("unpriced_models"):
        unpriced = ", ".join(printable(model) for model in total["unpriced_models"])
        lines.append(f"No price for: {unpriced} (their tokens are not in the cost)")
    return lines


def _cost(usage):
    return f"{usage['cost']:.6f}".rstrip("0").rstrip(".") if "cost" in usage else "-"
