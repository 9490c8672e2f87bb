"""A worker process killed with SIGKILL inside its handler: recovery completes the step once.

Needs a database another process can open: PostgreSQL, or SQLite in a file
(``SCORIA_SQLITE_TEST_PATH``). The in-memory SQLite default cannot show it.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models.functions import Now
from django.test import override_settings

import scoria_django as scoria
from scoria_django.compat import DUMMY_BACKEND, default_task_backend
from scoria_django.models import Step
from tests import runtime_handlers

ROOT = Path(__file__).resolve().parent.parent
DUMMY_TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}


def wait_for(predicate, what, seconds=30):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


def worker_environment():
    """The worker process opens the live test database, not the configured one."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        url = urllib.parse.urlsplit(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = urllib.parse.urlunsplit(url._replace(path=f"/{name}"))
    else:
        env.pop("DATABASE_URL", None)
        env["SCORIA_SQLITE_PATH"] = str(name)
    return env


@pytest.fixture
def shareable_database():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("needs PostgreSQL or SQLite in a file (SCORIA_SQLITE_TEST_PATH)")


@pytest.mark.workers
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("shareable_database")
def test_a_killed_worker_is_recovered_and_the_step_completes_exactly_once(tmp_path):
    runtime_handlers.reset()
    with override_settings(TASKS=DUMMY_TASKS):
        started = scoria.start_run(
            None,
            initial_step={"kind": "crash", "role_id": "executor", "input": {"dir": str(tmp_path)}},
            handlers={"crash": runtime_handlers.crash_once},
            timeout=60,
        )
        (delivery,) = default_task_backend.results
    run_id, step_id = delivery.args
    assert (run_id, step_id) == (started.run_id, started.current_step_id)

    worker = subprocess.Popen(
        [sys.executable, "-c", "from tests.runtime_handlers import worker_main; worker_main()"]
        + [run_id, step_id],
        cwd=ROOT,
        env=worker_environment(),
    )
    try:
        wait_for(
            lambda: (tmp_path / "started").exists() or worker.poll() is not None,
            "the worker to enter its handler",
        )
        assert worker.poll() is None, "the worker exited before its handler blocked"
        assert (tmp_path / "started").read_text() != str(os.getpid())
        os.kill(worker.pid, signal.SIGKILL)
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.wait(30)
    assert worker.returncode == -signal.SIGKILL

    step = Step.objects.get(pk=step_id)
    assert (step.status, step.attempt) == ("running", 1)  # the dead worker's claim
    # Its worker renewed a one-second lease; with the worker dead it runs out.
    wait_for(
        lambda: Step.objects.filter(pk=step_id, lease_expires_at__lt=Now()).exists(),
        "the dead worker's lease to expire",
    )
    out = StringIO()
    call_command("scoria_recover", stdout=out)  # the inline backend runs the step here
    assert f"requeued step {step_id} (crash, attempt 2)" in out.getvalue()

    step.refresh_from_db()
    assert (step.status, step.attempt, step.output) == ("completed", 2, {"attempt": 2})
    assert scoria.get_run(run_id).status == "completed"
    key = f"{run_id}:{step_id}"
    # The handler ran at least once per claim; its keyed side effect happened once.
    assert (tmp_path / "calls").read_text().splitlines() == [f"{key} 1", f"{key} 2"]
    effects = sorted(path.name for path in tmp_path.glob("effect-*"))
    assert effects == ["effect-" + key.replace(":", "_")]
    types = [event["event_type"] for event in scoria.get_run_detail(run_id).events]
    assert types.count("step_completed") == 1
    assert types.count("step_requeued") == 1
    assert types.count("run_completed") == 1
    assert types.count("step_claimed") == 2
