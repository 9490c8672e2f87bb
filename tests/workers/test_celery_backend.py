"""``scoria_django.contrib.celery``: what it publishes to the broker, and what it runs.

Needs the local Redis, not a worker; runs on SQLite and PostgreSQL."""

import base64
import json

import pytest
from django.db import transaction
from django.test import override_settings

import scoria_django as scoria
from scoria_django.compat import IMMEDIATE_BACKEND, InvalidTask, task_backends
from scoria_django.contrib.celery import TASK_NAME
from scoria_django.contrib.celery.tasks import run_task

from . import tasks
from .celery_app import KEY_PREFIX
from .conftest import broker_keys, clear_broker, queue_length, redis_client

pytestmark = pytest.mark.celery

QUEUE = "scoria-backend-tests"
TASKS = {
    "default": {"BACKEND": IMMEDIATE_BACKEND},
    "celery": {
        "BACKEND": "scoria_django.contrib.celery.CeleryBackend",
        "QUEUES": ["default", QUEUE],
        "OPTIONS": {"APP": "tests.workers.celery_app.app"},
    },
}


@pytest.fixture
def broker():
    client = pytest.importorskip("redis")
    try:
        redis_client().ping()
    except client.exceptions.ConnectionError:
        pytest.skip("needs the local Redis on 127.0.0.1:6379")
    clear_broker()
    with override_settings(TASKS=TASKS):
        yield
    clear_broker()
    tasks.CALLS.clear()


def messages(queue):
    raw = redis_client().lrange(f"{KEY_PREFIX}{queue}", 0, -1)
    return [json.loads(item) for item in raw]


def test_enqueue_publishes_the_task_by_name(broker):
    result = tasks.remember.using(backend="celery", queue_name=QUEUE).enqueue("hello")

    [message] = messages(QUEUE)
    assert message["headers"]["task"] == TASK_NAME
    assert message["headers"]["id"] == result.id
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == ["tests.workers.tasks.remember", ["hello"], {}]
    assert kwargs == {}
    assert result.status == "READY"
    assert result.backend == "celery"
    assert result.enqueued_at is not None
    assert tasks.CALLS == []  # published, not run


def test_default_queue_goes_to_celerys_default_queue(broker):
    tasks.remember.using(backend="celery").enqueue(1)
    assert len(messages("celery")) == 1
    assert messages(QUEUE) == []


def test_tasks_taking_context_are_refused(broker):
    with pytest.raises(InvalidTask, match="context"):
        tasks.with_context.using(backend="celery").enqueue(1)
    assert broker_keys() == {}


def test_the_celery_task_calls_the_named_django_task():
    run_task("tests.workers.tasks.remember", [7], {})
    assert tasks.CALLS == [7]
    tasks.CALLS.clear()


def test_the_celery_task_refuses_anything_but_a_django_task():
    with pytest.raises(TypeError, match="not a django.tasks task"):
        run_task("os.getcwd", [], {})


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_start_publishes_nothing(broker):
    identity = scoria.identity(actor_id="a", session_id="s")
    step = {"kind": "echo", "role_id": "r"}
    with override_settings(SCORIA_TASK_BACKEND="celery"):
        with pytest.raises(RuntimeError), transaction.atomic():
            scoria.start_run(identity, initial_step=step)
            raise RuntimeError("roll back")
        assert queue_length("celery") == 0
        run = scoria.start_run(identity, initial_step=step)
    [message] = messages("celery")
    args, _, _ = json.loads(base64.b64decode(message["body"]))
    assert args == ["scoria_django.tasks.execute_step", [run.run_id, run.current_step_id], {}]
    assert scoria.get_run(run.run_id).status == "running"  # queued, waiting for a worker


def test_backend_instance_uses_the_configured_app(broker):
    from .celery_app import app

    assert task_backends["celery"].app is app
