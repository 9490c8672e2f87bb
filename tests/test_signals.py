"""Signals go out after the transaction that caused them commits, never on rollback."""

import pytest
from django.db import transaction

import scoria_django as scoria
from scoria_django import signals
from scoria_django.models import Run, Step
from tests import runtime_handlers

pytestmark = pytest.mark.django_db(transaction=True)
SIGNALS = (
    "run_started",
    "step_completed",
    "step_failed",
    "run_waiting_for_approval",
    "run_resumed",
    "run_finished",
)


@pytest.fixture
def received():
    runtime_handlers.reset()
    seen = []

    def receiver(signal_name):
        def receive(sender, **kwargs):
            kwargs.pop("signal")
            # Sent after commit: the run the signal names is already visible.
            assert Run.objects.filter(pk=kwargs["run_id"]).exists()
            seen.append((signal_name, sender, kwargs))

        return receive

    for name in SIGNALS:
        getattr(signals, name).connect(receiver(name), weak=False, dispatch_uid=f"t-{name}")
    yield seen
    for name in SIGNALS:
        getattr(signals, name).disconnect(dispatch_uid=f"t-{name}")


def names(seen):
    return [name for name, _, _ in seen]


def test_the_approval_flow_sends_its_signals_in_order(received):
    started = scoria.start_run(
        {"actor_id": "u", "tenant_id": "t", "session_id": "s"},
        initial_step={"kind": "approval", "role_id": "executor"},
    )
    assert names(received) == ["run_started", "run_waiting_for_approval"]
    assert received[0][1] is Run
    assert received[0][2] == {
        "run_id": started.run_id,
        "session_id": "s",
        "actor_id": "u",
        "tenant_id": "t",
    }
    assert received[1][2]["step_id"] == started.current_step_id
    assert received[1][2]["approval_request"]["tool_name"] == "send_email"

    scoria.resume_run(started.run_id, identity={"actor_id": "boss"})
    assert names(received)[2:] == ["run_resumed", "step_completed", "run_finished"]
    resumed = received[2][2]
    assert (resumed["actor_id"], resumed["mode"], resumed["step_ids"]) == (
        "boss",
        "approval",
        [started.current_step_id],
    )
    assert received[3][2]["output"] == {"approved_by": "boss", "input": None}
    assert received[4][2] == {"run_id": started.run_id, "status": "completed"}


def test_a_failure_sends_step_failed_and_run_finished(received):
    started = scoria.start_run(
        None,
        initial_step={"kind": "boom", "role_id": "x"},
        handlers={"boom": "tests.handlers.boom"},
    )
    assert names(received) == ["run_started", "step_failed", "run_finished"]
    assert received[1][2]["error"]["type"] == "builtins.ValueError"
    assert received[2][2] == {"run_id": started.run_id, "status": "failed"}
    scoria.resume_run(started.run_id)
    assert received[3][0] == "run_resumed"
    assert received[3][2]["mode"] == "retry"


def test_cancel_sends_run_finished(received):
    started = scoria.start_run(None)
    scoria.cancel_run(started.run_id)
    assert received[-1][2] == {"run_id": started.run_id, "status": "cancelled"}


def test_nothing_is_sent_when_the_transaction_rolls_back(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "x"})
        assert received == []
        raise RuntimeError("rolled back")
    assert received == []
    assert not Run.objects.filter(pk=started.run_id).exists()


def test_a_failing_receiver_does_not_break_the_run(received):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    signals.run_started.connect(broken, weak=False, dispatch_uid="broken")
    try:
        started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "x"})
    finally:
        signals.run_started.disconnect(dispatch_uid="broken")
    assert started.status == "completed"


def test_manager_verbs_send_the_same_signals_as_the_runtime(received):
    run = Run.objects.start({"session_id": "s"})
    step = Step.objects.start(run.pk, kind="manual")
    Step.objects.complete(run.pk, step.pk, {"done": True})
    failing = Step.objects.start(run.pk, kind="manual")
    Step.objects.fail(run.pk, failing.pk, {"reason": "host"})
    Run.objects.fail(run.pk, {"reason": "host"})
    assert names(received) == ["run_started", "step_completed", "step_failed", "run_finished"]
    assert received[0][2] == {
        "run_id": str(run.pk),
        "session_id": "s",
        "actor_id": None,
        "tenant_id": None,
    }
    assert received[1][2] == {
        "run_id": str(run.pk),
        "step_id": str(step.pk),
        "kind": "manual",
        "output": {"done": True},
    }
    assert received[2][2]["error"] == {"reason": "host"}
    assert received[3][2] == {"run_id": str(run.pk), "status": "failed"}

    other = Run.objects.start("s")
    Run.objects.cancel(other.pk, "stop")
    done = Run.objects.start("s")
    Run.objects.complete(done.pk)
    assert names(received)[4:] == ["run_started", "run_finished", "run_started", "run_finished"]
    assert [kwargs["status"] for name, _, kwargs in received if name == "run_finished"] == [
        "failed",
        "cancelled",
        "completed",
    ]


def test_a_manager_verb_rolled_back_sends_nothing(received):
    with pytest.raises(RuntimeError), transaction.atomic():
        Run.objects.start("s")
        raise RuntimeError("rolled back")
    assert received == []
