"""Django's tasks framework, wherever it lives: the one place scoria chooses.

Django 6.0+ ships ``django.tasks``; on Django 5.2 the ``django-tasks`` backport (import
name ``django_tasks``, the ``django52`` extra) provides the same API under another
module name, with ``InvalidTaskError`` for Django's ``InvalidTask``. Import these names
from here rather than from either module::

    from scoria_django.compat import IMMEDIATE_BACKEND, TASKS_APPS

    INSTALLED_APPS += TASKS_APPS  # [] on Django 6, ["django_tasks"] on Django 5.2
    TASKS = {"default": {"BACKEND": IMMEDIATE_BACKEND}}

Importing this module loads no models, so a settings module may import it.
"""

from importlib.util import find_spec

__all__ = [
    "DEFAULT_TASK_QUEUE_NAME",
    "DUMMY_BACKEND",
    "HAS_DJANGO_TASKS",
    "IMMEDIATE_BACKEND",
    "TASKS_APPS",
    "TASKS_MODULE",
    "BaseTaskBackend",
    "DummyBackend",
    "ImmediateBackend",
    "InvalidTask",
    "Task",
    "TaskResult",
    "TaskResultStatus",
    "default_task_backend",
    "task",
    "task_backends",
    "task_enqueued",
]

#: True when Django itself ships ``django.tasks`` (Django 6.0+).
HAS_DJANGO_TASKS = find_spec("django.tasks") is not None

if HAS_DJANGO_TASKS:
    from django.tasks import DEFAULT_TASK_QUEUE_NAME, default_task_backend, task, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.backends.dummy import DummyBackend
    from django.tasks.backends.immediate import ImmediateBackend
    from django.tasks.base import Task, TaskResult, TaskResultStatus
    from django.tasks.exceptions import InvalidTask
    from django.tasks.signals import task_enqueued

    TASKS_MODULE = "django.tasks"
    TASKS_APPS: list[str] = []
else:  # Django 5.2 with the django-tasks backport
    from django_tasks import DEFAULT_TASK_QUEUE_NAME, default_task_backend, task, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.backends.dummy import DummyBackend
    from django_tasks.backends.immediate import ImmediateBackend
    from django_tasks.base import Task, TaskResult, TaskResultStatus
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.signals import task_enqueued

    TASKS_MODULE = "django_tasks"
    # The backport is an app: its checks and its task logging signal handlers.
    TASKS_APPS = ["django_tasks"]

#: ``TASKS`` backend paths of the framework in use.
IMMEDIATE_BACKEND = f"{TASKS_MODULE}.backends.immediate.ImmediateBackend"
DUMMY_BACKEND = f"{TASKS_MODULE}.backends.dummy.DummyBackend"
