"""``python -m bench.run``: measure scoria against its baselines and peers, print a table,
write ``bench/results/latest.json`` (and a timestamped copy).

Each database is measured in its own child process (Django settings are per process); the
peers run in the bench-only venv ``bench/.venv`` against the same PostgreSQL.
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from . import report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
PEER_PYTHON = BENCH / ".venv" / "bin" / "python"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--quick", action="store_true", help="small counts, 10k-run scale table")
    parser.add_argument("--size", type=int, help="runs in the scale table (default 1,000,000)")
    parser.add_argument("--iterations", type=int, help="timed calls per single-process case")
    parser.add_argument("--scale-iterations", type=int, help="timed calls per scale query")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--per-process", type=int, help="lifecycles per concurrent process")
    parser.add_argument("--worker-runs", type=int, help="lifecycles enqueued for db_workers")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--skip-workers", action="store_true")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    quick = options.quick
    defaults = {
        "size": 10_000 if quick else 1_000_000,
        "iterations": 40 if quick else 400,
        "scale_iterations": 100 if quick else 500,
        "per_process": 10 if quick else 40,
        "worker_runs": 20 if quick else 300,
    }
    for key, value in defaults.items():
        if getattr(options, key) is None:
            setattr(options, key, value)
    return options


def machine():
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
    except OSError:
        mem_kb = 0
    versions = {}
    for package in ("django", "psycopg", "django-tasks-db"):
        try:
            from importlib.metadata import version

            versions[package] = version(package)
        except Exception:
            versions[package] = None
    import sqlite3

    pg = subprocess.run(
        ["psql", PG_ADMIN_URL, "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "load_average": os.getloadavg(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": pg or None,
        **versions,
    }


def fresh_bench_databases(dbs):
    """Start every run from an empty, freshly migrated schema: the SQLite file is removed
    and ``scoria_bench`` (never the project's or the tests' databases) is dropped and
    created again, so no index or table left by an earlier run or experiment can make a
    figure that the package's migrations would not give."""
    if "sqlite" in dbs:
        from .settings import SQLITE_PATH

        for suffix in ("", "-wal", "-shm"):
            Path(SQLITE_PATH + suffix).unlink(missing_ok=True)
    if "postgres" in dbs:
        import dj_database_url
        import psycopg
        from psycopg import sql

        from .settings import PG_URL

        name = dj_database_url.parse(PG_URL)["NAME"]
        if not name.startswith("scoria_bench"):
            # Only a database the bench owns may be dropped.
            raise SystemExit(f"BENCH_DATABASE_URL must name a scoria_bench* database, not {name!r}")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run_peers(options, iterations=None):
    """DBOS and LangGraph in the bench venv; a peer that cannot run says exactly why."""
    iterations = iterations or 100
    if options.skip_peers:
        return {"skipped": "--skip-peers"}
    if not PEER_PYTHON.exists():
        return {"skipped": f"{PEER_PYTHON} does not exist: run bench/run.sh to create it"}
    out = {}
    for script in ("dbos_case.py", "langgraph_case.py"):
        done = subprocess.run(
            [str(PEER_PYTHON), script, PG_ADMIN_URL, str(iterations)],
            cwd=BENCH / "peers",
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        try:
            if done.returncode != 0:
                raise ValueError(f"exit status {done.returncode}")
            out.update(json.loads(lines[-1]))
        except (ValueError, IndexError) as exc:
            out[script] = {"error": f"{exc}; stderr tail: {done.stderr.strip()[-800:]}"}
    return out


def _get_peers(payload):
    pg = payload["databases"].get("postgres") or {}
    return pg.pop("peers", None) or {"skipped": pg.get("error", "PostgreSQL run failed")}


def child(options):
    """Measure one database in this process."""
    from .harness import setup_django

    setup_django(options.db)
    from .cases import run_all

    results = run_all(options)
    Path(options.out).write_text(json.dumps(results, indent=2, default=str))


def main(argv=None):
    options = parse_args(argv)
    if options.child:
        return child(options)
    started = time.perf_counter()
    dbs = ["sqlite", "postgres"] if options.db == "both" else [options.db]
    payload = {
        "started_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "options": {k: v for k, v in vars(options).items() if k not in ("child", "out")},
        "databases": {},
    }
    RESULTS.mkdir(exist_ok=True)
    # Every option but --db goes to the children as given.
    given = list(argv if argv is not None else sys.argv[1:])
    passthrough = []
    while given:
        arg = given.pop(0)
        if arg == "--db":
            del given[:1]  # its value
        elif not arg.startswith("--db="):
            passthrough.append(arg)
    fresh_bench_databases(dbs)
    for db in dbs:
        out = RESULTS / f".{db}.partial.json"
        command = [sys.executable, "-m", "bench.run", "--child", "--db", db, "--out", str(out)]
        done = subprocess.run(command + passthrough, cwd=ROOT, check=False)
        if done.returncode != 0 or not out.exists():
            payload["databases"][db] = {"error": f"child exited {done.returncode}"}
            continue
        payload["databases"][db] = json.loads(out.read_text())
        out.unlink()
    # The peers ran inside the PostgreSQL child, in turn with scoria's own cases.
    payload["peers"] = _get_peers(payload) if "postgres" in dbs else None
    payload["targets"] = report.targets(payload)
    payload["total_seconds"] = round(time.perf_counter() - started, 1)
    text = report.render(payload)
    print(text)
    stamp = payload["started_at"].replace(":", "").replace("-", "")
    for name in ("latest.json", f"bench-{stamp}.json"):
        (RESULTS / name).write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {RESULTS / 'latest.json'} in {payload['total_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
