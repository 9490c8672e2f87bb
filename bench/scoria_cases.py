"""scoria measured the same way as the baselines: the manager verb, the facade lifecycle,
the approval round trip, and the same lifecycle through ``db_worker`` processes."""

import os
import subprocess
import sys
import time
from pathlib import Path

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


def start_workers(count):
    command = [
        sys.executable,
        "-m",
        "django",
        "db_worker",
        "--backend",
        "db",
        "--interval",
        "0.01",
        "--no-startup-delay",
    ]
    return [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=_worker_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]


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
    """Enqueue ``runs`` 3-step lifecycles for ``workers`` db_worker processes; time until all
    are completed. Returns (seconds, completed, failed)."""
    from django.test import override_settings

    from scoria_django.models import Run

    session = f"bench-workers-{workers}-{time.monotonic_ns()}"
    processes = start_workers(workers)
    try:
        time.sleep(1.5)  # let the workers import Django and start polling
        started = time.perf_counter()
        with override_settings(SCORIA_TASK_BACKEND="db"):
            for _ in range(runs):
                scoria.start_run({**IDENTITY, "session_id": session}, initial_step=CHAIN_STEP)
        # Give up when nothing finishes for ``stall`` seconds (a broken worker set-up).
        finished, progress_at = 0, time.monotonic()
        while finished < runs and time.monotonic() - progress_at < stall:
            time.sleep(0.02)
            now_finished = Run.objects.filter(
                session_id=session, status__in=["completed", "failed"]
            ).count()
            if now_finished > finished:
                finished, progress_at = now_finished, time.monotonic()
        seconds = time.perf_counter() - started
        completed = Run.objects.filter(session_id=session, status="completed").count()
        failed = Run.objects.filter(session_id=session).exclude(status="completed").count()
    finally:
        stop_workers(processes)
    return seconds, completed, failed
