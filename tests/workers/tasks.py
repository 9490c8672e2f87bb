"""django.tasks tasks for the Celery backend's own tests."""

from scoria_django.compat import task

CALLS = []


@task
def remember(value):
    CALLS.append(value)


@task(takes_context=True)
def with_context(context, value):
    CALLS.append(value)
