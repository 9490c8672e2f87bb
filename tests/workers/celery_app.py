"""The Celery app of the fault tests, configured from env so each test gets its own queue.

A host project writes the usual few lines instead (``docs/deployment.md``). The
``task_prerun`` receiver logs each delivery, so a test can prove a redelivery happened.
"""

import os

from celery import Celery
from celery.signals import task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.workers.worker_settings")

BROKER_URL = os.environ.get("SCORIA_CELERY_BROKER", "redis://127.0.0.1:6379/8")
# Every key this test run (and its workers) touches starts with this prefix, so test runs
# sharing the Redis never see or clean up each other's messages.
KEY_PREFIX = os.environ.setdefault("SCORIA_CELERY_PREFIX", f"scoria-tests-{os.getpid()}:")

app = Celery("scoria_tests")
app.conf.update(
    broker_url=BROKER_URL,
    broker_connection_retry_on_startup=True,
    broker_transport_options={
        "visibility_timeout": float(os.environ.get("SCORIA_CELERY_VISIBILITY", "3600")),
        # Sweep for unacknowledged messages every second, so a short visibility
        # timeout shows its redelivery within the test's time.
        "unacked_restore_interval": 1,
        "unacked_restore_throttle": 1,
        "global_keyprefix": KEY_PREFIX,
    },
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()


@task_prerun.connect
def _log_delivery(task_id=None, args=None, **kwargs):
    path = os.environ.get("SCORIA_CELERY_DELIVERIES")
    if path:
        with open(path, "a") as log:
            log.write(f"{task_id} {os.getpid()} {' '.join(map(str, args[1] if args else []))}\n")
