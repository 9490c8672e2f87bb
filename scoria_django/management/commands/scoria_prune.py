"""``manage.py scoria_prune --older-than DAYS``: delete old terminal runs and their evidence."""

import datetime

from django.core.management.base import BaseCommand
from django.db import router, transaction
from django.utils import timezone

from ...states import RUN_TERMINAL
from ..arguments import non_negative_int, positive_int, terminal_status

DEFAULT_BATCH = 500


class Command(BaseCommand):
    help = (
        "Delete terminal runs (completed, failed, cancelled) that finished more than DAYS "
        "days ago, with their steps, handoffs and events. Active runs are never touched. "
        "Use --dry-run to see the counts first."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=non_negative_int,
            required=True,
            metavar="DAYS",
            help="Only runs that finished more than DAYS days ago.",
        )
        parser.add_argument(
            "--status",
            type=terminal_status,
            action="append",
            dest="statuses",
            help="Only this terminal status (repeatable). Default: all terminal statuses.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Count, delete nothing.")
        parser.add_argument("--batch-size", type=positive_int, default=DEFAULT_BATCH)

    def handle(self, *args, older_than, statuses, dry_run, batch_size, **options):
        from ...models import Run

        statuses = sorted(set(statuses or (str(status) for status in RUN_TERMINAL)))
        cutoff = timezone.now() - datetime.timedelta(days=older_than)
        candidates = Run.objects.filter(status__in=statuses, completed_at__lt=cutoff)
        counts = _counts(candidates)
        scope = f"{', '.join(statuses)} runs that finished before {cutoff:%Y-%m-%d %H:%M} UTC"
        if dry_run:
            self.stdout.write(f"Would delete {_describe(counts)} ({scope}). Dry run: nothing done.")
            return
        deleted = dict.fromkeys(counts, 0)
        ids = list(candidates.order_by("completed_at", "id").values_list("pk", flat=True))
        for start in range(0, len(ids), batch_size):
            for key, value in _delete_batch(
                ids[start : start + batch_size], statuses, cutoff
            ).items():
                deleted[key] += value
        self.stdout.write(f"Deleted {_describe(deleted)} ({scope}).")


def _counts(runs):
    from ...models import Event, Handoff, Step

    return {
        "runs": runs.count(),
        "steps": Step.objects.filter(run__in=runs).count(),
        "handoffs": Handoff.objects.filter(run__in=runs).count(),
        "events": Event.objects.filter(run__in=runs).count(),
    }


def _delete_batch(ids, statuses, cutoff):
    """Delete one batch under the runs' row locks, re-checking the filter: a failed run
    that ``resume_run`` retried in the meantime is running again and is kept."""
    from ...models import Run

    with transaction.atomic(using=router.db_for_write(Run)):
        locked = list(
            Run.objects.select_for_update()
            .filter(pk__in=ids, status__in=statuses, completed_at__lt=cutoff)
            .values_list("pk", flat=True)
        )
        runs = Run.objects.filter(pk__in=locked)
        counts = _counts(runs)
        runs.delete()
    return counts


def _describe(counts):
    return (
        f"{counts['runs']} run(s), {counts['steps']} step(s), "
        f"{counts['handoffs']} handoff(s) and {counts['events']} event(s)"
    )
