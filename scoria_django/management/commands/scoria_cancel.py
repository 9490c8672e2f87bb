"""``manage.py scoria_cancel <run_id> --reason TEXT``: cancel a run and its open steps."""

from django.core.management.base import BaseCommand

from ...exceptions import ScoriaError
from ..arguments import command_error, run_id


class Command(BaseCommand):
    help = (
        "Cancel one run and every unfinished step. A handler still running finishes, but "
        "its result is discarded."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=run_id)
        parser.add_argument("--reason", help="Stored as the run's cancel_reason.")
        parser.add_argument("--actor-id", help="Recorded on the run's timeline.")

    def handle(self, *args, run_id, reason=None, actor_id=None, **options):
        import scoria_django as scoria

        try:
            operator = scoria.identity(actor_id=actor_id)
            summary = scoria.cancel_run(run_id, reason=reason, identity=operator)
        except ScoriaError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"Cancelled run {summary.run_id}: {summary.status}")
