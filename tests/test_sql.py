"""The transition layer's ready SQL writes and reads the same rows the ORM does, on either
database."""

import datetime
import uuid

import pytest
from django.db import connection
from django.db.models.functions import Now
from django.utils import timezone

from scoria_django.models import Event, Run, Step
from scoria_django.states import RunStatus, StepStatus
from scoria_django.transitions import _sql

pytestmark = pytest.mark.django_db


class sql:  # noqa: N801 - the module's functions on the default connection
    @staticmethod
    def insert(objs):
        return _sql.insert(objs, connection)

    @staticmethod
    def fetch(model, where, **kwargs):
        return _sql.fetch(model, where, connection, **kwargs)

    @staticmethod
    def update(model, where, values):
        return _sql.update(model, where, values, connection)

    @staticmethod
    def exists(model, where):
        return _sql.exists(model, where, connection)


JSON_VALUES = [
    {"a": [1, 2.5, None, True, "é"], "nested": {"x": {}}},
    [],
    "text",
    0,
    False,
    {"unicode": "日本", "quote": "'\"\\"},
]


def _run(**fields):
    now = timezone.now()
    return Run(
        session_id="s",
        actor_id="a",
        tenant_id="t",
        status=RunStatus.RUNNING,
        created_at=now,
        updated_at=now,
        started_at=now,
        **fields,
    )


def _orm_copy(run):
    values = Run.objects.filter(pk=run.pk).values().get()
    values.pop("id")
    return values


@pytest.mark.parametrize("value", JSON_VALUES)
def test_insert_stores_json_as_the_orm_does(value):
    ours, theirs = (
        _run(input=value, metadata={"v": value}),
        _run(input=value, metadata={"v": value}),
    )
    theirs.created_at = theirs.updated_at = theirs.started_at = ours.created_at
    sql.insert([ours])
    theirs.save(force_insert=True)

    assert _orm_copy(ours) == _orm_copy(theirs)
    assert Run.objects.get(pk=ours.pk).input == value
    assert ours._state.adding is False


def test_fetch_reads_what_the_orm_reads():
    run = _run(input={"k": [1, "2"]}, metadata={"m": None}, step_timeout=1.5)
    run.save(force_insert=True)

    fetched = sql.fetch(Run, {"id": run.pk})
    expected = Run.objects.get(pk=run.pk)

    for field in Run._meta.concrete_fields:
        assert getattr(fetched, field.attname) == getattr(expected, field.attname), field.name
    assert fetched._state.adding is False
    assert sql.fetch(Run, {"id": uuid.uuid4()}) is None
    assert sql.fetch(Run, {"id": run.pk}, for_update=True).pk == run.pk


def test_update_is_conditional_and_counts_rows():
    run = _run()
    sql.insert([run])
    later = run.updated_at + datetime.timedelta(seconds=1)

    assert sql.update(Run, {"id": run.pk, "last_event_sequence": 5}, {"updated_at": later}) == 0
    assert (
        sql.update(
            Run,
            {"id": run.pk, "last_event_sequence": 0},
            {"status": RunStatus.COMPLETED, "completed_at": later, "output": {"done": [1]}},
        )
        == 1
    )
    stored = Run.objects.get(pk=run.pk)
    assert (stored.status, stored.completed_at, stored.output) == (
        "completed",
        later,
        {"done": [1]},
    )


def test_steps_events_lease_and_exists():
    run = _run()
    sql.insert([run])
    now = timezone.now()
    steps = [
        Step(run_id=run.pk, sequence=n, status=StepStatus.QUEUED, created_at=now, updated_at=now)
        for n in (1, 2)
    ]
    steps[1].status = StepStatus.RUNNING
    steps[1].lease_expires_at = _sql.DbNowPlus(30)
    sql.insert(steps)
    sql.insert(
        [
            Event(run_id=run.pk, sequence=n, event_type="e", payload={"n": n}, created_at=now)
            for n in (1, 2, 3)
        ]
    )

    leased = Step.objects.get(pk=steps[1].pk)
    db_now = Run.objects.annotate(now=Now()).values_list("now", flat=True).get(pk=run.pk)
    assert 25 <= (leased.lease_expires_at - db_now).total_seconds() <= 35
    assert [e.payload for e in Event.objects.filter(run_id=run.pk).order_by("sequence")] == [
        {"n": 1},
        {"n": 2},
        {"n": 3},
    ]
    assert sql.exists(Step, {"run_id": run.pk, "status": [StepStatus.RUNNING]})
    assert not sql.exists(Step, {"run_id": run.pk, "status": [StepStatus.COMPLETED]})
    assert sql.exists(Step, {"run_id": run.pk, "claim_token": None})
