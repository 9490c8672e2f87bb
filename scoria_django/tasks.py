"""The ``django.tasks`` entry point: a thin wake-up. The database holds the truth."""

try:
    from django.tasks import task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task


@task
def execute_step(run_id: str, step_id: str) -> None:
    """Claim and execute one step; a duplicate or late delivery changes nothing."""
    from .runtime.executor import execute

    execute(run_id, step_id)
