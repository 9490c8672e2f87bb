"""Shared by the peer scripts, which run in the bench-only venv (no Django there)."""

import json
import statistics
import sys
import time

import psycopg


def ensure_database(admin_url, name):
    """Create database ``name`` on the server of ``admin_url`` if it does not exist."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def measure(name, op, n, warmup=3):
    for i in range(warmup):
        op(i)
    latencies = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        op(i)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "name": name,
        "ops": n,
        "seconds": total,
        "ops_per_s": round(n / total, 1),
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
        "errors": 0,
    }


def emit(results):
    """The last line of stdout is the JSON the bench runner reads."""
    sys.stdout.write(json.dumps(results) + "\n")
