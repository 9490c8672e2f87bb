"""``manage.py scoria_resume <run_id>``: approve a waiting run, or retry a failed one."""

from django.core.management.base import BaseCommand

from ...exceptions import ScoriaError
from ..arguments import command_error, json_value, run_id


class Command(BaseCommand):
    help = (
        "Resume one exact run by its run_id: a run waiting for approval continues its "
        "waiting step; a failed run retries its failed step. Never creates a new run."
    )

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=run_id)
        parser.add_argument(
            "--input",
            type=json_value,
            default=None,
            help="JSON the resumed step sees as ctx.resume_input.",
        )
        parser.add_argument("--actor-id", help="Recorded as the approver on the run's timeline.")

    def handle(self, *args, run_id, input, actor_id=None, **options):
        import scoria_django as scoria

        try:
            operator = scoria.identity(actor_id=actor_id)
            summary = scoria.resume_run(run_id, input=input, identity=operator)
        except ScoriaError as exc:
            raise command_error(exc) from None
        self.stdout.write(f"Resumed run {summary.run_id}: {summary.status}")
