"""A database router may put scoria's tables on a database of their own.

Every transaction, lock, guarded write, event insert and on-commit wake-up of the engine
goes to the alias the router names for scoria's models; nothing lands in ``default``.
"""

import pytest
from django.contrib.auth.models import User

import scoria_django as scoria
from scoria_django.models import Event, Handoff, Run, Step
from scoria_django.runtime.recovery import recover
from tests import handlers

ROUTED = "scoria_routed"


class ScoriaRouter:
    """scoria_django's models on their own database; everything else where it was."""

    def _route(self, model, **hints):
        return ROUTED if model._meta.app_label == "scoria_django" else None

    db_for_read = db_for_write = _route

    def allow_relation(self, obj1, obj2, **hints):
        return None

    def allow_migrate(self, db, app_label, **hints):
        return None


@pytest.fixture
def routed(settings):
    settings.DATABASE_ROUTERS = ["tests.test_routing.ScoriaRouter"]


def _rows(alias):
    return {
        model.__name__: model.objects.using(alias).count() for model in (Run, Step, Event, Handoff)
    }


@pytest.mark.django_db(databases=["default", ROUTED], transaction=True)
def test_every_scoria_row_goes_to_the_routed_database(routed):
    User.objects.create(username="ops")  # the host's own tables stay on default
    chained = scoria.start_run(
        {"actor_id": "u", "session_id": "s"},
        initial_step={"kind": "chain", "role_id": "executor"},
        handlers={"chain": handlers.chain, "echo": handlers.echo},
    )
    assert chained.status == "completed"

    waiting = scoria.start_run(
        {"actor_id": "u", "session_id": "s"},
        initial_step={"kind": "approval", "role_id": "executor"},
        handlers={"approval": handlers.wait_for_approval},
    )
    assert waiting.status == "waiting_for_approval"
    assert scoria.resume_run(waiting.run_id, identity={"actor_id": "ops"}).status == "completed"

    delegated = scoria.start_handoff_run(
        {"actor_id": "u", "session_id": "s"},
        "critic",
        root_role_id="executor",
        delegated_kind="review",
        handoff_input={"task": "check"},
        projected_context={"draft_answer": "hi"},
    )
    assert scoria.cancel_run(delegated.run_id, reason="done").status == "cancelled"

    hosted = Run.objects.start("s")
    step = Step.objects.start(hosted.pk, kind="manual")
    Step.objects.complete(hosted.pk, step.pk, {"ok": True})
    Run.objects.complete(hosted.pk, {"ok": True})
    recover()

    assert [s.status for s in scoria.list_runs_for_session("s")] == [
        "completed",
        "cancelled",
        "completed",
        "completed",
    ]
    assert len(scoria.get_run_detail(chained.run_id).steps) == 3
    routed_rows = _rows(ROUTED)
    assert routed_rows["Run"] == 4 and routed_rows["Handoff"] == 1
    assert routed_rows["Event"] > 20
    assert _rows("default") == {"Run": 0, "Step": 0, "Event": 0, "Handoff": 0}
    assert User.objects.using("default").count() == 1
