"""``manage.py scoria_recover``: requeue steps whose worker vanished (see docs/execution.md)."""

import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from scoria_django.management.arguments import positive_float, positive_int
from scoria_django.runtime.recovery import recover


class Command(BaseCommand):
    help = (
        "Requeue running steps whose lease expired (failing them with lease_expired after "
        "SCORIA_MAX_ATTEMPTS lost claims) and enqueue again queued steps older than "
        "SCORIA_REQUEUE_AFTER. Safe to run from several processes at once."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would be done; change nothing."
        )
        parser.add_argument(
            "--interval",
            type=positive_float,
            metavar="SECONDS",
            help="Keep running, one pass every SECONDS (next to your workers).",
        )
        parser.add_argument(
            "--max-loops",
            type=positive_int,
            metavar="N",
            help="With --interval: stop after N passes.",
        )
        parser.add_argument(
            "--limit",
            type=positive_int,
            default=500,
            help="At most this many steps of each kind per pass (default 500).",
        )

    def handle(self, *args, dry_run, interval, max_loops, limit, **options):
        passes = 0
        while True:
            close_old_connections()
            report = recover(dry_run=dry_run, limit=limit)
            for action in report.actions:
                self.stdout.write(action.describe(dry_run))
            self.stdout.write(self.style.SUCCESS(f"scoria_recover: {report.summary()}"))
            passes += 1
            if interval is None or (max_loops is not None and passes >= max_loops):
                return
            try:
                time.sleep(interval)
            except KeyboardInterrupt:
                return
