"""Settings of the example host project (``make demo``). Demo only: not for production.

It follows docs/installation.md: the app, the middleware after sessions and auth,
SQLite in IMMEDIATE transaction mode, and the handlers registered by step kind.
"""

import os
from pathlib import Path

# Django 6 ships django.tasks; on Django 5.2 the django-tasks backport provides it. The
# compat names pick whichever is installed, so the demo runs on both.
from scoria_django.compat import IMMEDIATE_BACKEND, TASKS_APPS

BASE_DIR = Path(__file__).resolve().parent

# A fixed key is fine for a local demo served on 127.0.0.1; a real project reads it from
# its environment or secret store.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-project-demo-only-not-a-secret")  # noqa: S105
DEBUG = os.environ.get("SCORIA_DEMO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",  # services authenticate with a token (docs/api.md)
    "django_filters",
    "drf_spectacular",
    "scoria_django",
    *TASKS_APPS,  # [] on Django 6; ["django_tasks"] (the backport's app) on Django 5.2
    "example_project.assistant",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # After sessions and auth: it reads request.user and keeps session_id in the session.
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

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SCORIA_DEMO_DB", str(BASE_DIR / "demo.sqlite3")),
        # Writers queue for the lock instead of failing with "database is locked".
        "OPTIONS": {"transaction_mode": "IMMEDIATE"},
    }
}

# Steps run inline after commit. Swap in a worker backend (docs/deployment.md) to run
# them on other processes; nothing else changes.
TASKS = {"default": {"BACKEND": IMMEDIATE_BACKEND}}

SCORIA_HANDLERS = {
    "approval": "example_project.assistant.handlers.reply",
    "review": "example_project.assistant.handlers.review_draft",
    "summary": "example_project.assistant.handlers.summarise",
}

# The assistant's approvals (assistant/handlers.py): a reply longer than this many characters
# needs a member of the "leads" group; any other reply, anyone with the permission. A
# pending approval expires (and the reply is rejected) after this many seconds, once
# ``manage.py scoria_recover`` runs.
ASSISTANT_LEAD_REVIEW_CHARS = int(os.environ.get("ASSISTANT_LEAD_REVIEW_CHARS", "200"))
ASSISTANT_APPROVAL_EXPIRES_SECONDS = int(
    os.environ.get("ASSISTANT_APPROVAL_EXPIRES_SECONDS", str(24 * 3600))
)

# The assistant's model (assistant/agent.py): a Pydantic AI model name such as
# "openai:gpt-4o-mini" (with that provider's key in its usual variable, OPENAI_API_KEY, and
# `pip install "pydantic-ai-slim[openai]"`). Empty: the offline model, no network, no key.
ASSISTANT_MODEL = os.environ.get("SCORIA_DEMO_MODEL", "")

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "assistant:home"
LOGOUT_REDIRECT_URL = "login"
STATIC_URL = "/static/"

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}
SPECTACULAR_SETTINGS = {"TITLE": "scoria example project API"}
