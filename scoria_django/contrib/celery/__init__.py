"""Run scoria steps on Celery workers.

Settings only, no code change in the host::

    INSTALLED_APPS += ["scoria_django.contrib.celery"]   # autodiscover finds the task
    TASKS = {
        "default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"},
        "celery": {
            "BACKEND": "scoria_django.contrib.celery.CeleryBackend",
            "OPTIONS": {"APP": "myproject.celery.app"},
        },
    }
    SCORIA_TASK_BACKEND = "celery"

On Django 5.2 (the ``django-tasks`` backport) the immediate backend is
``"django_tasks.backends.immediate.ImmediateBackend"`` and ``"django_tasks"`` goes in
``INSTALLED_APPS``; ``scoria_django.compat.IMMEDIATE_BACKEND`` and ``TASKS_APPS`` name
whichever is installed.

The backend publishes a ``django.tasks`` task to Celery by name; the Celery task
``scoria_django.run_task`` imports it and calls it on the worker. For scoria that task
is ``execute_step``, a wake-up: the database decides whether anything runs.
"""

TASK_NAME = "scoria_django.run_task"


def __getattr__(name):
    # Lazy, so ``INSTALLED_APPS`` can name this package without importing Celery early.
    if name == "CeleryBackend":
        from .backend import CeleryBackend

        return CeleryBackend
    raise AttributeError(name)
