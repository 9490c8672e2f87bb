import os
import sys
import uuid
from collections import namedtuple
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from .checker import describe_running
from .harness import REPO, WORKER_TASKS, Fleet

LEASE = 1.5

TASKS = WORKER_TASKS


@pytest.fixture
def marks(tmp_path):
    path = tmp_path / "marks"
    path.mkdir()
    return path


@pytest.fixture
def worker_settings(transactional_db):
    """This process enqueues to (and recovers for) the same transport as the workers."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: worker processes share the live test database")

    def configure(transport="workers", **settings):
        values = {
            "TASKS": TASKS,
            "SCORIA_TASK_BACKEND": transport,
            "SCORIA_LEASE_SECONDS": LEASE,
            "SCORIA_MAX_ATTEMPTS": 3,
            "SCORIA_REQUEUE_AFTER": 2,
            **settings,
        }
        override = override_settings(**values)
        override.enable()
        overrides.append(override)
        return values

    overrides = []
    yield configure
    for override in reversed(overrides):
        override.disable()


@pytest.fixture
def fleet(worker_settings, tmp_path):
    """Start real workers: ``fleet("db", count)`` or ``fleet("celery", count)``.

    Teardown kills every process started, frozen or not, before the database is flushed.
    """
    fleets = []
    logs = tmp_path / "logs"
    logs.mkdir()

    def start(transport, count=1, *, concurrency=1, timeout=30, visibility=3600, **settings):
        name = "celery" if transport == "celery" else "workers"
        if transport == "celery":
            settings.update(_celery_settings())
        values = worker_settings(name, **settings)
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.workers.worker_settings",
            "PYTHONPATH": str(REPO),
            "SCORIA_WORKER_DB": connection.settings_dict["NAME"],
            "SCORIA_WORKER_TRANSPORT": name,
            "SCORIA_WORKER_LEASE": str(values["SCORIA_LEASE_SECONDS"]),
            "SCORIA_WORKER_MAX_ATTEMPTS": str(values["SCORIA_MAX_ATTEMPTS"]),
            "SCORIA_WORKER_REQUEUE_AFTER": str(values["SCORIA_REQUEUE_AFTER"]),
            "SCORIA_WORKER_TIMEOUT": str(timeout),
        }
        if transport == "celery":
            env["SCORIA_CELERY_QUEUE"] = values["SCORIA_TASK_QUEUE"]
            env["SCORIA_CELERY_VISIBILITY"] = str(visibility)
            env["SCORIA_CELERY_DELIVERIES"] = str(tmp_path / "deliveries.log")
        workers = Fleet(transport, env, logs, concurrency=concurrency).start_many(count)
        fleets.append(workers)
        return workers

    try:
        yield start
    finally:
        for workers in fleets:
            sys.stderr.write(_ps(workers))
            workers.stop()
        try:
            # Shown by pytest only when the test failed.
            sys.stderr.write("--- still running\n" + "\n".join(describe_running()) + "\n")
            for workers in fleets:
                sys.stderr.write(workers.logs())
            sys.stderr.write(f"--- last deliveries\n{deliveries(tmp_path)[-10:]}\n")
        finally:
            if any(workers.transport == "celery" for workers in fleets):
                sys.stderr.write(f"--- broker keys\n{broker_keys()}\n")
                clear_broker()


def _celery_settings():
    """A fresh queue per test, named in TASKS so the backend publishes to it explicitly."""
    clear_broker()
    queue = f"scoria-tests-{uuid.uuid4().hex[:8]}"
    tasks = {**TASKS, "celery": {**TASKS["celery"], "QUEUES": [queue]}}
    return {"TASKS": tasks, "SCORIA_TASK_QUEUE": queue}


def _ps(workers):
    """What each worker process was doing, for a failed test's report."""
    import subprocess

    sids = ",".join(str(proc.pid) for proc in workers.spawned)
    if not sids:
        return ""
    ps = ["ps", "-o", "pid,ppid,stat,wchan:20,etime,args", "--sid", sids]
    return "--- processes\n" + subprocess.run(ps, capture_output=True, text=True).stdout


def redis_client():
    import redis

    from .celery_app import BROKER_URL

    return redis.Redis.from_url(BROKER_URL)


def broker_keys():
    """This test run's keys in the broker (see ``celery_app.KEY_PREFIX``), with their types."""
    from .celery_app import KEY_PREFIX

    redis = redis_client()
    return {key.decode(): redis.type(key).decode() for key in redis.keys(f"{KEY_PREFIX}*")}


def queue_length(queue):
    from .celery_app import KEY_PREFIX

    return redis_client().llen(f"{KEY_PREFIX}{queue}")


def clear_broker():
    keys = list(broker_keys())
    if keys:
        redis_client().delete(*keys)


Delivery = namedtuple("Delivery", "task_id pid run_id step_id")


def deliveries(tmp_path):
    """Celery deliveries the workers started, oldest first (see ``celery_app``)."""
    path = tmp_path / "deliveries.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return [Delivery(*line.split()) for line in lines if line.strip()]


def recover():
    """One pass of ``manage.py scoria_recover``."""
    call_command("scoria_recover", stdout=StringIO())
