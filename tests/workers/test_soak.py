"""Soak: clients start, resume and cancel runs while workers are killed and their database
connections terminated; afterwards the store must prove nothing was lost or done twice.

``SCORIA_SOAK_SECONDS`` (default 60) sets the duration of the load phase.
"""

import os
import random
import sys
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections

import scoria_django as scoria
from scoria_django.models import Run

from .checker import check_store, describe_running
from .conftest import recover
from .handlers import SOAK_HANDLERS
from .harness import wait_until
from .runs import IDENTITY

pytestmark = [pytest.mark.workers, pytest.mark.postgres]

SOAK_SECONDS = float(os.environ.get("SCORIA_SOAK_SECONDS", "60"))
KILL_EVERY = 10
TERMINATE_EVERY = 2
BACKLOG = 20  # clients start no run while this many are running
RACES = {"not_resumable", "invalid_status_transition"}  # lost races between clients


class Soak:
    def __init__(self, workers):
        self.workers = workers
        self.stop = threading.Event()
        self.stats = Counter()
        self.errors = []
        self.lock = threading.Lock()

    def count(self, what):
        with self.lock:
            self.stats[what] += 1

    def thread(self, target, *args):
        def body():
            try:
                target(*args)
            except Exception as exc:  # noqa: BLE001 - reported by the test, not lost
                self.errors.append(f"{target.__name__}: {exc!r}")
            finally:
                connections.close_all()

        return threading.Thread(target=body, daemon=True, name=target.__name__)

    def client(self, seed):
        rng = random.Random(seed)
        while not self.stop.is_set():
            roll = rng.random()
            try:
                if roll < 0.45:
                    if Run.objects.filter(status="running").count() >= BACKLOG:
                        continue  # a steady load, not a backlog that only grows
                    kind = rng.choice(sorted(SOAK_HANDLERS))
                    scoria.start_run(
                        IDENTITY,
                        initial_step={"kind": kind, "role_id": "soak"},
                        handlers=SOAK_HANDLERS,
                    )
                    self.count("started")
                elif roll < 0.70:
                    self._act(rng, "waiting_for_approval", scoria.resume_run, "approved")
                elif roll < 0.80:
                    self._act(rng, "failed", scoria.resume_run, "retried")
                else:
                    status = rng.choice(["running", "waiting_for_approval"])
                    self._act(rng, status, scoria.cancel_run, "cancelled")
            except scoria.ScoriaError as exc:
                if exc.code not in RACES:
                    raise
                self.count(f"race:{exc.code}")
            finally:
                time.sleep(rng.uniform(0.05, 0.25))

    def _act(self, rng, status, verb, label):
        ids = list(Run.objects.filter(status=status).values_list("id", flat=True)[:50])
        if ids:
            verb(rng.choice(ids), identity=IDENTITY)
            self.count(label)

    def faults(self):
        next_kill = time.monotonic() + KILL_EVERY
        while not self.stop.wait(TERMINATE_EVERY):
            self.count("connections_terminated" if self._terminate_one() else "no_connection")
            if time.monotonic() >= next_kill:
                name = random.choice(self.workers.workers())
                self.workers.restart(name)
                self.count("workers_killed")
                next_kill += KILL_EVERY

    def _terminate_one(self):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = 'scoria-worker'"
                " AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1"
            )
            return cursor.fetchone() is not None

    def supervise(self):
        """systemd's part: restart whatever crashed (a worker whose connection was cut)."""
        while not self.stop.wait(0.5):
            self.stats["workers_crashed"] += len(self.workers.restart_dead())


@pytest.mark.parametrize("transport", ["db", pytest.param("celery", marks=pytest.mark.celery)])
def test_soak_survives_killed_workers_and_dropped_connections(fleet, transport):
    workers = fleet(transport, 2, SCORIA_REQUEUE_AFTER=5, timeout=10)
    workers.start_command("recover", "scoria_recover", "--interval=0.5")
    soak = Soak(workers)
    clients = [soak.thread(soak.client, seed) for seed in range(4)]
    operators = [soak.thread(soak.faults), soak.thread(soak.supervise)]
    for thread in clients + operators:
        thread.start()
    try:
        time.sleep(SOAK_SECONDS)
    finally:
        soak.stop.set()
        for thread in clients + operators:
            thread.join(timeout=30)
    assert not [thread.name for thread in clients + operators if thread.is_alive()]
    assert soak.errors == []

    def quiet():
        workers.restart_dead()
        recover()

    try:
        wait_until(
            lambda: not Run.objects.filter(status="running").exists(),
            timeout=60,
            what="every run to finish or wait for approval after the faults stop",
            every=0.5,
            tick=quiet,
        )
    except AssertionError:
        assert describe_running() == [], soak.stats
    assert check_store() == []
    statuses = Counter(Run.objects.values_list("status", flat=True))
    sys.stderr.write(f"soak {transport}: {dict(soak.stats)} runs {dict(statuses)}\n")
    assert statuses["completed"] > 0, (statuses, soak.stats)
    assert soak.stats["workers_killed"] >= max(int(SOAK_SECONDS // KILL_EVERY) - 1, 1)
    assert soak.stats["connections_terminated"] > 0, soak.stats
