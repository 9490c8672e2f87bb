"""``manage.py scoria_runs list | show <run_id> | stats``: read runs from a terminal."""

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.db.models.functions import Now
from django.http import QueryDict
from django.utils import timezone

from ...exceptions import ScoriaError
from ...records import SUMMARY_VALUES, RunSummary
from ...states import RunStatus, StepStatus
from ..arguments import command_error, positive_int, run_id
from ..render import detail_lines, list_lines, to_json

DEFAULT_LIMIT = 50


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

        stats = actions.add_parser("stats", help="Runs by status, queue age, expired leases.")
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

    def handle_stats(self, *, json, **options):
        from ...models import Run, Step

        counts = dict(Run.objects.values_list("status").annotate(n=Count("id")).order_by())
        by_status = {str(status): counts.get(status, 0) for status in RunStatus.values}
        oldest = Step.objects.filter(status=StepStatus.QUEUED).aggregate(at=Min("updated_at"))
        age = (timezone.now() - oldest["at"]).total_seconds() if oldest["at"] else None
        # The lease is measured on the database clock, so compare with the database's now().
        expired = Step.objects.filter(status=StepStatus.RUNNING, lease_expires_at__lt=Now()).count()
        stats = {
            "runs_by_status": by_status,
            "runs_total": sum(by_status.values()),
            "queued_steps": Step.objects.filter(status=StepStatus.QUEUED).count(),
            "oldest_queued_step_age_seconds": None if age is None else round(max(age, 0), 1),
            "expired_leases": expired,
        }
        if json:
            self.stdout.write(to_json(stats))
            return
        lines = ["Runs by status:"]
        lines += [f"  {status:<22}{count}" for status, count in by_status.items()]
        lines.append(f"  {'total':<22}{stats['runs_total']}")
        lines.append(f"Queued steps: {stats['queued_steps']}")
        shown = "-" if age is None else str(datetime.timedelta(seconds=round(max(age, 0))))
        lines.append(f"Oldest queued step age: {shown}")
        lines.append(f"Expired leases (running steps past their lease): {expired}")
        self.stdout.write("\n".join(lines))
