"""Django settings for the benchmarks.

``BENCH_DB=postgres`` uses the local PostgreSQL database ``scoria_bench`` (override with
``BENCH_DATABASE_URL``); anything else uses a SQLite file in IMMEDIATE mode.
Steps run inline after commit (``ImmediateBackend``) unless ``SCORIA_TASK_BACKEND`` is
switched to the ``db`` alias (django-tasks-db), as the ``db_worker`` runs do.
"""

import os

import dj_database_url

SECRET_KEY = "scoria-bench-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "bench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "rest_framework",
    "django_filters",
    "django_tasks_db",
    "scoria_django",
]

MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "scoria_django.middleware.ScoriaIdentityMiddleware",
]

BENCH_DB = os.environ.get("BENCH_DB", "sqlite")
PG_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/scoria_bench")
SQLITE_PATH = os.environ.get("BENCH_SQLITE_PATH", "/tmp/scoria_bench.sqlite3")

if BENCH_DB == "postgres":
    # Persistent connections, as a deployed host would use; client-side binding (Django's
    # default), so no server-side prepared statements.
    DATABASES = {"default": dj_database_url.parse(PG_URL, conn_max_age=600)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": SQLITE_PATH,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# Inline execution by default; the db_worker runs switch SCORIA_TASK_BACKEND to "db".
TASKS = {
    "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
    "db": {"BACKEND": "django_tasks_db.DatabaseBackend"},
}

SCORIA_HANDLERS = {
    "chain": "bench.handlers.chain",
    "finish": "bench.handlers.finish",
    "approval": "bench.handlers.approval",
}
SCORIA_STEP_TIMEOUT = 30
SCORIA_TENANT_RESOLVER = "bench.tenancy.tenant"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
}
LOGGING_CONFIG = None
