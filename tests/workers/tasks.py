"""django.tasks tasks for the Celery backend's own tests."""

try:
    from django.tasks import task
except ImportError:  # Django 5.2 with the django-tasks backport
    from django_tasks import task

CALLS = []


@task
def remember(value):
    CALLS.append(value)


@task(takes_context=True)
def with_context(context, value):
    CALLS.append(value)
