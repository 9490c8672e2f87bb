"""A ``django.tasks`` backend that publishes tasks to Celery.

Publishing only: the message names the task by its import path and carries its JSON
arguments; ``scoria_django.contrib.celery.tasks.run_task`` calls it on a worker.
Results are not stored (``supports_get_result = False``): scoria keeps its own
truth in the database and needs no Celery result backend.
"""

import logging
import uuid

from django.utils import timezone
from django.utils.module_loading import import_string

from ...compat import (
    DEFAULT_TASK_QUEUE_NAME,
    BaseTaskBackend,
    InvalidTask,
    TaskResult,
    TaskResultStatus,
    task_enqueued,
)
from . import TASK_NAME

logger = logging.getLogger(__name__)


class CeleryBackend(BaseTaskBackend):
    """``TASKS`` backend: ``OPTIONS={"APP": "dotted.path.to.celery_app"}`` (default: current app).

    The ``default`` django.tasks queue maps to Celery's default queue; any other queue
    name is passed to Celery as is, so ``celery worker -Q`` selects it.
    """

    supports_defer = True
    supports_async_task = True

    def __init__(self, alias, params):
        super().__init__(alias, params)
        self.app_path = self.options.get("APP")

    @property
    def app(self):
        if self.app_path:
            return import_string(self.app_path)
        from celery import current_app

        return current_app

    def validate_task(self, task):
        super().validate_task(task)
        if task.takes_context:
            # A Celery worker has no django.tasks result to build the context from.
            raise InvalidTask("CeleryBackend does not support tasks that take context.")

    def enqueue(self, task, args, kwargs):
        self.validate_task(task)
        result = TaskResult(
            task=task,
            id=str(uuid.uuid4()),
            status=TaskResultStatus.READY,
            enqueued_at=None,
            started_at=None,
            last_attempted_at=None,
            finished_at=None,
            args=args,
            kwargs=kwargs,
            backend=self.alias,
            errors=[],
            worker_ids=[],
        )
        options = {"task_id": result.id}
        if task.queue_name != DEFAULT_TASK_QUEUE_NAME:
            options["queue"] = task.queue_name
        if task.run_after is not None:
            options["eta"] = task.run_after
        self.app.send_task(
            TASK_NAME, args=[task.module_path, result.args, result.kwargs], **options
        )
        object.__setattr__(result, "enqueued_at", timezone.now())
        logger.debug("published task=%s id=%s backend=%s", task.module_path, result.id, self.alias)
        task_enqueued.send(type(self), task_result=result)
        return result
