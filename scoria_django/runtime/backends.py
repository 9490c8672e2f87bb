"""What the configured task backend is, as far as the runtime needs to know."""

from ..conf import scoria_settings


def backend_runs_inline() -> bool:
    """The task backend is the framework's own ImmediateBackend, which runs a task in this
    process when it is enqueued. A subclass may add behaviour to its tasks (tracing, say):
    it gets them."""
    from ..compat import ImmediateBackend, task_backends

    return type(task_backends[scoria_settings.TASK_BACKEND]) is ImmediateBackend
