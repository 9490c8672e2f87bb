"""The ``django.tasks`` entry point: a thin wake-up. The database holds the truth."""

from .compat import task


@task
def execute_step(run_id: str, step_id: str) -> None:
    """Claim and execute one step; a duplicate or late delivery changes nothing."""
    from .runtime.executor import execute

    execute(run_id, step_id)
