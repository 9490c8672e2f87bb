"""Wake-ups: one task per runnable step, enqueued after the transaction commits."""

import logging

from ..conf import scoria_settings

logger = logging.getLogger(__name__)


def enqueue_step(run_id, step_id):
    """Enqueue the step task now (call only after commit: ``journal.after_commit``)."""
    from ..tasks import execute_step

    task = execute_step.using(
        backend=scoria_settings.TASK_BACKEND, queue_name=scoria_settings.TASK_QUEUE
    )
    task.enqueue(str(run_id), str(step_id))
    logger.debug("enqueued step=%s run=%s backend=%s", step_id, run_id, task.backend)


def dispatch_after_commit(journal, step_id):
    run_id = journal.run.pk
    journal.after_commit(lambda: enqueue_step(run_id, step_id))


def backend_runs_inline():
    """The task backend is the framework's own ImmediateBackend, which runs a task in this
    process when it is enqueued. A subclass may add behaviour to its tasks (tracing, say):
    it gets them."""
    from ..compat import ImmediateBackend, task_backends

    return type(task_backends[scoria_settings.TASK_BACKEND]) is ImmediateBackend
