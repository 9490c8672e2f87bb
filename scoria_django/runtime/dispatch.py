"""Wake-ups: one ``django.tasks`` task per runnable step, enqueued after the transaction
commits.

The transition layer only says "this step is runnable once we commit"
(``RunJournal.wake``); this module is the waker it calls, installed by the app's
``ready()``. So the engine never imports the task module, whose task imports the engine.
"""

import datetime
import logging

from ..conf import scoria_settings
from ..tasks import execute_step

logger = logging.getLogger(__name__)


def enqueue_step(run_id, step_id, *, run_after: datetime.datetime | None = None) -> None:
    """Enqueue the step task (call only after commit). A step due later is enqueued with
    ``run_after`` on backends that can defer tasks; elsewhere the recovery loop enqueues
    it once it is due (``scoria_recover``)."""
    task = execute_step.using(
        backend=scoria_settings.TASK_BACKEND, queue_name=scoria_settings.TASK_QUEUE
    )
    if run_after is not None:
        if not task.get_backend().supports_defer:
            logger.debug("step=%s due at %s: left to recovery", step_id, run_after)
            return
        task = task.using(run_after=run_after)
    task.enqueue(str(run_id), str(step_id))
    logger.debug("enqueued step=%s run=%s backend=%s", step_id, run_id, task.backend)
