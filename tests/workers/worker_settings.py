"""Settings of the worker processes the fault tests start: the test settings, pointed at
the live test database (``SCORIA_WORKER_DB``) with the transport and lease taken from env."""

import os

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS
from tests.workers.harness import WORKER_TASKS

DATABASES["default"]["NAME"] = os.environ["SCORIA_WORKER_DB"]
# The soak's fault thread finds worker connections by this name to terminate them.
DATABASES["default"].setdefault("OPTIONS", {})["application_name"] = os.environ.get(
    "SCORIA_WORKER_APP_NAME", "scoria-worker"
)

INSTALLED_APPS = [*INSTALLED_APPS, "scoria_django.contrib.celery"]

# A copy: the queue below is this process's own.
TASKS = {alias: dict(options) for alias, options in WORKER_TASKS.items()}
CELERY_QUEUE = os.environ.get("SCORIA_CELERY_QUEUE")
if CELERY_QUEUE:
    TASKS["celery"]["QUEUES"] = [CELERY_QUEUE]
    SCORIA_TASK_QUEUE = CELERY_QUEUE
SCORIA_TASK_BACKEND = os.environ.get("SCORIA_WORKER_TRANSPORT", "workers")
SCORIA_LEASE_SECONDS = float(os.environ.get("SCORIA_WORKER_LEASE", "1.5"))
SCORIA_STEP_TIMEOUT = float(os.environ.get("SCORIA_WORKER_TIMEOUT", "30"))
SCORIA_MAX_ATTEMPTS = int(os.environ.get("SCORIA_WORKER_MAX_ATTEMPTS", "3"))
SCORIA_REQUEUE_AFTER = float(os.environ.get("SCORIA_WORKER_REQUEUE_AFTER", "2"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
