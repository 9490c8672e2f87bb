"""Load the example project into the test process: its app, urls, handlers and login setup.

The suite runs under ``tests.settings`` (one pytest session, SQLite or PostgreSQL), so the
example's own values are layered on top with ``override_settings`` instead of a second
settings module. The values come from ``example_project.settings`` itself, so a change
there is what the tests exercise.
"""

from django.conf import settings
from django.test.utils import override_settings

from example_project import settings as example

EXAMPLE_KEYS = (
    "ROOT_URLCONF",
    "SCORIA_HANDLERS",
    "LOGIN_URL",
    "LOGIN_REDIRECT_URL",
    "LOGOUT_REDIRECT_URL",
    "ASSISTANT_LEAD_REVIEW_CHARS",
    "ASSISTANT_APPROVAL_EXPIRES_SECONDS",
)


def example_overrides():
    """An ``override_settings`` with the example project's app and configuration."""
    apps = list(settings.INSTALLED_APPS)
    apps += [app for app in example.INSTALLED_APPS if app not in apps]
    values = {key: getattr(example, key) for key in EXAMPLE_KEYS}
    return override_settings(INSTALLED_APPS=apps, **values)
