"""Baselines in the same process and database as scoria.

* ``RawDB``: a raw psycopg / sqlite3 connection to the bench database (not Django's).
* ``raw_transition``: a guarded step transition by hand: lock the run row (``SELECT ... FOR
  UPDATE``; SQLite: ``BEGIN IMMEDIATE``), a conditional ``UPDATE`` of the step whose row count
  is checked, the event ``INSERT``, and the run's event counter, in one transaction.
* ``raw_lifecycle``: the 3-step run lifecycle in raw SQL, in the naive shape
  (start; 3 x claim + complete; complete run = 8 commits).
* ``orm_lifecycle``: the same lifecycle written the naive Django way (``select_for_update``,
  ``save()``, ``objects.create``).

All of them write the scoria tables, so indexes and constraints are the same.
"""

import datetime
import json
import sqlite3
import uuid

from django.conf import settings

RUN = "scoria_django_run"
STEP = "scoria_django_step"
EVENT = "scoria_django_event"


def handler(step_input):
    """The work a step does in every baseline: the same trivial computation as bench.handlers."""
    return {"n": step_input["n"]}


class RawDB:
    """A DB-API connection in autocommit mode, with explicit BEGIN / COMMIT."""

    def __init__(self):
        self.commits = 0
        self.statements = 0
        self.dml = 0
        if settings.BENCH_DB == "postgres":
            import psycopg

            self.kind = "postgres"
            self.conn = psycopg.connect(settings.PG_URL, autocommit=True)
            self.cur = self.conn.cursor()
            self.begin_sql, self.for_update, self.json = "BEGIN", " FOR UPDATE", "::jsonb"
        else:
            self.kind = "sqlite"
            self.conn = sqlite3.connect(settings.SQLITE_PATH, isolation_level=None, timeout=30)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.cur = self.conn.cursor()
            self.begin_sql, self.for_update, self.json = "BEGIN IMMEDIATE", "", ""

    def close(self):
        self.conn.close()

    # -- values as each driver stores them (Django's own formats on SQLite) --------------

    def uid(self, value):
        return value if self.kind == "postgres" else value.hex

    def now(self):
        now = datetime.datetime.now(datetime.UTC)
        return now if self.kind == "postgres" else now.replace(tzinfo=None).isoformat(" ")

    # -- statements ----------------------------------------------------------------------

    def execute(self, sql, params=()):
        if self.kind == "sqlite":
            sql = sql.replace("%s", "?")
        self.statements += 1
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE"):
            self.dml += 1
        self.cur.execute(sql.replace("{j}", self.json), params)
        return self.cur

    def begin(self):
        self.cur.execute(self.begin_sql)

    def commit(self):
        self.cur.execute("COMMIT")
        self.commits += 1

    def rollback(self):
        self.cur.execute("ROLLBACK")

    # -- the pieces every lifecycle uses ---------------------------------------------------

    def lock_run(self, run_id):
        row = self.execute(
            f"SELECT status, last_event_sequence, last_step_sequence FROM {RUN} WHERE id = %s"
            + self.for_update,
            (self.uid(run_id),),
        ).fetchone()
        if row is None:
            raise LookupError(run_id)
        return row

    def event(self, run_id, step_id, sequence, event_type, payload, now):
        self.execute(
            f"INSERT INTO {EVENT} (run_id, step_id, sequence, event_type, payload, created_at)"
            " VALUES (%s, %s, %s, %s, %s{j}, %s)",
            (
                self.uid(run_id),
                self.uid(step_id) if step_id else None,
                sequence,
                event_type,
                json.dumps(payload),
                now,
            ),
        )

    def insert_step(self, run_id, step_id, sequence, kind, status, step_input, now):
        self.execute(
            f"INSERT INTO {STEP} (id, run_id, sequence, kind, role_id, status, attempt, input,"
            " metadata, created_at, updated_at) VALUES"
            " (%s, %s, %s, %s, 'executor', %s, 1, %s{j}, '{}'{j}, %s, %s)",
            (self.uid(step_id), self.uid(run_id), sequence, kind, status, json.dumps(step_input))
            + (now, now),
        )


class GuardLost(Exception):
    """The conditional UPDATE matched no row: someone else moved the step first."""


def raw_transition(db, run_id, step_id):
    """Complete one running step: the guarded transaction every lifecycle verb is made of."""
    now = db.now()
    db.begin()
    try:
        _, events, _ = db.lock_run(run_id)
        updated = db.execute(
            f"UPDATE {STEP} SET status = 'completed', output = %s{{j}}, completed_at = %s,"
            " updated_at = %s WHERE id = %s AND run_id = %s AND status = 'running'",
            ('{"ok": true}', now, now, db.uid(step_id), db.uid(run_id)),
        ).rowcount
        if updated != 1:
            raise GuardLost(step_id)
        db.event(run_id, step_id, events + 1, "step_completed", {"step_status": "completed"}, now)
        db.execute(
            f"UPDATE {RUN} SET last_event_sequence = %s, updated_at = %s WHERE id = %s",
            (events + 1, now, db.uid(run_id)),
        )
    except BaseException:
        db.rollback()
        raise
    db.commit()


def raw_lifecycle(db, session_id="bench-raw"):
    """start; 3 x (claim, run the handler, complete + queue next); complete run."""
    run_id, step_id = uuid.uuid4(), uuid.uuid4()
    now = db.now()
    db.begin()
    db.execute(
        f"INSERT INTO {RUN} (id, session_id, root_role_id, kind, status, metadata, handlers,"
        " last_event_sequence, last_step_sequence, created_at, updated_at, started_at)"
        " VALUES (%s, %s, 'executor', 'agent', 'running', '{}'{j}, '{}'{j}, 2, 1, %s, %s, %s)",
        (db.uid(run_id), session_id, now, now, now),
    )
    db.insert_step(run_id, step_id, 1, "chain", "queued", {"n": 1}, now)
    db.event(run_id, None, 1, "run_started", {"run_status": "running"}, now)
    db.event(run_id, step_id, 2, "step_queued", {"step_status": "queued"}, now)
    db.commit()
    for n in (1, 2, 3):
        # claim
        now = db.now()
        db.begin()
        _, events, steps = db.lock_run(run_id)
        token = uuid.uuid4()
        claimed = db.execute(
            f"UPDATE {STEP} SET status = 'running', claim_token = %s, started_at = %s,"
            " updated_at = %s WHERE id = %s AND status = 'queued'",
            (db.uid(token), now, now, db.uid(step_id)),
        ).rowcount
        assert claimed == 1
        db.event(run_id, step_id, events + 1, "step_claimed", {"step_status": "running"}, now)
        db.execute(
            f"UPDATE {RUN} SET current_step_id = %s, last_event_sequence = %s, updated_at = %s"
            " WHERE id = %s",
            (db.uid(step_id), events + 1, now, db.uid(run_id)),
        )
        db.commit()
        output = handler({"n": n})
        # complete, and queue the next step
        now = db.now()
        db.begin()
        _, events, steps = db.lock_run(run_id)
        done = db.execute(
            f"UPDATE {STEP} SET status = 'completed', output = %s{{j}}, claim_token = NULL,"
            " completed_at = %s, updated_at = %s WHERE id = %s AND claim_token = %s",
            (json.dumps(output), now, now, db.uid(step_id), db.uid(token)),
        ).rowcount
        assert done == 1
        db.event(run_id, step_id, events + 1, "step_completed", {"step_status": "completed"}, now)
        events += 1
        if n < 3:
            step_id = uuid.uuid4()
            steps += 1
            db.insert_step(run_id, step_id, steps, "chain", "queued", {"n": n + 1}, now)
            db.event(run_id, step_id, events + 1, "step_queued", {"step_status": "queued"}, now)
            events += 1
        db.execute(
            f"UPDATE {RUN} SET last_event_sequence = %s, last_step_sequence = %s,"
            " updated_at = %s WHERE id = %s",
            (events, steps, now, db.uid(run_id)),
        )
        db.commit()
    # complete the run once no step is active
    now = db.now()
    db.begin()
    _, events, _ = db.lock_run(run_id)
    active = db.execute(
        f"SELECT 1 FROM {STEP} WHERE run_id = %s AND status IN ('queued', 'running',"
        " 'waiting_for_approval') LIMIT 1",
        (db.uid(run_id),),
    ).fetchone()
    assert active is None
    db.execute(
        f"UPDATE {RUN} SET status = 'completed', output = %s{{j}}, completed_at = %s,"
        " last_event_sequence = %s, updated_at = %s WHERE id = %s AND status = 'running'",
        (json.dumps(output), now, events + 1, now, db.uid(run_id)),
    )
    db.event(run_id, None, events + 1, "run_completed", {"run_status": "completed"}, now)
    db.commit()
    return run_id


def orm_lifecycle(session_id="bench-orm"):
    """The same lifecycle as ``raw_lifecycle``, written the naive Django ORM way."""
    from django.db import transaction
    from django.utils import timezone

    from scoria_django.models import Event, Run, Step

    def lock(run_pk):
        return Run.objects.select_for_update().get(pk=run_pk)

    def event(run, step, event_type, payload, now):
        run.last_event_sequence += 1
        Event.objects.create(
            run=run,
            step=step,
            sequence=run.last_event_sequence,
            event_type=event_type,
            payload=payload,
            created_at=now,
        )

    with transaction.atomic():
        now = timezone.now()
        run = Run.objects.create(
            session_id=session_id,
            root_role_id="executor",
            kind="agent",
            status="running",
            created_at=now,
            updated_at=now,
            started_at=now,
            last_step_sequence=1,
        )
        step = Step.objects.create(
            run=run,
            sequence=1,
            kind="chain",
            role_id="executor",
            status="queued",
            input={"n": 1},
            created_at=now,
            updated_at=now,
        )
        event(run, None, "run_started", {"run_status": "running"}, now)
        event(run, step, "step_queued", {"step_status": "queued"}, now)
        run.save()
    for n in (1, 2, 3):
        with transaction.atomic():
            now = timezone.now()
            run = lock(run.pk)
            step = Step.objects.get(pk=step.pk)
            assert step.status == "queued"
            step.status, step.claim_token = "running", uuid.uuid4()
            step.started_at = step.updated_at = now
            step.save()
            event(run, step, "step_claimed", {"step_status": "running"}, now)
            run.current_step, run.updated_at = step, now
            run.save()
        output = handler(step.input)
        with transaction.atomic():
            now = timezone.now()
            run = lock(run.pk)
            step = Step.objects.get(pk=step.pk)
            assert step.status == "running"
            step.status, step.output, step.claim_token = "completed", output, None
            step.completed_at = step.updated_at = now
            step.save()
            event(run, step, "step_completed", {"step_status": "completed"}, now)
            if n < 3:
                run.last_step_sequence += 1
                step = Step.objects.create(
                    run=run,
                    sequence=run.last_step_sequence,
                    kind="chain",
                    role_id="executor",
                    status="queued",
                    input={"n": n + 1},
                    created_at=now,
                    updated_at=now,
                )
                event(run, step, "step_queued", {"step_status": "queued"}, now)
            run.updated_at = now
            run.save()
    with transaction.atomic():
        now = timezone.now()
        run = lock(run.pk)
        assert not run.steps.filter(status__in=["queued", "running"]).exists()
        run.status, run.output, run.completed_at, run.updated_at = "completed", output, now, now
        event(run, None, "run_completed", {"run_status": "completed"}, now)
        run.save()
    return run.pk


def prepare_running_steps(count, session_id="bench-transition"):
    """``count`` runs, each with one running step, written in bulk (untimed set-up)."""
    from django.utils import timezone

    from scoria_django.models import Run, Step

    now = timezone.now()
    runs = [
        Run(
            session_id=session_id,
            root_role_id="executor",
            kind="generic",
            status="running",
            last_event_sequence=2,
            last_step_sequence=1,
            created_at=now,
            updated_at=now,
            started_at=now,
        )
        for _ in range(count)
    ]
    Run.objects.bulk_create(runs, batch_size=500)
    steps = [
        Step(
            run=run,
            sequence=1,
            kind="generic",
            role_id="executor",
            status="running",
            created_at=now,
            updated_at=now,
            started_at=now,
        )
        for run in runs
    ]
    Step.objects.bulk_create(steps, batch_size=500)
    return [(run.pk, step.pk) for run, step in zip(runs, steps, strict=True)]
