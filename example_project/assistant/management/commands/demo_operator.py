"""Create the local demo operator account and print its password once. Demo only."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

USERNAME = "operator"
LEADS = "leads"  # may approve long replies (example_project/assistant/handlers.py)


class Command(BaseCommand):
    help = (
        'Create the example project\'s local demo operator (a superuser in the "leads" '
        "group) and print its password once. For the local demo only: never run this "
        "against a real database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-password",
            action="store_true",
            help="Give the existing demo operator a new password and print it.",
        )

    def handle(self, *args, reset_password=False, **options):
        users = get_user_model()
        user = users.objects.filter(username=USERNAME).first()
        leads, _ = Group.objects.get_or_create(name=LEADS)
        if user is not None and not reset_password:
            user.groups.add(leads)
            self.stdout.write(
                f"Demo operator {USERNAME!r} already exists (its password was printed when it "
                "was created; `manage.py demo_operator --reset-password` prints a new one)."
            )
            return
        password = secrets.token_urlsafe(12)
        if user is None:
            user = users.objects.create_superuser(USERNAME, email="", password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        user.groups.add(leads)
        self.stdout.write(
            self.style.WARNING(
                "Local demo operator account (demo only, shown once):\n"
                f"  username: {USERNAME}\n  password: {password}\n"
                "  log in at http://127.0.0.1:8000/accounts/login/"
            )
        )
