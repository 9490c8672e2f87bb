"""Scale: a large run table generated in bulk, then the hot read paths against it.

Layout of ``size`` runs (all tenant ``bench-tenant``): one session ``bench-big`` holding
``min(20000, size // 50)`` runs, the rest in sessions of 100 runs; statuses 85% completed and
5% each running / waiting_for_approval / failed; every 10th run has 5 completed steps.
Each query is timed through scoria (and the API when it exists) next to the same query in raw
SQL, and EXPLAINed as Django sends it.
"""

import datetime
import gc
import io
import random
import time
import uuid

from django.conf import settings
from django.db import connection, transaction

from .baselines import RUN, STEP, RawDB
from .harness import measure
from .tenancy import TENANT

BIG_SESSION = "bench-big"
STATUSES = ["running", "waiting_for_approval", "failed"]  # i % 20 in 0..2; else completed
CHUNK = 20_000
RUN_COLUMNS = [
    "id",
    "session_id",
    "actor_id",
    "tenant_id",
    "root_role_id",
    "kind",
    "status",
    "metadata",
    "handlers",
    "last_event_sequence",
    "last_step_sequence",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
]
STEP_COLUMNS = [
    "id",
    "run_id",
    "sequence",
    "session_id",
    "kind",
    "role_id",
    "status",
    "attempt",
    "metadata",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
]
BASE = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def big_session_size(size):
    return min(20_000, size // 50)


def _rows(size):
    """Yield (run_row, step_rows) with Python values; ids are random UUIDs."""
    big = big_session_size(size)
    for i in range(size):
        session = BIG_SESSION if i % 50 == 0 and i // 50 < big else f"s-{i // 100}"
        status = STATUSES[i % 20] if i % 20 < 3 else "completed"
        created = BASE + datetime.timedelta(seconds=i)
        updated = created + datetime.timedelta(seconds=1)
        terminal = status in ("completed", "failed")
        steps = 5 if i % 10 == 0 else 0
        run_id = uuid.uuid4()
        run = [
            run_id, session, f"actor-{i % 1000}", TENANT, "executor", "agent", status,
            "{}", "{}", steps, steps, created, updated, created, updated if terminal else None,
        ]  # fmt: skip
        step_rows = [
            [
                uuid.uuid4(),
                run_id,
                seq,
                session,
                "chain",
                "executor",
                "completed",
                1,
                "{}",
                created,
                updated,
                created,
                updated,
            ]  # fmt: skip
            for seq in range(1, steps + 1)
        ]
        yield run, step_rows


def _truncate():
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "TRUNCATE scoria_django_event, scoria_django_handoff, scoria_django_step,"
                " scoria_django_run CASCADE"
            )
        else:
            with transaction.atomic():  # foreign keys are checked at commit
                for table in ("event", "handoff", "step", "run"):
                    cursor.execute(f"DELETE FROM scoria_django_{table}")


def _copy_value(value):
    if value is None:
        return "\\N"
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return str(value)


def _sqlite_value(value):
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None).isoformat(" ")  # as Django's SQLite backend stores it
    return value


def generate(size):
    """Replace every run with ``size`` generated ones; return seconds taken."""
    started = time.perf_counter()
    _truncate()
    if connection.vendor == "postgresql":
        _generate_postgres(size)
    else:
        _generate_sqlite(size)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def _generate_postgres(size):
    connection.ensure_connection()
    raw = connection.connection  # the psycopg connection: COPY needs it
    with raw.cursor() as cursor:
        runs, steps = io.StringIO(), io.StringIO()

        def flush():
            for table, columns, buffer in ((RUN, RUN_COLUMNS, runs), (STEP, STEP_COLUMNS, steps)):
                with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()

        for i, (run, step_rows) in enumerate(_rows(size), 1):
            runs.write("\t".join(map(_copy_value, run)) + "\n")
            for step in step_rows:
                steps.write("\t".join(map(_copy_value, step)) + "\n")
            if i % CHUNK == 0:
                flush()
        flush()
    if not raw.autocommit:
        raw.commit()


def _generate_sqlite(size):
    run_sql = f"INSERT INTO {RUN} ({', '.join(RUN_COLUMNS)}) VALUES ({', '.join('?' * 15)})"
    step_sql = f"INSERT INTO {STEP} ({', '.join(STEP_COLUMNS)}) VALUES ({', '.join('?' * 13)})"
    connection.ensure_connection()
    raw = connection.connection
    runs, steps = [], []

    def flush():
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany(run_sql, runs)
        raw.executemany(step_sql, steps)
        raw.execute("COMMIT")
        runs.clear()
        steps.clear()

    for i, (run, step_rows) in enumerate(_rows(size), 1):
        runs.append([_sqlite_value(v) for v in run])
        steps.extend([_sqlite_value(v) for v in step] for step in step_rows)
        if i % CHUNK == 0:
            flush()
    flush()


# -- queries ------------------------------------------------------------------------------


def _explain(sql):
    """The plan of ``sql`` exactly as Django sent it, and whether it reads through an index."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            uses_index = "Index" in plan and "Seq Scan" not in plan
        else:
            cursor.execute("EXPLAIN QUERY PLAN " + sql)
            plan = "\n".join(str(row[-1]) for row in cursor.fetchall())
            uses_index = "SEARCH" in plan and "USING" in plan
    return plan, uses_index


def _captured_sql(fn):
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        fn()
    return [q["sql"] for q in captured.captured_queries]


def _api_client():
    """A logged-in test client, or (None, reason) when the API has no run routes yet."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import Resolver404, resolve

    try:
        resolve("/api/scoria/runs/")
    except Resolver404:
        return None, "scoria_django.api has no runs/ route yet (api/urls.py is empty)"
    user, _ = get_user_model().objects.get_or_create(
        username="bench-operator", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    return client, None


def run_queries(size, iterations, rng_seed=7):
    """Time every hot read; returns a list of result dicts and a notes dict."""
    import scoria_django as scoria
    from scoria_django.models import Run

    rng = random.Random(rng_seed)
    sessions = [f"s-{rng.randrange(max(size // 100, 1))}" for _ in range(iterations + 10)]
    # Sample runs through the updated_at index: run i was updated at BASE + i + 1 seconds.
    moments = [BASE + datetime.timedelta(seconds=rng.randrange(size) + 1) for _ in range(50)]
    run_ids = list(Run.objects.filter(updated_at__in=moments).values_list("pk", flat=True))
    if not run_ids:
        raise RuntimeError("no generated run found by updated_at: the table was not generated")
    raw = RawDB()
    star = f"SELECT * FROM {RUN}"
    cases = [
        (
            "session_newest_50",
            lambda s: scoria.list_runs_for_session(s, limit=50),
            lambda s: raw.execute(
                f"{star} WHERE session_id = %s ORDER BY created_at DESC, id DESC LIMIT 50", (s,)
            ).fetchall(),
            lambda n: sessions[:n],
        ),
        (
            "big_session_newest_50",
            lambda s: scoria.list_runs_for_session(s, limit=50),
            lambda s: raw.execute(
                f"{star} WHERE session_id = %s ORDER BY created_at DESC, id DESC LIMIT 50", (s,)
            ).fetchall(),
            lambda n: [BIG_SESSION] * n,
        ),
        (
            "by_status_newest_50",
            lambda s: Run.objects.list_runs({"status": s, "limit": 50}),
            lambda s: raw.execute(
                f"{star} WHERE status = %s ORDER BY updated_at DESC, id ASC LIMIT 50", (s,)
            ).fetchall(),
            lambda n: [STATUSES[i % 3] for i in range(n)],
        ),
        (
            "resume_lookup",
            lambda r: scoria.get_run(r),
            lambda r: raw.execute(f"{star} WHERE id = %s", (raw.uid(r),)).fetchone(),
            lambda n: (run_ids * (n // max(len(run_ids), 1) + 1))[:n],
        ),
    ]
    results, notes = [], {}
    for name, ours, theirs, prepare in cases:
        mine = measure(name, ours, iterations, prepare=prepare)
        base = measure(name + "_raw", theirs, iterations, prepare=prepare)
        sql = _captured_sql(lambda ours=ours, prepare=prepare: ours(prepare(1)[0]))
        plan, uses_index = _explain(sql[0])
        results.append(
            {
                **mine.as_dict(),
                "raw_p50_ms": base.p50_ms,
                "raw_p99_ms": base.p99_ms,
                "uses_index": uses_index,
                "plan": plan,
                "sql": sql[0],
            }
        )
    client, reason = _api_client()
    if client is None:
        notes["api"] = f"skipped: {reason}"
    else:
        results.extend(_api_cases(client, sessions, run_ids, iterations))
    raw.close()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements")
            notes["server_side_prepared_statements"] = cursor.fetchone()[0]
        notes["server_side_binding"] = bool(
            settings.DATABASES["default"].get("OPTIONS", {}).get("server_side_binding")
        )
    return results, notes


def _api_cases(client, sessions, run_ids, iterations):
    paths = [
        ("api_session_list", lambda s: f"/api/scoria/sessions/{s}/runs/?page_size=50", sessions),
        ("api_big_session_list", lambda s: f"/api/scoria/sessions/{s}/runs/?page_size=50",
         [BIG_SESSION] * len(sessions)),
        ("api_runs_by_status", lambda s: f"/api/scoria/runs/?status={s}&page_size=50",
         [STATUSES[i % 3] for i in range(len(sessions))]),
        ("api_run_detail", lambda r: f"/api/scoria/runs/{r}/detail/", run_ids),
        ("api_run_summary", lambda r: f"/api/scoria/runs/{r}/", run_ids),
    ]  # fmt: skip
    results = []
    for name, path, values in paths:
        first = client.get(path(values[0]))
        if first.status_code != 200:
            results.append(
                {"name": name, "skipped": f"GET {path(values[0])} answered {first.status_code}"}
            )
            continue
        body = first.json()
        if isinstance(body, dict) and "results" in body and not body["results"]:
            results.append({"name": name, "skipped": f"GET {path(values[0])} listed no run"})
            continue

        calls = []  # (seconds, seconds inside the garbage collector) of every request

        def get(value, path=path, calls=calls):
            gc_before, started = _GC_CLOCK.seconds, time.perf_counter()
            response = client.get(path(value))
            calls.append((time.perf_counter() - started, _GC_CLOCK.seconds - gc_before))
            if response.status_code != 200:
                raise RuntimeError(f"{path(value)} answered {response.status_code}")

        cycle = (values * (iterations // max(len(values), 1) + 2))[: iterations + 3]
        with _GC_CLOCK:
            result = measure(name, get, iterations, prepare=lambda n, c=cycle: c[:n]).as_dict()
        result.update(_gc_in_the_tail(calls))
        first_path = path(values[0])
        result.update(_api_plan(lambda p=first_path: client.get(p)))
        results.append(result)
    return results


class _GcClock:
    """Seconds spent in the garbage collector while active (``gc.callbacks``)."""

    def __init__(self):
        self.seconds, self._started = 0.0, None

    def _callback(self, phase, info):
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self._started = None

    def __enter__(self):
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self._callback)


_GC_CLOCK = _GcClock()


def _gc_in_the_tail(calls):
    """How much of the slowest 1% of requests was garbage collection, next to all of them."""
    if not calls:
        return {}
    slowest = sorted(calls)[-max(len(calls) // 100, 1) :]
    return {
        "gc_ms_mean": round(sum(g for _, g in calls) / len(calls) * 1000, 3),
        "slowest_1pct_ms_mean": round(sum(w for w, _ in slowest) / len(slowest) * 1000, 2),
        "slowest_1pct_gc_ms_mean": round(sum(g for _, g in slowest) / len(slowest) * 1000, 2),
    }


def _api_plan(request):
    """EXPLAIN of the run-table query an API request sent (the list page or the lookup)."""
    runs = [
        sql
        for sql in _captured_sql(request)
        if sql.lstrip().upper().startswith("SELECT") and RUN in sql
    ]
    if not runs:
        return {}
    plan, uses_index = _explain(runs[0])
    return {"uses_index": uses_index, "plan": plan, "sql": runs[0]}
