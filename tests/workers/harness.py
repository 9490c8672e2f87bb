"""Real worker processes for the fault tests, and bounded waits.

Every process starts in its own session, so ``stop()`` can kill it together with its
children (Celery's pool) whatever state the test left it in, frozen included.
"""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from scoria_django.compat import IMMEDIATE_BACKEND

REPO = Path(__file__).resolve().parents[2]

# The transports, as both the test process and the worker processes configure them.
WORKER_TASKS = {
    "default": {"BACKEND": IMMEDIATE_BACKEND},
    "workers": {"BACKEND": "django_tasks_db.DatabaseBackend"},
    "celery": {
        "BACKEND": "scoria_django.contrib.celery.CeleryBackend",
        "OPTIONS": {"APP": "tests.workers.celery_app.app"},
    },
}


class Fleet:
    """A named set of worker processes of one transport: ``"db"`` or ``"celery"``."""

    def __init__(self, transport, env, log_dir, *, concurrency=1):
        self.transport = transport
        self.env = env
        self.log_dir = Path(log_dir)
        self.concurrency = concurrency
        self.procs = {}
        self.spawned = []  # every process ever started: stop() kills them all
        self.lock = threading.RLock()  # the fault and supervisor threads restart concurrently
        self.helpers = {}  # name -> command of processes that are not workers
        self.started = 0

    def command(self, name):
        if name in self.helpers:
            return [sys.executable, "manage.py", *self.helpers[name]]
        if self.transport == "db":
            return [
                sys.executable,
                "manage.py",
                "db_worker",
                "--backend=workers",
                "--interval=0.05",
                "--no-startup-delay",
                "--no-reload",
                f"--worker-id={name}",
                "--verbosity=0",
            ]
        return [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.workers.celery_app",
            "worker",
            "--pool=prefork",
            f"--concurrency={self.concurrency}",
            "--loglevel=INFO",
            f"--hostname={name}@scoria-tests",
            f"--queues={self.env['SCORIA_CELERY_QUEUE']}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    def start(self, name):
        with self.lock:
            return self._start(name)

    def _start(self, name):
        self.started += 1
        log = open(self.log_dir / f"{name}.{self.started}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            self.command(name),
            cwd=REPO,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.procs[name] = proc
        self.spawned.append(proc)
        return proc

    def start_command(self, name, *args):
        """Run ``manage.py <args>`` beside the workers (e.g. the recovery loop), supervised."""
        self.helpers[name] = args
        return self.start(name)

    def start_many(self, count):
        for index in range(count):
            self.start(f"w{index + 1}")
        return self

    def workers(self):
        return sorted(name for name in self.procs if name not in self.helpers)

    def name_of(self, pid):
        """The worker whose process (or, for Celery, a pool child) has this pid."""
        for name, proc in self.procs.items():
            if proc.pid == pid or pid in _children(proc.pid):
                return name
        return None

    def kill(self, name, sig=signal.SIGKILL):
        with self.lock:
            proc = self.procs[name]
            if proc.poll() is None:
                os.killpg(proc.pid, sig)
            proc.wait(timeout=10)

    def restart(self, name):
        with self.lock:
            self.kill(name)
            return self._start(name)

    def restart_dead(self):
        """Supervisor duty (systemd ``Restart=always``): bring back any worker that died."""
        with self.lock:
            dead = [name for name, proc in self.procs.items() if proc.poll() is not None]
            for name in dead:
                self._start(name)
            return dead

    def stop(self):
        with self.lock:
            self.procs = {}  # nothing is restarted from here on
        for proc in self.spawned:
            # The whole session, leader or not: a Celery pool child outlives its master.
            for pid in _session(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        for proc in self.spawned:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def logs(self):
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.log_dir.glob("*.log"))
        )


def _session(sid):
    """Processes of the session we started (each worker runs in its own)."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if os.getsid(int(entry.name)) == sid:
                    members.append(int(entry.name))
    return members


def _children(pid):
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(child) for child in text.split()}


def wait_until(predicate, *, timeout, what, every=0.1, tick=None):
    """Poll ``predicate`` until it is truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if tick is not None:
            tick()
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(every)


def wait_for_mark(marks, step_id, attempt, *, timeout=20):
    """Wait until a handler runs ``step_id`` at ``attempt``; return the pid running it."""
    path = Path(marks) / f"{step_id}.{attempt}"
    wait_until(
        lambda: path.exists() and path.read_text(),
        timeout=timeout,
        what=f"handler of step {step_id} attempt {attempt}",
    )
    return int(path.read_text())
