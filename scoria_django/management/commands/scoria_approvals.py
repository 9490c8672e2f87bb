"""``manage.py scoria_approvals list | approve | reject``: the approval inbox in a terminal.

Decisions are made as a Django user (``--as <username>``: actor id = that user's pk), so
``SCORIA_APPROVAL_POLICY`` judges the command exactly as it judges that user on the web.
"""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ...exceptions import ScoriaError
from ...identity import Identity
from ..arguments import (
    approval_id,
    approval_status,
    command_error,
    json_value,
    positive_int,
    run_id,
)
from ..render import cell, to_json

DEFAULT_LIMIT = 50
LIST_COLUMNS = ("approval_id", "status", "tool_name", "run_id", "requested_at", "expires_at")


def _user(username):
    users = get_user_model()
    try:
        return users._default_manager.get_by_natural_key(username)
    except users.DoesNotExist:
        raise CommandError(f"not_found: no user {username!r} (--as)") from None


def _who(username, tenant_id):
    if username is None:
        return Identity(tenant_id=tenant_id)
    return Identity.from_user(_user(username), tenant_id=tenant_id)


def _may(summary):
    return ", ".join([*summary.assignees, *(f"group {g}" for g in summary.groups)]) or "anyone"


def _table(summaries):
    header = [*(name.upper() for name in LIST_COLUMNS), "MAY_DECIDE"]
    rows = [[cell(getattr(s, name)) for name in LIST_COLUMNS] + [_may(s)] for s in summaries]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


class Command(BaseCommand):
    help = "List approvals, or approve / reject one (or every pending one of a run) as a user."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, title="actions")

        listing = actions.add_parser("list", help="Approvals, oldest request first.")
        listing.add_argument(
            "--status",
            type=approval_status,
            default="pending",
            help="pending (default), approved, rejected, expired, cancelled or any.",
        )
        listing.add_argument("--run", type=run_id, dest="run_id", help="Only this run's.")
        listing.add_argument(
            "--mine", action="store_true", help="Only those the --as user may decide."
        )
        listing.add_argument("--as", dest="username", help="The Django user asking.")
        listing.add_argument(
            "--tenant-id", help="The tenant whose approvals are listed (default: none)."
        )
        listing.add_argument("--limit", type=positive_int, default=DEFAULT_LIMIT)
        listing.add_argument("--json", action="store_true", help="JSON instead of a table.")

        for name, verb in (("approve", "Approve"), ("reject", "Reject")):
            decide = actions.add_parser(
                name, help=f"{verb} one approval, or every pending approval of --run."
            )
            target = decide.add_mutually_exclusive_group(required=True)
            target.add_argument("approval_id", nargs="?", type=approval_id)
            target.add_argument("--run", type=run_id, dest="run_id")
            decide.add_argument(
                "--as", dest="username", required=True, help="The Django user deciding."
            )
            decide.add_argument(
                "--input", type=json_value, default=None, help="JSON for ctx.approval['input']."
            )
            if name == "approve":
                decide.add_argument(
                    "--arguments",
                    type=json_value,
                    default=None,
                    help="Edited arguments (JSON): the handler sees them instead.",
                )
                decide.add_argument("--comment", help="Stored on the approval.")
            else:
                decide.add_argument("--reason", help="Why: stored on the approval.")

    def handle(self, *args, action, **options):
        try:
            return getattr(self, f"handle_{action}")(**options)
        except ScoriaError as exc:
            raise command_error(exc) from None

    def handle_list(self, *, status, run_id, mine, username, tenant_id, limit, json, **options):
        import scoria_django as scoria

        if mine and username is None:
            raise CommandError("--mine needs --as <username>: mine is who may decide")
        approvals = scoria.list_approvals(
            identity=_who(username, tenant_id),
            status=None if status == "any" else status,
            mine=mine,
            run_id=run_id,
            limit=limit,
        )
        if json:
            self.stdout.write(to_json([approval.as_dict() for approval in approvals]))
        elif not approvals:
            self.stdout.write("No approvals match.")
        else:
            self.stdout.write("\n".join(_table(approvals)))

    def handle_approve(self, **options):
        self._decide("approve", **options)

    def handle_reject(self, **options):
        self._decide("reject", **options)

    def _decide(self, name, *, approval_id, run_id, username, input, **options):
        import scoria_django as scoria

        operator = _who(username, None)
        if approval_id is not None:
            run_id = scoria.get_approval(approval_id).run_id
        if name == "approve":
            summary = scoria.approve(
                run_id,
                approval_id=approval_id,
                identity=operator,
                input=input,
                arguments=options.get("arguments"),
                comment=options.get("comment"),
            )
        else:
            summary = scoria.reject(
                run_id,
                approval_id=approval_id,
                identity=operator,
                reason=options.get("reason"),
                input=input,
            )
        what = f"approval {approval_id}" if approval_id else f"every pending approval of {run_id}"
        verb = "Approved" if name == "approve" else "Rejected"
        self.stdout.write(f"{verb} {what} as {username}; run {summary.run_id}: {summary.status}")
