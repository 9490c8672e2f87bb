"""Shared measuring tools: Django setup, timing, SQL accounting, Python call counting."""

import os
import statistics
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field


def setup_django(db):
    """Configure Django for ``db`` ("sqlite" or "postgres") and migrate the bench database."""
    os.environ["BENCH_DB"] = db
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


@dataclass
class Result:
    """One measured case: throughput and per-operation latency."""

    name: str
    ops: int
    seconds: float
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    errors: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def ops_per_s(self):
        return self.ops / self.seconds if self.seconds else 0.0

    def as_dict(self):
        return {**asdict(self), "ops_per_s": round(self.ops_per_s, 1)}


def percentile(samples, q):
    if not samples:
        return 0.0
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(name, op, n, *, warmup=3, prepare=None):
    """Call ``op(i)`` ``n`` times (after ``warmup`` calls) and time each call.

    ``prepare(count)``, when given, returns the arguments consumed by the calls (it is not
    timed): ``op`` then receives one item each call.
    """
    items = prepare(n + warmup) if prepare else list(range(n + warmup))
    for item in items[:warmup]:
        op(item)
    latencies = []
    started = time.perf_counter()
    for item in items[warmup:]:
        t0 = time.perf_counter()
        op(item)
        latencies.append(time.perf_counter() - t0)
    total = time.perf_counter() - started
    return Result(
        name,
        n,
        total,
        p50_ms=statistics.median(latencies) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
    )


@contextmanager
def counted_commits(connection):
    """Count COMMITs Django sends on ``connection`` (explicit commits of atomic blocks),
    and the seconds spent in them."""
    counter = {"commits": 0, "seconds": 0.0}
    original = connection._commit

    def _commit():
        counter["commits"] += 1
        started = time.perf_counter()
        try:
            return original()
        finally:
            counter["seconds"] += time.perf_counter() - started

    connection._commit = _commit
    try:
        yield counter
    finally:
        del connection._commit


def sql_profile(fn):
    """Run ``fn`` once; return statements by kind and commits, as Django executed them.

    On PostgreSQL every statement outside ``atomic`` autocommits: DML there counts as a
    commit of its own, reads do not (they write nothing).
    """
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured, counted_commits(connection) as commits:
        fn()
    kinds = {"select": 0, "insert": 0, "update": 0, "delete": 0, "other": 0}
    for query in captured.captured_queries:
        word = query["sql"].lstrip().split(None, 1)[0].lower()
        if word in ("begin", "commit", "rollback", "savepoint", "release"):
            continue
        kinds[word if word in kinds else "other"] += 1
    dml = kinds["insert"] + kinds["update"] + kinds["delete"]
    return {
        "statements": sum(kinds.values()),
        "dml": dml,
        "commits": commits["commits"],
        **kinds,
        "sql": [q["sql"] for q in captured.captured_queries],
    }


def database_time(fn, n=100):
    """Per call of ``fn`` (warm), in ms: the wall time, and the part spent inside statement
    executions and commits on Django's connection (the round trips and the server's work,
    plus the driver's own handling of each statement)."""
    from django.db import connections

    connection = connections["default"]
    spent = {"seconds": 0.0}

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            spent["seconds"] += time.perf_counter() - started

    fn()
    with connection.execute_wrapper(timed), counted_commits(connection) as commits:
        started = time.perf_counter()
        for _ in range(n):
            fn()
        wall = time.perf_counter() - started
    return {
        "wall_ms": round(wall / n * 1000, 2),
        "statements_ms": round(spent["seconds"] / n * 1000, 2),
        "commits_ms": round(commits["seconds"] / n * 1000, 2),
    }


def run_profiled(fn, profiler):
    """Call ``fn()`` with ``profiler`` on this thread and on every thread it starts."""
    threading.setprofile(profiler)
    sys.setprofile(profiler)
    try:
        fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


def count_python_calls(fn):
    """Python function calls made by ``fn()``, including threads it starts (the handler)."""
    calls = 0
    lock = threading.Lock()

    def profiler(frame, event, arg):
        nonlocal calls
        if event == "call":
            with lock:
                calls += 1

    run_profiled(fn, profiler)
    return calls
