"""scoria measured the same way as the baselines: the manager verb, the facade lifecycle,
the approval round trip, and the same lifecycle through ``db_worker`` processes."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.db import transaction

import scoria_django as scoria

ROOT = Path(__file__).resolve().parent.parent
IDENTITY = {"actor_id": "bench", "tenant_id": "bench-tenant", "session_id": "bench-scoria"}
CHAIN_STEP = {"kind": "chain", "role_id": "executor", "input": {"n": 1}}
APPROVAL_STEP = {"kind": "approval", "role_id": "executor"}


def verb_transition(run_id, step_id):
    """One manager verb: a guarded step transition (``Step.objects.complete``)."""
    from scoria_django.models import Step

    Step.objects.complete(run_id, step_id, {"ok": True})


def facade_lifecycle(session_id="bench-scoria"):
    """start_run with a 3-step chain; with inline execution the summary is final."""
    summary = scoria.start_run({**IDENTITY, "session_id": session_id}, initial_step=CHAIN_STEP)
    if summary.status != "completed":
        raise RuntimeError(f"lifecycle ended {summary.status}")
    return summary.run_id


def approval_round_trip(session_id="bench-scoria"):
    """start -> waiting_for_approval -> resume -> completed."""
    summary = scoria.start_run({**IDENTITY, "session_id": session_id}, initial_step=APPROVAL_STEP)
    if summary.status != "waiting_for_approval":
        raise RuntimeError(f"approval run is {summary.status}")
    summary = scoria.resume_run(summary.run_id, identity={"actor_id": "approver"})
    if summary.status != "completed":
        raise RuntimeError(f"resumed run is {summary.status}")
    return summary.run_id


def _worker_env():
    env = dict(os.environ)
    env["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def start_workers(count, log_dir):
    """Start ``count`` db_worker processes and wait until each one says it is polling."""
    command = [
        sys.executable, "-m", "django", "db_worker", "--backend", "db",
        "--interval", "0.01", "--no-startup-delay", "--verbosity", "1",
    ]  # fmt: skip
    logs = [Path(log_dir) / f"worker-{i}.log" for i in range(count)]
    processes = []
    for log in logs:
        with log.open("w") as out:
            processes.append(
                subprocess.Popen(
                    command, cwd=ROOT, env=_worker_env(), stdout=out, stderr=subprocess.STDOUT
                )
            )
    deadline = time.monotonic() + 60
    while not all("Starting worker" in log.read_text() for log in logs):
        if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
            stop_workers(processes)
            raise RuntimeError(f"db_worker did not start: {logs[0].read_text()[-500:]}")
        time.sleep(0.05)
    return processes


def stop_workers(workers):
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def worker_lifecycles(workers, runs, *, stall=30):
    """``runs`` 3-step lifecycles through ``workers`` db_worker processes.

    The workers start and poll first; then every run is enqueued in one transaction. The
    time counted is from the first step a worker claimed to the last run completed
    (timestamps the workers wrote). Returns (seconds, completed, failed).
    """
    from django.db.models import Max, Min
    from django.test import override_settings

    from scoria_django.models import Run, Step

    session = f"bench-workers-{workers}-{time.monotonic_ns()}"
    with tempfile.TemporaryDirectory() as log_dir:
        processes = start_workers(workers, log_dir)
        try:
            # One transaction: every task is enqueued at its commit, while all workers poll.
            with override_settings(SCORIA_TASK_BACKEND="db"), transaction.atomic():
                for _ in range(runs):
                    scoria.start_run({**IDENTITY, "session_id": session}, initial_step=CHAIN_STEP)
            _wait_for(session, runs, stall)
        finally:
            stop_workers(processes)
    first = Step.objects.filter(run__session_id=session).aggregate(t=Min("started_at"))["t"]
    last = Run.objects.filter(session_id=session).aggregate(t=Max("completed_at"))["t"]
    completed = Run.objects.filter(session_id=session, status="completed").count()
    seconds = (last - first).total_seconds() if first and last else float("nan")
    return seconds, completed, runs - completed


def _wait_for(session, runs, stall):
    """Until ``runs`` runs of ``session`` finished, or nothing finished for ``stall`` seconds."""
    from scoria_django.models import Run

    finished, progress_at = 0, time.monotonic()
    while finished < runs and time.monotonic() - progress_at < stall:
        time.sleep(0.05)
        now_finished = Run.objects.filter(
            session_id=session, status__in=["completed", "failed"]
        ).count()
        if now_finished > finished:
            finished, progress_at = now_finished, time.monotonic()
