"""The Celery side: one Celery task that calls the ``django.tasks`` task it is named after.

``acks_late`` with ``reject_on_worker_lost``: a message is acknowledged only after the
task returns, and handed back to the broker when the worker process dies, so a crash
loses no wake-up. Running a scoria step twice is harmless: the executor's claim lets
one delivery through and the others change nothing.
"""

from celery import shared_task
from django.utils.module_loading import import_string

from ...compat import Task
from . import TASK_NAME


@shared_task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_task(task_path, args, kwargs):
    task = import_string(task_path)
    if not isinstance(task, Task):
        # Only django.tasks tasks may be named in a message, not any importable callable.
        raise TypeError(f"{task_path} is not a django.tasks task")
    task.call(*args, **kwargs)
