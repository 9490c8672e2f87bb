"""start_run (docs/guide.md), its validation (nothing written on error) and its dispatch."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import transaction
from django.test import override_settings

import scoria_django as scoria
from scoria_django import signals
from scoria_django.compat import DUMMY_BACKEND, default_task_backend
from scoria_django.models import Event, Run, Step
from tests import handlers, runtime_handlers

ROOT = Path(__file__).resolve().parent.parent
DUMMY_TASKS = {"default": {"BACKEND": DUMMY_BACKEND}}
IDENTITY = {"actor_id": 42, "tenant_id": "acme", "session_id": "sess-1", "metadata": {"c": 1}}
APPROVAL_STEP = {"sequence": 1, "kind": "approval", "role_id": "executor", "status": "queued"}


@pytest.fixture(autouse=True)
def _reset():
    runtime_handlers.reset()


def nothing_written():
    return (Run.objects.count(), Step.objects.count(), Event.objects.count()) == (0, 0, 0)


def event_types(run_id):
    return [event["event_type"] for event in scoria.get_run_detail(run_id).events]


@pytest.mark.django_db(transaction=True)
def test_the_guide_start_pauses_for_approval_inline():
    started = scoria.start_run(
        scoria.identity(IDENTITY),
        root_role_id="executor",
        initial_step=APPROVAL_STEP,
        runtime={"metadata": {"payload": {"prompt": "hello"}}},
        handlers={"approval": handlers.wait_for_approval},
    )
    assert started.status == "waiting_for_approval"
    assert started.awaiting_approval is True
    assert (started.actor_id, started.tenant_id, started.session_id) == ("42", "acme", "sess-1")
    assert started.root_role_id == "executor"
    run = Run.objects.get(pk=started.run_id)
    assert run.metadata["payload"] == {"prompt": "hello"}
    assert run.metadata["identity"] == scoria.identity(IDENTITY).as_dict()
    assert run.metadata["runtime"]["model"] == "gpt-5-mini"
    assert run.handlers == {"approval": "tests.handlers.wait_for_approval"}
    step = Step.objects.get(run=run)
    assert (step.sequence, step.kind, step.role_id, step.status) == (
        1,
        "approval",
        "executor",
        "waiting_for_approval",
    )
    assert started.current_step_id == str(step.pk)
    assert step.approval_request["tool_name"] == "send_email"
    assert event_types(started.run_id) == [
        "run_started",
        "step_queued",
        "step_claimed",
        "step_waiting_for_approval",
        "run_waiting_for_approval",
        "approval_requested",
    ]


@pytest.mark.django_db(transaction=True)
def test_a_start_without_an_initial_step_is_a_running_run_without_steps():
    started = scoria.start_run({"session_id": "s"})
    assert started.status == "running"
    assert started.current_step_id is None
    assert started.root_role_id == "executor"
    assert started.kind == "agent"
    assert started.started_at is not None
    assert Step.objects.count() == 0
    assert event_types(started.run_id) == ["run_started"]


@pytest.mark.django_db(transaction=True)
def test_the_nested_runtime_value_wins():
    started = scoria.start_run(
        None,
        root_role_id="planner",
        timeout=1,
        metadata={"channel": "web", "shared": "top"},
        handlers={"echo": "tests.handlers.failing"},
        runtime={
            "root_role_id": "executor",
            "timeout": 9,
            "metadata": {"shared": "nested"},
            "handlers": {"echo": handlers.echo},
            "initial_step": {"kind": "echo", "role_id": "executor", "input": {"q": 1}},
        },
    )
    run = Run.objects.get(pk=started.run_id)
    assert started.root_role_id == "executor"
    assert run.step_timeout == 9
    assert run.metadata["channel"] == "web"
    assert run.metadata["shared"] == "nested"
    assert run.handlers == {"echo": "tests.handlers.echo"}
    assert started.status == "completed"
    assert run.output == {"echo": {"q": 1}, "payload": None}


@pytest.mark.django_db(transaction=True)
def test_runtime_accepts_the_keyword_list_form():
    started = scoria.start_run(None, runtime=[("root_role_id", "critic")])
    assert started.root_role_id == "critic"


@pytest.mark.django_db(transaction=True)
def test_metadata_composition():
    ident = scoria.identity(actor_id="u")
    by_payload = Run.objects.get(
        pk=scoria.start_run(ident, metadata={"a": 1}, payload={"p": 1}, input={"i": 1}).run_id
    )
    assert by_payload.metadata["a"] == 1
    assert by_payload.metadata["payload"] == {"p": 1}
    assert by_payload.input == {"i": 1}
    assert set(by_payload.metadata) == {"a", "payload", "identity", "runtime"}

    by_input = Run.objects.get(pk=scoria.start_run(ident, input={"i": 2}).run_id)
    assert by_input.metadata["payload"] == {"i": 2}

    kept = Run.objects.get(
        pk=scoria.start_run(ident, metadata={"payload": {"m": 1}}, input={"i": 3}).run_id
    )
    assert kept.metadata["payload"] == {"m": 1}

    plain = Run.objects.get(pk=scoria.start_run(ident).run_id)
    assert set(plain.metadata) == {"identity", "runtime"}
    assert plain.input is None


@pytest.mark.django_db(transaction=True)
def test_the_identity_and_runtime_keys_cannot_be_forged_through_metadata():
    run = Run.objects.get(
        pk=scoria.start_run(
            {"actor_id": "real"}, metadata={"identity": {"actor_id": "forged"}, "runtime": {}}
        ).run_id
    )
    assert run.metadata["identity"]["actor_id"] == "real"
    assert run.metadata["runtime"]["provider"] == "openai"


@pytest.mark.django_db(transaction=True)
def test_the_first_step_works_on_the_run_input_unless_it_has_its_own():
    started = scoria.start_run(
        None,
        input={"question": "why"},
        initial_step={"kind": "echo", "role_id": "executor"},
    )
    assert Run.objects.get(pk=started.run_id).output["echo"] == {"question": "why"}
    own = scoria.start_run(
        None,
        input={"question": "why"},
        initial_step={"kind": "echo", "role_id": "executor", "input": None},
    )
    assert Run.objects.get(pk=own.run_id).output["echo"] is None


@pytest.mark.django_db  # rejected before any write: no commit needed
@pytest.mark.parametrize(
    ("initial_step", "field"),
    [
        ({"role_id": "executor"}, "initial_step.kind"),
        ({"kind": "echo"}, "initial_step.role_id"),
        ({"kind": "  ", "role_id": "executor"}, "initial_step.kind"),
        ({"kind": "echo", "role_id": ""}, "initial_step.role_id"),
        ({"kind": 3, "role_id": "executor"}, "initial_step.kind"),
        ({"kind": "k" * 101, "role_id": "executor"}, "initial_step.kind"),
        ({"kind": "echo", "role_id": "r" * 256}, "initial_step.role_id"),
        ({"kind": "echo", "role_id": "x", "status": "running"}, "initial_step.status"),
        ({"kind": "echo", "role_id": "x", "sequence": 2}, "initial_step.sequence"),
        ({"kind": "echo", "role_id": "x", "sequence": "1"}, "initial_step.sequence"),
        ({"kind": "echo", "role_id": "x", "priority": 1}, "initial_step.priority"),
        ({"kind": "echo", "role_id": "x", "input": {"bad": float("nan")}}, "initial_step"),
        ("echo", "initial_step"),
    ],
)
def test_an_invalid_initial_step_writes_nothing(initial_step, field):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run(None, initial_step=initial_step)
    expected = "invalid_payload" if "input" in str(initial_step) else "invalid_initial_step"
    assert caught.value.code == expected
    assert caught.value.field == field
    assert nothing_written()


@pytest.mark.django_db  # rejected before any write: no commit needed
@pytest.mark.parametrize("role", ["", "   ", None, 5, "r" * 256])
def test_a_blank_root_role_id_is_invalid(role):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run(None, root_role_id=role)
    assert (caught.value.code, caught.value.field) == ("invalid_root_role_id", "root_role_id")
    assert nothing_written()


def _closure():
    def handler(ctx):
        return {}

    return handler


@pytest.mark.django_db  # rejected before any write: no commit needed
@pytest.mark.parametrize(
    "handler",
    [
        "tests.handlers.does_not_exist",
        "no_such_module.handler",
        lambda ctx: {},
        _closure(),
        42,
    ],
)
def test_a_handler_that_does_not_import_is_rejected_before_any_write(handler):
    with pytest.raises(scoria.ScoriaConfigurationError) as caught:
        scoria.start_run(
            None,
            initial_step={"kind": "approval", "role_id": "executor"},
            handlers={"approval": handler},
        )
    assert caught.value.code == "handler_not_found"
    assert caught.value.field == "handlers.approval"
    assert nothing_written()


@pytest.mark.django_db  # rejected before any write: no commit needed
@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"runtime": {"colour": "red"}}, "runtime.colour"),
        ({"runtime": "fast"}, "runtime"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": True}, "timeout"),
        ({"metadata": ["a"]}, "metadata"),
        ({"handlers": ["a"]}, "handlers"),
        ({"handlers": {"": "tests.handlers.echo"}}, "handlers"),
    ],
)
def test_invalid_options_write_nothing(options, field):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run(None, **options)
    assert caught.value.code == "invalid_option"
    assert caught.value.field == field
    assert nothing_written()


@pytest.mark.django_db  # rejected before any write: no commit needed
def test_an_invalid_identity_writes_nothing():
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.start_run({"actor_id": "x" * 300})
    assert caught.value.code == "invalid_identity"
    assert nothing_written()


@pytest.mark.django_db(transaction=True)
def test_without_handlers_the_setting_is_used_and_nothing_is_stored():
    started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "executor"})
    assert started.status == "completed"
    assert Run.objects.get(pk=started.run_id).handlers == {}
    key = f"{started.run_id}:{started.current_step_id}"
    calls = list(handlers.CALLS)
    assert calls == [("echo", key)]


@pytest.mark.django_db(transaction=True)
def test_a_step_without_any_handler_stays_queued_for_the_host():
    with override_settings(TASKS=DUMMY_TASKS):
        started = scoria.start_run(None, initial_step={"kind": "manual", "role_id": "host"})
        assert default_task_backend.results == []
    assert started.status == "running"
    assert Step.objects.get().status == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_queued_step_is_enqueued_once_after_commit_and_any_worker_can_run_it():
    with override_settings(TASKS=DUMMY_TASKS):
        started = scoria.start_run(
            None,
            initial_step={"kind": "probe", "role_id": "executor"},
            handlers={"probe": runtime_handlers.probe},
        )
        results = list(default_task_backend.results)
    assert started.status == "running"
    assert len(results) == 1
    assert results[0].task.name == "execute_step"
    assert results[0].args == [started.run_id, started.current_step_id]
    results[0].task.call(*results[0].args)
    assert scoria.get_run(started.run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_start_writes_nothing_enqueues_nothing_and_signals_nothing():
    received = []
    signals.run_started.connect(lambda **kw: received.append(kw), weak=False, dispatch_uid="t1")
    try:
        with override_settings(TASKS=DUMMY_TASKS):
            with pytest.raises(RuntimeError), transaction.atomic():
                scoria.start_run(None, initial_step={"kind": "echo", "role_id": "executor"})
                assert Run.objects.count() == 1  # visible inside the transaction
                raise RuntimeError("the request failed")
            assert default_task_backend.results == []
    finally:
        signals.run_started.disconnect(dispatch_uid="t1")
    assert nothing_written()
    assert received == []
    assert handlers.CALLS == []


@pytest.mark.django_db(transaction=True)
def test_inside_an_outer_transaction_the_step_runs_when_it_commits():
    with transaction.atomic():
        started = scoria.start_run(None, initial_step={"kind": "echo", "role_id": "executor"})
        assert started.status == "running"
        assert handlers.CALLS == []
    assert scoria.get_run(started.run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_each_start_is_a_fresh_run_in_the_same_session():
    ident = scoria.identity(actor_id="u", session_id="conversation")
    first = scoria.start_run(ident)
    second = scoria.start_run(ident)
    assert first.run_id != second.run_id
    assert first.session_id == second.session_id == "conversation"
    listed = scoria.list_runs_for_session("conversation")
    assert [run.run_id for run in listed] == [second.run_id, first.run_id]
    assert [run.run_id for run in scoria.list_runs_for_session("conversation", limit=1)] == [
        second.run_id
    ]


@pytest.mark.django_db(transaction=True)
def test_a_session_list_holds_the_same_summaries_get_run_returns():
    ident = scoria.identity(actor_id="u", session_id="same-summaries", tenant_id="t")
    done = scoria.start_run(ident, initial_step={"kind": "echo", "role_id": "executor"})
    waiting = scoria.start_run(ident, initial_step={"kind": "approval", "role_id": "executor"})
    listed = scoria.list_runs_for_session("same-summaries")
    assert listed == [scoria.get_run(waiting.run_id), scoria.get_run(done.run_id)]
    assert [run.status for run in listed] == ["waiting_for_approval", "completed"]


def test_importing_the_facade_loads_no_models_and_needs_no_settings():
    code = (
        "import sys, scoria_django as scoria\n"
        "names = [scoria.identity, scoria.Identity, scoria.complete, scoria.wait_for_approval,"
        " scoria.fail, scoria.handoff, scoria.ScoriaError]\n"
        "assert scoria.identity(actor_id=1).actor_id == '1'\n"
        "assert 'scoria_django.models' not in sys.modules, 'models imported'\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.django_db
@pytest.mark.parametrize("runtime", [["a"], [("a", 1, 2)], [1, 2]])
def test_a_runtime_list_that_is_not_pairs_is_invalid_option(runtime):
    with pytest.raises(scoria.ScoriaValidationError) as raised:
        scoria.start_run({"session_id": "s-bad-runtime"}, runtime=runtime)

    assert raised.value.code == "invalid_option"
    assert raised.value.field == "runtime"
    assert scoria.list_runs_for_session("s-bad-runtime") == []
