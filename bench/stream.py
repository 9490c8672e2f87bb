"""``python -m bench.stream``: many SSE clients on one uvicorn process follow one run.

PostgreSQL only (the stream is woken by ``LISTEN/NOTIFY``). The parts run in separate
processes so they do not share a GIL: uvicorn serves ``bench.asgi`` (one process, one
event loop), this process holds ``--clients`` raw HTTP/1.1 connections on
``/api/scoria/runs/<id>/stream/``, and a writer process drives a run through
``--transactions`` host-verb transactions (``Step.objects.start`` / ``complete``, then
``Run.objects.complete``), noting the wall-clock instant each one committed.

Latency of one event at one client = when the client read it - when the transaction
that recorded it committed (same machine, same clock). Errors: a client that could not
connect, got no 200, or whose sequence of event ids is not exactly 1..last (a gap, a
duplicate, a reordering) or did not end after ``run_completed``.
Writes ``bench/results/stream-<timestamp>.json``.
"""

import argparse
import asyncio
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DB_NAME = "scoria_bench_stream"
TENANT = "bench-tenant"  # bench/tenancy.py
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_URL = os.environ.get(
    "BENCH_STREAM_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
)
ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "BENCH_DB": "postgres",
    "BENCH_DATABASE_URL": PG_URL,
    "PYTHONPATH": str(ROOT),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--transactions", type=int, default=100)
    parser.add_argument("--interval", type=float, default=0.05, help="seconds between commits")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--timeout", type=float, default=120, help="bound on the whole run")
    parser.add_argument("--writer", metavar="RUN_ID", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def django_setup():
    os.environ.update({k: v for k, v in ENV.items() if k != "PYTHONPATH"})
    import django

    django.setup()


def prepare():
    """Create and migrate the database; a user, its session cookie, and a running run."""
    import psycopg

    with psycopg.connect(
        PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True
    ) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone():
            admin.execute(f'CREATE DATABASE "{DB_NAME}"')
    django_setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from scoria_django.models import Run

    call_command("migrate", verbosity=0)
    user = User.objects.filter(username="stream-bench").first() or User.objects.create_user(
        "stream-bench"
    )
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    run = Run.objects.start({"session_id": "stream-bench"})
    # The host verbs take no tenant; the API's tenant resolver answers the bench tenant.
    Run.objects.filter(pk=run.pk).update(tenant_id=TENANT)
    return str(run.pk), cookie


def writer(run_id, transactions, interval):
    """Drive the run; print [last event sequence, commit instant] per transaction."""
    django_setup()
    from scoria_django.models import Run, Step

    commits = []

    def note(committed):
        commits.append((Run.objects.get(pk=run_id).last_event_sequence, committed))

    step = None
    for index in range(transactions - 1):
        time.sleep(interval)
        if step is None:
            step = Step.objects.start(run_id)
        else:
            Step.objects.complete(run_id, step.pk, {"index": index})
            step = None
        note(time.time())
    time.sleep(interval)
    if step is not None:
        Step.objects.complete(run_id, step.pk, {"index": transactions})
        note(time.time())
    Run.objects.complete(run_id, {"done": True})
    note(time.time())
    print(json.dumps(commits))


class Client:
    """One raw HTTP/1.1 SSE client: (sequence, event, received instant) per message."""

    def __init__(self, port, path, cookie):
        self.port, self.path, self.cookie = port, path, cookie
        self.received: list[tuple[int, str, float]] = []
        self.error: str | None = None
        self.open = asyncio.Event()

    async def run(self):
        try:
            await self._run()
        except Exception as exc:  # noqa: BLE001 - counted as this client's error
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.open.set()

    async def _run(self):
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(
            (
                f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Cookie: sessionid={self.cookie}\r\nAccept: text/event-stream\r\n\r\n"
            ).encode()
        )
        status = await reader.readline()
        if b" 200 " not in status:
            raise RuntimeError(status.decode().strip())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass  # headers; uvicorn sends the body chunked
        buffer = ""
        while True:
            size = int((await reader.readline()).strip() or b"0", 16)
            if size == 0:
                break
            chunk = await reader.readexactly(size + 2)
            now = time.time()
            buffer += chunk[:-2].decode()
            *blocks, buffer = buffer.split("\n\n")
            for block in blocks:
                if block.startswith(": stream open"):
                    self.open.set()
                    continue
                fields = dict(
                    line.split(": ", 1) for line in block.split("\n") if not line.startswith(":")
                )
                if fields:
                    self.received.append((int(fields["id"]), fields["event"], now))
        writer.close()


async def clients_phase(args, run_id, cookie):
    path = f"/api/scoria/runs/{run_id}/stream/"
    clients = [Client(args.port, path, cookie) for _ in range(args.clients)]
    tasks = []
    # Connected in batches, as users arrive; each batch subscribed before the next.
    for start in range(0, len(clients), 25):
        batch = clients[start : start + 25]
        tasks += [asyncio.create_task(client.run()) for client in batch]
        await asyncio.wait_for(asyncio.gather(*(c.open.wait() for c in batch)), 60)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.stream",
        "--writer",
        run_id,
        "--transactions",
        str(args.transactions),
        "--interval",
        str(args.interval),
        cwd=ROOT,
        env=ENV,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await proc.communicate()
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    return clients, json.loads(out)


def summarise(args, clients, commits):
    committed_at = {}
    previous = 0
    for last, instant in commits:
        for sequence in range(previous + 1, last + 1):
            committed_at[sequence] = instant
        previous = last
    expected = list(range(1, previous + 1))
    latencies, errors = [], []
    for client in clients:
        ids = [sequence for sequence, _, _ in client.received]
        if client.error:
            errors.append(client.error)
        elif ids != expected or client.received[-1][1] != "run_completed":
            errors.append(f"wrong sequence: {len(ids)} events, expected {len(expected)}")
        # run_started was committed before the clients connected: not a live latency
        latencies += [
            (received - committed_at[sequence]) * 1000
            for sequence, _, received in client.received
            if sequence in committed_at and sequence > 1
        ]
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    return {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "clients": args.clients,
        "transactions": args.transactions,
        "events": previous,
        "deliveries": len(latencies),
        "p50_ms": round(quantiles[49], 1),
        "p99_ms": round(quantiles[98], 1),
        "max_ms": round(max(latencies, default=0), 1),
        "errors": len(errors),
        "error_samples": errors[:5],
        "cpus": os.cpu_count(),
    }


def main(argv=None):
    args = parse_args(argv)
    if args.writer:
        writer(args.writer, args.transactions, args.interval)
        return
    run_id, cookie = prepare()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(args.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=ROOT,
        env=ENV,
    )
    try:
        time.sleep(3)
        clients, commits = asyncio.run(
            asyncio.wait_for(clients_phase(args, run_id, cookie), args.timeout)
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
    result = summarise(args, clients, commits)
    RESULTS.mkdir(exist_ok=True)
    stamp = result["when"].replace(":", "").replace("-", "")
    (RESULTS / f"stream-{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
