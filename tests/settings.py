"""Test settings: SQLite by default, PostgreSQL when DATABASE_URL is set."""

import importlib.util
import os

import dj_database_url

from scoria_django.compat import IMMEDIATE_BACKEND, TASKS_APPS

SECRET_KEY = "scoria-tests-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "rest_framework.authtoken",  # the service authentication docs/api.md recommends
    "django_filters",
    "drf_spectacular",
    "scoria_django",
    *TASKS_APPS,  # Django 5.2: the django-tasks backport's app
    # The example project's app owns a table (its sent replies): it must exist in the test
    # database, so the app is installed for the whole session (tests/example_host.py adds
    # the rest of the example's configuration per test).
    "example_project.assistant",
]

# The worker fault tests (tests/workers) enqueue into django-tasks-db's table.
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS.append("django_tasks_db")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "scoria_django.middleware.ScoriaIdentityMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

DATABASE_URL = os.environ.get("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("SCORIA_TEST_DB", "test_scoria")}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SCORIA_SQLITE_PATH", ":memory:"),
            "OPTIONS": {"transaction_mode": "IMMEDIATE"},
            "TEST": {"NAME": os.environ.get("SCORIA_SQLITE_TEST_PATH")},
        }
    }

# A second database for tests/test_routing.py: a router may put scoria's tables there.
DATABASES["scoria_routed"] = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": ":memory:",
    "OPTIONS": {"transaction_mode": "IMMEDIATE"},
}

TASKS = {"default": {"BACKEND": IMMEDIATE_BACKEND}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_URL = "/static/"

SCORIA_HANDLERS = {
    "echo": "tests.handlers.echo",
    "approval": "tests.handlers.wait_for_approval",
}
SCORIA_STEP_TIMEOUT = 5
SCORIA_LEASE_SECONDS = 5

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # DRF's default classes, plus token authentication for services (docs/api.md).
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.BasicAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}
