"""``scoria_django.compat``: Django 6's ``django.tasks`` or, on Django 5.2, the backport."""

import importlib
from importlib.util import find_spec

import django
import pytest
from django.conf import settings
from django.db import transaction
from django.test import override_settings
from django.utils.module_loading import import_string

import scoria_django as scoria
from scoria_django import compat
from scoria_django.tasks import execute_step
from tests import handlers


def test_the_framework_django_ships_is_preferred_and_the_backport_used_otherwise():
    if django.VERSION >= (6, 0):
        assert compat.HAS_DJANGO_TASKS
        assert compat.TASKS_MODULE == "django.tasks"
        assert compat.TASKS_APPS == []
    else:
        assert not compat.HAS_DJANGO_TASKS
        assert compat.TASKS_MODULE == "django_tasks"
        assert compat.TASKS_APPS == ["django_tasks"]
        assert find_spec("django.tasks") is None


def test_every_name_comes_from_the_framework_in_use():
    module = compat.TASKS_MODULE
    for name in ("BaseTaskBackend", "DummyBackend", "ImmediateBackend", "InvalidTask", "Task"):
        assert getattr(compat, name).__module__.startswith(module), name
    assert import_string(compat.IMMEDIATE_BACKEND) is compat.ImmediateBackend
    assert import_string(compat.DUMMY_BACKEND) is compat.DummyBackend
    assert importlib.import_module(module).task_backends is compat.task_backends
    assert isinstance(execute_step, compat.Task)


def test_the_test_settings_use_it():
    assert settings.TASKS["default"]["BACKEND"] == compat.IMMEDIATE_BACKEND
    assert set(compat.TASKS_APPS) <= set(settings.INSTALLED_APPS)
    assert isinstance(compat.task_backends["default"], compat.ImmediateBackend)


def test_the_example_project_uses_it():
    from example_project import settings as example

    assert example.TASKS["default"]["BACKEND"] == compat.IMMEDIATE_BACKEND
    assert set(compat.TASKS_APPS) <= set(example.INSTALLED_APPS)


@pytest.mark.django_db(transaction=True)
def test_the_immediate_backend_runs_a_step_once_after_the_outer_commit():
    # scoria enqueues from its own on_commit callback; a backend that defers to on_commit
    # again (django-tasks 0.9 by default) runs it at once, since that callback is outside
    # any transaction: the step still runs after the commit, and once.
    with override_settings(TASKS={"default": {"BACKEND": compat.IMMEDIATE_BACKEND}}):
        with transaction.atomic():
            started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "executor"})
            assert handlers.CALLS == []
        assert scoria.get_run(started.run_id).status == "completed"
    assert [("echo", f"{started.run_id}:{started.current_step_id}")] == handlers.CALLS
