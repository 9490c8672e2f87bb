"""resume_run and cancel_run, and the guide's flow end to end."""

import uuid

import pytest

import scoria_django as scoria
from scoria_django.models import Run, Step
from tests import handlers, runtime_handlers

pytestmark = pytest.mark.django_db(transaction=True)
APPROVAL_STEP = {"sequence": 1, "kind": "approval", "role_id": "executor", "status": "queued"}


@pytest.fixture(autouse=True)
def _reset():
    runtime_handlers.reset()


def event_types(run_id):
    return [event["event_type"] for event in scoria.get_run_detail(run_id).events]


def test_the_guide_end_to_end():
    ident = scoria.identity(
        {"actor_id": 7, "tenant_id": "acme", "session_id": "conv-1", "metadata": {"channel": "web"}}
    )
    started = scoria.start_run(
        ident,
        root_role_id="executor",
        initial_step=APPROVAL_STEP,
        runtime={"metadata": {"payload": {"prompt": "Summarise the contract"}}},
        handlers={"approval": "tests.handlers.wait_for_approval"},
    )
    assert started.status == "waiting_for_approval"
    assert started.awaiting_approval is True
    run_id, step_id = started.run_id, started.current_step_id

    assert scoria.get_run(run_id) == started
    assert [run.run_id for run in scoria.list_runs_for_session("conv-1")] == [run_id]

    resumed = scoria.resume_run(
        run_id, handlers={"approval": "tests.handlers.succeed"}, identity=ident
    )
    assert resumed.run_id == run_id
    assert resumed.status == "completed"
    assert resumed.awaiting_approval is False
    assert resumed.current_step_id == step_id
    detail = scoria.get_run_detail(run_id)
    assert [step["id"] for step in detail.steps] == [step_id]
    assert detail.steps[0]["output"] == {"result": "ok"}
    assert [event["event_type"] for event in detail.events] == [
        "run_started",
        "step_queued",
        "step_claimed",
        "step_waiting_for_approval",
        "run_waiting_for_approval",
        "approval_requested",
        "approval_decided",
        "resume_requested",
        "step_claimed",
        "step_completed",
        "run_completed",
    ]
    assert [event["sequence"] for event in detail.events] == list(range(1, 12))
    resume_event = detail.events[7]
    assert resume_event["actor_id"] == "7"
    assert resume_event["step_id"] == step_id

    next_turn = scoria.start_run(
        scoria.identity(actor_id=7, tenant_id="acme", session_id="conv-1"),
        root_role_id="executor",
    )
    assert next_turn.session_id == "conv-1"
    assert next_turn.run_id != run_id
    assert [run.run_id for run in scoria.list_runs_for_session("conv-1")] == [
        next_turn.run_id,
        run_id,
    ]
    assert Run.objects.count() == 2


def test_an_approval_resume_reruns_the_same_step_with_the_approver():
    started = scoria.start_run(
        None,
        initial_step={"kind": "gate", "role_id": "executor"},
        handlers={"gate": runtime_handlers.approve_then_probe},
    )
    resumed = scoria.resume_run(
        started.run_id, identity={"actor_id": "boss"}, input={"note": "go ahead"}
    )
    assert resumed.status == "completed"
    step = Step.objects.get(run_id=started.run_id)
    assert str(step.pk) == started.current_step_id
    assert step.attempt == 1
    seen = runtime_handlers.SEEN[0]
    # An approval's decision, with the approver and the input as before.
    assert seen["approval"]["decision"] == "approved"
    assert (seen["approval"]["approved_by"], seen["approval"]["input"]) == (
        "boss",
        {"note": "go ahead"},
    )
    assert seen["resume_input"] == {"note": "go ahead"}
    resume = next(
        event
        for event in scoria.get_run_detail(started.run_id).events
        if event["event_type"] == "resume_requested"
    )
    assert resume["actor_id"] == "boss"
    assert resume["payload"]["input"] == {"note": "go ahead"}
    assert resume["payload"]["mode"] == "approval"


def test_the_stored_handler_sees_its_approval_and_completes():
    started = scoria.start_run(None, initial_step=APPROVAL_STEP)  # SCORIA_HANDLERS
    resumed = scoria.resume_run(started.run_id, identity={"actor_id": "ops"}, input="yes")
    assert resumed.status == "completed"
    assert Run.objects.get(pk=started.run_id).output == {"approved_by": "ops", "input": "yes"}


def test_per_call_handlers_override_the_stored_ones_and_are_kept():
    started = scoria.start_run(
        None, initial_step=APPROVAL_STEP, handlers={"approval": handlers.wait_for_approval}
    )
    scoria.resume_run(started.run_id, handlers={"approval": handlers.succeed})
    assert Run.objects.get(pk=started.run_id).handlers == {"approval": "tests.handlers.succeed"}
    assert handlers.CALLS[-1][0] == "succeed"


def test_retry_increments_the_attempt_and_never_reruns_completed_steps():
    started = scoria.start_run(
        None,
        initial_step={
            "kind": "scripted",
            "role_id": "executor",
            "input": {"script": ["fail", "ok"]},
        },
        handlers={"scripted": runtime_handlers.scripted},
    )
    assert started.status == "failed"
    step = Step.objects.get(run_id=started.run_id)
    assert (step.attempt, step.error) == (1, {"reason": "scripted_failure"})

    resumed = scoria.resume_run(started.run_id, identity={"actor_id": "ops"})
    assert resumed.run_id == started.run_id
    assert resumed.status == "completed"
    step.refresh_from_db()
    assert (step.attempt, step.status, step.error) == (2, "completed", None)
    run = Run.objects.get(pk=started.run_id)
    assert (run.error, run.completed_at is not None) == (None, True)
    types = event_types(started.run_id)
    assert types[types.index("run_failed") + 1] == "retry_requested"
    assert Run.objects.count() == 1


def test_retry_keeps_an_approval_already_given():
    started = scoria.start_run(
        None,
        initial_step={"kind": "gate", "role_id": "executor"},
        handlers={"gate": runtime_handlers.fail_once_then_probe},
    )
    assert scoria.resume_run(started.run_id, identity={"actor_id": "boss"}).status == "failed"
    assert scoria.resume_run(started.run_id, identity={"actor_id": "ops"}).status == "completed"
    seen = runtime_handlers.SEEN[0]
    assert (seen["approval"]["approved_by"], seen["approval"]["input"]) == ("boss", None)
    assert seen["attempt"] == 2


def test_a_retry_reruns_the_steps_the_cascade_failed_but_not_the_completed_ones():
    started = scoria.start_run(
        None,
        initial_step={"kind": "fan", "role_id": "planner"},
        handlers={"fan": runtime_handlers.fan_out, "counting": handlers.boom},
    )
    assert started.status == "failed"
    resumed = scoria.resume_run(started.run_id, handlers={"counting": runtime_handlers.counting})
    assert resumed.status == "completed"
    steps = {s.sequence: s for s in Step.objects.filter(run_id=started.run_id)}
    assert (steps[1].status, steps[1].attempt) == ("completed", 1)
    assert {steps[n].attempt for n in (2, 3, 4)} == {2}
    assert {steps[n].status for n in (2, 3, 4)} == {"completed"}
    assert event_types(started.run_id).count("retry_requested") == 3


@pytest.mark.parametrize("status", ["running", "completed", "cancelled"])
def test_other_statuses_are_not_resumable(status):
    if status == "running":
        started = scoria.start_run(None)
    elif status == "completed":
        started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "x"})
    else:
        started = scoria.cancel_run(scoria.start_run(None).run_id)
    assert started.status == status
    before = event_types(started.run_id)
    with pytest.raises(scoria.ScoriaConflict) as caught:
        scoria.resume_run(started.run_id)
    assert caught.value.code == "not_resumable"
    assert event_types(started.run_id) == before


@pytest.mark.django_db  # nothing to commit
@pytest.mark.parametrize("run_id", [None, "", "   ", "not-a-uuid", 42, "1234"])
def test_a_malformed_run_id_is_invalid_run_id(run_id):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.resume_run(run_id)
    assert (caught.value.code, caught.value.field) == ("invalid_run_id", "run_id")
    with pytest.raises(scoria.ScoriaValidationError):
        scoria.cancel_run(run_id)


@pytest.mark.django_db  # nothing to commit
def test_an_unknown_run_is_not_found():
    with pytest.raises(scoria.ScoriaNotFound) as caught:
        scoria.resume_run(str(uuid.uuid4()))
    assert caught.value.code == "not_found"
    with pytest.raises(scoria.ScoriaNotFound):
        scoria.cancel_run(uuid.uuid4())


def test_a_resume_with_a_bad_handler_or_input_changes_nothing():
    started = scoria.start_run(None, initial_step=APPROVAL_STEP)
    before = event_types(started.run_id)
    with pytest.raises(scoria.ScoriaConfigurationError) as caught:
        scoria.resume_run(started.run_id, handlers={"approval": "tests.handlers.nope"})
    assert caught.value.code == "handler_not_found"
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.resume_run(started.run_id, input={"x": float("nan")})
    assert caught.value.code == "invalid_payload"
    assert event_types(started.run_id) == before
    assert scoria.get_run(started.run_id).status == "waiting_for_approval"


@pytest.mark.django_db  # nothing to commit
def test_reads_never_raise_on_a_malformed_id():
    for run_id in (None, "", "nope", 3):
        with pytest.raises(scoria.ScoriaNotFound):
            scoria.get_run(run_id)
        with pytest.raises(scoria.ScoriaNotFound):
            scoria.get_run_detail(run_id)
    assert scoria.list_runs_for_session("") == []
    assert scoria.list_runs_for_session(None) == []
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.list_runs_for_session("s", limit=0)
    assert (caught.value.code, caught.value.field) == ("invalid_filter", "limit")


def test_get_run_detail_without_handoffs():
    started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "executor"})
    detail = scoria.get_run_detail(started.run_id)
    assert detail.summary == scoria.get_run(started.run_id)
    assert detail.handoffs == [] and detail.delegated_handoffs == []
    step = detail.steps[0]
    for key in (
        "id", "sequence", "kind", "role_id", "status", "parent_step_id", "attempt", "input",
        "handoff_input", "projected_context", "output", "error", "approval_request",
        "started_at", "completed_at",
    ):  # fmt: skip
        assert key in step


# -- cancel ------------------------------------------------------------------------


def test_cancel_cascades_to_every_unfinished_step():
    started = scoria.start_run(
        None,
        initial_step={"kind": "fan", "role_id": "planner"},
        handlers={"fan": runtime_handlers.fan_out},  # its children have no handler
    )
    assert started.status == "running"
    cancelled = scoria.cancel_run(started.run_id, reason={"by": "ops"}, identity={"actor_id": "o"})
    assert cancelled.status == "cancelled"
    assert cancelled.completed_at is not None
    steps = {s.sequence: s for s in Step.objects.filter(run_id=started.run_id)}
    assert steps[1].status == "completed"
    assert {steps[n].status for n in (2, 3, 4)} == {"cancelled"}
    assert {steps[n].cancel_reason["by"] for n in (2, 3, 4)} == {"ops"}
    run = Run.objects.get(pk=started.run_id)
    assert run.cancel_reason == {"by": "ops"}
    last = scoria.get_run_detail(started.run_id).events[-1]
    assert (last["event_type"], last["actor_id"]) == ("run_cancelled", "o")


def test_a_waiting_run_can_be_cancelled_and_then_never_resumed():
    started = scoria.start_run(None, initial_step=APPROVAL_STEP)
    scoria.cancel_run(started.run_id)
    assert Step.objects.get(run_id=started.run_id).status == "cancelled"
    with pytest.raises(scoria.ScoriaConflict) as caught:
        scoria.resume_run(started.run_id)
    assert caught.value.code == "not_resumable"


def test_a_terminal_run_cannot_be_cancelled():
    started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "x"})
    with pytest.raises(scoria.ScoriaConflict) as caught:
        scoria.cancel_run(started.run_id)
    assert caught.value.code == "invalid_status_transition"
    assert scoria.get_run(started.run_id).status == "completed"


def test_a_failed_run_without_a_failed_step_is_not_resumable():
    """A host-failed run with no step to retry would otherwise sit in running for ever."""
    run = Run.objects.start("s-nothing-to-retry")
    Run.objects.fail(run.pk, {"reason": "host gave up"})

    with pytest.raises(scoria.ScoriaConflict) as raised:
        scoria.resume_run(run.pk)

    assert raised.value.code == "not_resumable"
    assert scoria.get_run(run.pk).status == "failed"
    assert not Run.objects.get(pk=run.pk).events.filter(event_type="retry_requested").exists()


@pytest.mark.parametrize("verb", ["resume", "cancel"])
def test_a_session_id_passed_as_a_run_id_says_so(verb):
    session_id = str(uuid.uuid4())
    ident = scoria.identity(actor_id="u-1", session_id=session_id)
    scoria.start_run(ident, root_role_id="executor")

    with pytest.raises(scoria.ScoriaNotFound) as caught:
        if verb == "resume":
            scoria.resume_run(session_id, identity=ident)
        else:
            scoria.cancel_run(session_id)

    assert caught.value.code == "not_found"
    assert caught.value.field == "run_id"
    assert caught.value.detail.startswith(
        f"{session_id} looks like a session id, not a run id: pass the run_id"
    )


def test_an_unknown_run_id_is_plainly_not_found():
    run_id = str(uuid.uuid4())
    with pytest.raises(scoria.ScoriaNotFound) as caught:
        scoria.resume_run(run_id)
    assert caught.value.detail == f"run {run_id} does not exist"
