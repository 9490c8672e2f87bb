"""``manage.py scoria_verify adoption|runtime-to-handoff``: the guide's checklist, for real.

Runs against this project's own settings, urls and handlers, inside a transaction that is
rolled back, and prints one PASS / FAIL / SKIP line per check. Exits non-zero on a failure.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, router, transaction

from ..verification import FAIL, LANES, Checklist, Options


def handler_spec(value):
    kind, sep, path = value.partition("=")
    if not sep or not kind.strip() or not path.strip():
        raise CommandError(f"--handler {value!r}: expected KIND=dotted.path.to.handler")
    return kind.strip(), path.strip()


class Command(BaseCommand):
    help = (
        "Walk the guide's verification checklist against this project (adoption: start -> "
        "store run_id -> get_run -> operator page -> resume -> same session, new run; "
        "runtime-to-handoff: default run -> bounded handoff -> delegated evidence). "
        "Everything it writes is rolled back."
    )

    def add_arguments(self, parser):
        parser.add_argument("lane", choices=LANES)
        defaults = Options()
        parser.add_argument(
            "--kind", default=defaults.kind, help="Step kind whose handler asks for approval."
        )
        parser.add_argument("--role", default=defaults.role, help="Root role of the runs.")
        parser.add_argument("--prompt", default=defaults.prompt, help="Prompt in the payload.")
        parser.add_argument("--root-role", default=defaults.root_role, help="Handoff root role.")
        parser.add_argument("--delegated-role", default=defaults.delegated_role)
        parser.add_argument("--delegated-kind", default=defaults.delegated_kind)
        parser.add_argument(
            "--handler",
            action="append",
            default=[],
            metavar="KIND=PATH",
            help="A handler for a kind, on top of SCORIA_HANDLERS (repeatable).",
        )

    def handle(self, *args, lane, handler, **options):
        from ...models import Run

        opts = Options(
            kind=options["kind"],
            role=options["role"],
            prompt=options["prompt"],
            root_role=options["root_role"],
            delegated_role=options["delegated_role"],
            delegated_kind=options["delegated_kind"],
            handlers=tuple(handler_spec(value) for value in handler),
        )
        for name in ("kind", "role", "root_role", "delegated_role", "delegated_kind"):
            if not str(getattr(opts, name)).strip():
                raise CommandError(f"--{name.replace('_', '-')} must not be blank")
        self.stdout.write(f"scoria_verify {lane} (everything written is rolled back)")
        alias = router.db_for_write(Run)
        try:
            with transaction.atomic(using=alias):
                results = Checklist(lane, opts).run()
                transaction.set_rollback(True, using=alias)
        except DatabaseError as exc:
            # A database that cannot even open a transaction: a FAIL line, not a traceback.
            self.stdout.write(self.style.ERROR(f"{FAIL}  database: {alias!r}: {exc}"))
            raise CommandError("the database is not usable", returncode=1) from None
        for result in results:
            style = self.style.ERROR if result.status == FAIL else self.style.SUCCESS
            self.stdout.write(style(result.line()) if result.status != "SKIP" else result.line())
        failed = sum(result.status == FAIL for result in results)
        if failed:
            raise CommandError(f"{failed} of {len(results)} checks failed", returncode=1)
        self.stdout.write(f"All {len(results)} checks passed.")
