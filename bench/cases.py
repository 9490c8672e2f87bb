"""The per-database measuring run: every case, in one process, against one database."""

import cProfile
import io
import multiprocessing
import pstats
import time

from django.db import connection, connections, transaction

from . import baselines, scale, scoria_cases
from .harness import (
    Result,
    count_python_calls,
    database_time,
    measure,
    percentile,
    sql_profile,
)


def reset_tables():
    """Empty the scoria and django-tasks-db tables so every run starts from the same state."""
    from django.apps import apps

    tasks = apps.get_model("django_tasks_database", "DBTaskResult")._meta.db_table
    tables = [
        "scoria_django_event",
        "scoria_django_handoff",
        "scoria_django_step",
        "scoria_django_run",
        tasks,
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        else:
            with transaction.atomic():  # foreign keys are checked at commit
                for table in tables:
                    cursor.execute(f"DELETE FROM {table}")


# -- single process, interleaved so that machine noise hits every case alike ---------------


def single_process(n, rounds=4, between_rounds=None):
    """Every case, ``rounds`` times in turn; ``between_rounds()`` (the peers) runs after each
    round, so that the same machine noise reaches scoria, its baselines and its peers."""
    raw = baselines.RawDB()
    cases = {
        "raw_transition": (
            lambda item: baselines.raw_transition(raw, *item),
            baselines.prepare_running_steps,
        ),
        "verb_transition": (
            lambda item: scoria_cases.verb_transition(*item),
            baselines.prepare_running_steps,
        ),
        "raw_lifecycle": (lambda _: baselines.raw_lifecycle(raw), None),
        "orm_lifecycle": (lambda _: baselines.orm_lifecycle(), None),
        "facade_lifecycle": (lambda _: scoria_cases.facade_lifecycle(), None),
        "approval_round_trip": (lambda _: scoria_cases.approval_round_trip(), None),
    }
    per_round = max(n // rounds, 1)
    samples = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (op, prepare) in cases.items():
            factor = 5 if "transition" in name else 1  # transitions are short: more of them
            samples[name].append(measure(name, op, per_round * factor, prepare=prepare))
        if between_rounds is not None:
            between_rounds(per_round)
    raw.close()
    return {name: _merge(name, parts).as_dict() for name, parts in samples.items()}


def _merge(name, parts):
    ops = sum(p.ops for p in parts)
    seconds = sum(p.seconds for p in parts)
    # Latencies are not kept per call across rounds: report the worst round's p99, median p50.
    p50 = sorted(p.p50_ms for p in parts)[len(parts) // 2]
    return Result(name, ops, seconds, p50_ms=p50, p99_ms=max(p.p99_ms for p in parts))


class PeerRounds:
    """Runs the peer scripts (bench venv) for one round each time it is called."""

    def __init__(self, options):
        self.options = options
        self.rounds = []

    def __call__(self, per_round):
        from .run import run_peers

        self.rounds.append(run_peers(self.options, iterations=per_round))

    def merged(self):
        if not self.rounds:
            return {"skipped": "no round ran"}
        merged = {}
        for key, first in self.rounds[0].items():
            parts = [r.get(key) for r in self.rounds]
            if not all(isinstance(p, dict) and "ops_per_s" in p for p in parts):
                # The first round that did not measure (an error dict, or a skip reason).
                merged[key] = next(
                    (p for p in parts if not (isinstance(p, dict) and p.get("ops_per_s"))), first
                )
                continue
            result = _merge(first["name"], [Result(**_fields(p)) for p in parts]).as_dict()
            result["version"] = first.get("version")
            merged[key] = result
        return merged


def _fields(part):
    keys = ("name", "ops", "seconds", "p50_ms", "p99_ms", "errors")
    return {key: part[key] for key in keys}


# -- statements, commits, Python calls -----------------------------------------------------


def accounting():
    raw = baselines.RawDB()
    baselines.raw_lifecycle(raw)
    before = (raw.statements, raw.dml, raw.commits)
    baselines.raw_lifecycle(raw)
    raw_counts = {
        "statements": raw.statements - before[0],
        "dml": raw.dml - before[1],
        "commits": raw.commits - before[2],
    }
    raw.close()
    out = {"raw_lifecycle": raw_counts}
    # One manager verb on a running step each call: 1 warm-up, 1 profiled, 101 timed.
    steps = iter(baselines.prepare_running_steps(103, session_id="bench-accounting"))

    def verb_transition():
        scoria_cases.verb_transition(*next(steps))

    for name, fn in (
        ("orm_lifecycle", baselines.orm_lifecycle),
        ("facade_lifecycle", scoria_cases.facade_lifecycle),
        ("approval_round_trip", scoria_cases.approval_round_trip),
        ("verb_transition", verb_transition),
    ):
        fn()  # warm caches first
        profile = sql_profile(fn)
        profile.pop("sql")
        out[name] = profile
    scoria_cases.facade_lifecycle()
    out["facade_lifecycle"]["python_calls"] = count_python_calls(scoria_cases.facade_lifecycle)
    scoria_cases.approval_round_trip()
    out["approval_round_trip"]["python_calls"] = count_python_calls(
        scoria_cases.approval_round_trip
    )
    # Wall time split into statements, commits and the rest (Python).
    for name, fn in (
        ("facade_lifecycle", scoria_cases.facade_lifecycle),
        ("approval_round_trip", scoria_cases.approval_round_trip),
        ("verb_transition", verb_transition),
    ):
        out[name].update(database_time(fn))
    return out


def profile_lifecycle(n=50, top=25):
    """cProfile of ``n`` facade lifecycles: where the Python time goes."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(n):
        scoria_cases.facade_lifecycle()
    profiler.disable()
    out = {}
    for key in ("tottime", "cumulative"):
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats(key).print_stats(top)
        out[key] = stream.getvalue().splitlines()
    return out


# -- 8 writer processes --------------------------------------------------------------------


def _concurrent_op(case):
    if case == "raw_lifecycle":
        raw = baselines.RawDB()
        return lambda: baselines.raw_lifecycle(raw)
    if case == "orm_lifecycle":
        return baselines.orm_lifecycle
    if case == "facade_lifecycle":
        return scoria_cases.facade_lifecycle
    if case == "approval_round_trip":
        return scoria_cases.approval_round_trip
    raise ValueError(case)


def _child(case, per_process, barrier, queue):
    op = _concurrent_op(case)
    errors, first_error, latencies = 0, None, []
    barrier.wait()
    started = time.time()
    for _ in range(per_process):
        t0 = time.perf_counter()
        try:
            op()
        except Exception as exc:  # every failure is counted and the first one reported
            errors += 1
            first_error = first_error or f"{type(exc).__name__}: {exc}"
        latencies.append(time.perf_counter() - t0)
    queue.put((started, time.time(), errors, first_error, latencies))
    connections.close_all()


def concurrent(case, processes, per_process):
    context = multiprocessing.get_context("fork")
    barrier, queue = context.Barrier(processes), context.Queue()
    connections.close_all()  # children must open their own connections
    children = [
        context.Process(target=_child, args=(case, per_process, barrier, queue))
        for _ in range(processes)
    ]
    for child in children:
        child.start()
    reports = [queue.get(timeout=900) for _ in children]
    for child in children:
        child.join()
    latencies = [value for report in reports for value in report[4]]
    errors = sum(report[2] for report in reports)
    result = Result(
        f"{case}_c{processes}",
        processes * per_process - errors,
        max(r[1] for r in reports) - min(r[0] for r in reports),
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
        extra={"first_error": next((r[3] for r in reports if r[3]), None)},
    )
    return result.as_dict()


# -- db_worker processes -------------------------------------------------------------------


def workers(runs):
    out = {}
    for count in (1, 2):
        seconds, completed, failed = scoria_cases.worker_lifecycles(count, runs)
        out[f"workers_{count}"] = Result(
            f"facade_lifecycle_{count}_db_workers",
            completed,
            seconds,
            errors=failed,
            p50_ms=None,
            p99_ms=None,
            extra={"enqueued": runs},
        ).as_dict()
    return out


# -- everything for one database -----------------------------------------------------------


def run_all(options):
    results = {"db": connection.vendor}
    timings = {}

    def phase(name, fn):
        started = time.perf_counter()
        print(f"  [{connection.vendor}] {name} ...", flush=True)
        value = fn()
        timings[name] = round(time.perf_counter() - started, 1)
        return value

    reset_tables()
    results["accounting"] = phase("accounting", accounting)
    peers = PeerRounds(options) if connection.vendor == "postgresql" else None
    results["single"] = phase(
        "single process" + (" with the peers in turn" if peers else ""),
        lambda: single_process(options.iterations, between_rounds=peers),
    )
    if peers is not None:
        results["peers"] = peers.merged()
    results["profile"] = phase("profile", profile_lifecycle)
    results["concurrent"] = phase(
        "8 writer processes",
        lambda: {
            case: concurrent(case, options.concurrency, options.per_process)
            for case in ("raw_lifecycle", "facade_lifecycle", "approval_round_trip")
        },
    )
    if options.skip_workers:
        results["workers"] = {"skipped": "--skip-workers"}
    else:
        results["workers"] = phase("db_worker processes", lambda: workers(options.worker_runs))
    if options.skip_scale:
        results["scale"] = {"skipped": "--skip-scale"}
    else:
        seconds = phase("generate scale table", lambda: scale.generate(options.size))
        rows, notes = phase(
            "scale queries", lambda: scale.run_queries(options.size, options.scale_iterations)
        )
        results["scale"] = {
            "size": options.size,
            "big_session": scale.big_session_size(options.size),
            "generate_seconds": round(seconds, 1),
            "queries": rows,
            "notes": notes,
        }
    results["phase_seconds"] = timings
    return results
