"""Wake-ups: one ``django.tasks`` task per runnable step, enqueued after the transaction
commits.

The transition layer only says "this step is runnable once we commit"
(``RunJournal.wake``); this module is the waker it calls, installed by the app's
``ready()``. So the engine never imports the task module, whose task imports the engine.
"""

import logging

from ..conf import scoria_settings
from ..tasks import execute_step

logger = logging.getLogger(__name__)


def enqueue_step(run_id, step_id) -> None:
    """Enqueue the step task now (call only after commit)."""
    task = execute_step.using(
        backend=scoria_settings.TASK_BACKEND, queue_name=scoria_settings.TASK_QUEUE
    )
    task.enqueue(str(run_id), str(step_id))
    logger.debug("enqueued step=%s run=%s backend=%s", step_id, run_id, task.backend)
