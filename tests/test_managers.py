"""The lifecycle verbs (docs/lifecycle.md): every error code, every rule a host relies on."""

import datetime
import uuid
from contextlib import contextmanager

import pytest
from django.utils import timezone

from scoria_django.exceptions import (
    ActiveSteps,
    AlreadyExists,
    EventImmutable,
    InconsistentParentScope,
    InvalidFilter,
    InvalidRunOpt,
    InvalidScope,
    InvalidStatusTransition,
    InvalidStepOpt,
    NotFound,
    ParentRunNotFound,
    RunNotActive,
    SessionIdRequiredForThread,
    UnsupportedFilter,
    UnsupportedRunOpt,
    UnsupportedScopeKey,
    UnsupportedStepOpt,
)
from scoria_django.models import Event, Run, Step
from scoria_django.states import RunStatus, StepStatus
from tests.factories import RunFactory, StepFactory

pytestmark = pytest.mark.django_db

PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)


def _tables():
    return (
        list(Run.objects.order_by("id").values()),
        list(Step.objects.order_by("id").values()),
        list(Event.objects.order_by("id").values()),
    )


@contextmanager
def nothing_written():
    """Assert that the block leaves every row of every table exactly as it was."""
    before = _tables()
    yield
    assert _tables() == before


def _event_types(run):
    return list(
        Event.objects.filter(run=run).order_by("sequence").values_list("event_type", flat=True)
    )


def _age(run):
    """Push the run's updated_at into the past, so a bump is visible without timing."""
    Run.objects.filter(pk=run.pk).update(updated_at=PAST)


def _reject(error_class, call, *args, **kwargs):
    with nothing_written(), pytest.raises(error_class) as caught:
        call(*args, **kwargs)
    assert caught.value.code == error_class.code
    return caught.value


def _terminal_run(status):
    run = Run.objects.start("s")
    verb = {
        RunStatus.COMPLETED: lambda: Run.objects.complete(run.pk, {"ok": True}),
        RunStatus.FAILED: lambda: Run.objects.fail(run.pk, {"reason": "x"}),
        RunStatus.CANCELLED: lambda: Run.objects.cancel(run.pk, "stop"),
    }[status]
    verb()
    return Run.objects.get(pk=run.pk)


TERMINAL = [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED]


# -- Run.objects.start ----------------------------------------------------------


def test_start_creates_a_running_run_with_its_first_event():
    run = Run.objects.start("session-1", kind="workflow", input={"goal": "ship"}, metadata={"a": 1})
    stored = Run.objects.get(pk=run.pk)
    assert stored.status == RunStatus.RUNNING
    assert (stored.session_id, stored.thread_id, stored.parent_run_id) == ("session-1", None, None)
    assert (stored.kind, stored.input, stored.metadata) == ("workflow", {"goal": "ship"}, {"a": 1})
    assert stored.started_at is not None
    assert stored.completed_at is None
    assert stored.created_at == stored.updated_at
    event = Event.objects.get(run=run)
    assert (event.sequence, event.event_type) == (1, "run_started")
    assert event.payload == {"run_status": "running", "kind": "workflow"}


def test_start_defaults():
    run = Run.objects.start()
    assert (run.session_id, run.thread_id, run.kind, run.metadata) == (None, None, "generic", {})
    assert run.input is None


def test_start_accepts_a_scope_dict_and_explicit_run_id_as_uuid_or_string():
    run_id = uuid.uuid4()
    run = Run.objects.start({"session_id": "s", "thread_id": "t"}, run_id=run_id)
    assert (run.pk, run.session_id, run.thread_id) == (run_id, "s", "t")
    other = uuid.uuid4()
    assert Run.objects.start("s", run_id=str(other)).pk == other


def test_unsupported_scope_key():
    error = _reject(UnsupportedScopeKey, Run.objects.start, {"session_id": "s", "tenant_id": "t"})
    assert error.field == "tenant_id"


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"session_id": ""}, "session_id"),
        ({"session_id": "   "}, "session_id"),
        ({"session_id": 42}, "session_id"),
        ({"session_id": "x" * 256}, "session_id"),
        ({"session_id": "s", "thread_id": ""}, "thread_id"),
        ({"parent_run_id": "not-a-uuid"}, "parent_run_id"),
        ({"parent_run_id": 7}, "parent_run_id"),
        ("", "session_id"),
        (42, "scope"),
        (["s"], "scope"),
    ],
)
def test_invalid_scope_names_the_field(scope, field):
    assert _reject(InvalidScope, Run.objects.start, scope).field == field


def test_a_thread_needs_a_session():
    _reject(SessionIdRequiredForThread, Run.objects.start, {"thread_id": "t"})


def test_parent_run_not_found():
    error = _reject(ParentRunNotFound, Run.objects.start, {"parent_run_id": str(uuid.uuid4())})
    assert error.field == "parent_run_id"


def test_child_inherits_the_parents_session_and_thread():
    parent = Run.objects.start({"session_id": "s", "thread_id": "t"})
    child = Run.objects.start({"parent_run_id": str(parent.pk)})
    assert (child.session_id, child.thread_id, child.parent_run_id) == ("s", "t", parent.pk)
    same = Run.objects.start({"parent_run_id": parent.pk, "session_id": "s", "thread_id": "t"})
    assert same.parent_run_id == parent.pk
    assert list(Run.objects.list_runs({"parent_run_id": parent.pk})) == sorted(
        [child, same], key=lambda run: (-run.updated_at.timestamp(), str(run.pk))
    )


@pytest.mark.parametrize(
    ("scope", "field"),
    [
        ({"session_id": "other"}, "session_id"),
        ({"thread_id": "other"}, "thread_id"),
    ],
)
def test_inconsistent_parent_scope(scope, field):
    parent = Run.objects.start({"session_id": "s", "thread_id": "t"})
    error = _reject(
        InconsistentParentScope, Run.objects.start, {"parent_run_id": parent.pk, **scope}
    )
    assert error.field == field


def test_a_thread_under_a_parent_without_one_is_inconsistent():
    parent = Run.objects.start("s")
    _reject(
        InconsistentParentScope, Run.objects.start, {"parent_run_id": parent.pk, "thread_id": "t"}
    )


@pytest.mark.parametrize("status", TERMINAL)
def test_a_child_may_start_under_a_terminal_parent(status):
    parent = _terminal_run(status)
    child = Run.objects.start({"parent_run_id": parent.pk})
    assert child.status == RunStatus.RUNNING
    assert child.session_id == "s"


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        ({"run_id": "not-a-uuid"}, "run_id"),
        ({"run_id": 12}, "run_id"),
        ({"kind": ""}, "kind"),
        ({"kind": "  "}, "kind"),
        ({"kind": 5}, "kind"),
        ({"kind": None}, "kind"),
        ({"kind": "k" * 101}, "kind"),
        ({"metadata": []}, "metadata"),
        ({"metadata": "note"}, "metadata"),
        ({"metadata": 0}, "metadata"),
    ],
)
def test_invalid_run_opt(opts, field):
    assert _reject(InvalidRunOpt, Run.objects.start, "s", **opts).field == field


def test_unsupported_run_opt():
    assert _reject(UnsupportedRunOpt, Run.objects.start, "s", tenant_id="t").field == "tenant_id"


def test_a_run_id_is_taken_once():
    run_id = uuid.uuid4()
    first = Run.objects.start("s", run_id=run_id, kind="first")
    error = _reject(AlreadyExists, Run.objects.start, "other", run_id=str(run_id), kind="second")
    assert error.field == "run_id"
    assert Run.objects.get(pk=run_id).kind == first.kind == "first"


# -- Run.objects.complete / fail / cancel --------------------------------------


def test_complete_a_run():
    run = Run.objects.start("s")
    _age(run)
    done = Run.objects.complete(run.pk, {"summary": "done"})
    stored = Run.objects.get(pk=run.pk)
    assert stored.status == done.status == RunStatus.COMPLETED
    assert stored.output == {"summary": "done"}
    assert (stored.error, stored.cancel_reason) == (None, None)
    assert stored.completed_at is not None
    assert stored.updated_at > PAST
    assert _event_types(run) == ["run_started", "run_completed"]


@pytest.mark.parametrize("run_id", [uuid.uuid4(), "not-a-uuid", None, 42])
@pytest.mark.parametrize("verb", ["complete", "fail", "cancel"])
def test_run_verbs_on_an_unknown_run(run_id, verb):
    args = {"complete": (), "fail": ({"reason": "x"},), "cancel": ()}[verb]
    _reject(NotFound, getattr(Run.objects, verb), run_id, *args)


def test_complete_refuses_a_run_with_active_steps():
    run = Run.objects.start("s")
    Step.objects.start(run.pk)
    _reject(ActiveSteps, Run.objects.complete, run.pk, {"summary": "early"})


def test_complete_after_every_step_finished():
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    Step.objects.complete(run.pk, step.pk, {"ok": True})
    assert Run.objects.complete(run.pk).status == RunStatus.COMPLETED


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize(
    ("verb", "target", "args"),
    [
        ("complete", RunStatus.COMPLETED, ()),
        ("fail", RunStatus.FAILED, ({"reason": "again"},)),
        ("cancel", RunStatus.CANCELLED, ("again",)),
    ],
)
def test_terminal_runs_absorb(status, verb, target, args):
    run = _terminal_run(status)
    error = _reject(InvalidStatusTransition, getattr(Run.objects, verb), run.pk, *args)
    assert (error.current, error.target) == (status, target)


@pytest.mark.parametrize(
    ("verb", "arg", "status", "field"),
    [
        ("fail", {"reason": "broken"}, StepStatus.FAILED, "error"),
        ("cancel", {"by": "operator"}, StepStatus.CANCELLED, "cancel_reason"),
    ],
)
def test_fail_and_cancel_cascade_to_every_unfinished_step(verb, arg, status, field):
    run = Run.objects.start("s")
    finished = Step.objects.start(run.pk, kind="done")
    Step.objects.complete(run.pk, finished.pk, {"ok": True})
    running = Step.objects.start(run.pk, kind="running")
    queued = StepFactory(run=Run.objects.get(pk=run.pk), status=StepStatus.QUEUED)
    waiting = StepFactory(run=queued.run, status=StepStatus.WAITING_FOR_APPROVAL)
    child = Run.objects.start({"parent_run_id": run.pk})
    child_step = Step.objects.start(child.pk)

    result = getattr(Run.objects, verb)(run.pk, arg)

    assert result.status == status
    assert getattr(result, field) == arg
    for step in (running, queued, waiting):
        step.refresh_from_db()
        assert step.status == status
        assert getattr(step, field) == arg
        # Same transaction, same clock reading as the run itself.
        assert step.completed_at == result.completed_at
    finished.refresh_from_db()
    assert (finished.status, finished.output, finished.error) == ("completed", {"ok": True}, None)
    # Child runs and their steps are not touched.
    assert Run.objects.get(pk=child.pk).status == RunStatus.RUNNING
    assert Step.objects.get(pk=child_step.pk).status == StepStatus.RUNNING
    cascaded = Event.objects.filter(run=run, payload__cascaded=True)
    assert {event.step_id for event in cascaded} == {running.pk, queued.pk, waiting.pk}
    assert {event.event_type for event in cascaded} == {f"step_{status}"}
    assert _event_types(run)[-1] == f"run_{status}"


def test_cancel_without_a_reason():
    run = Run.objects.start("s")
    cancelled = Run.objects.cancel(run.pk)
    assert (cancelled.status, cancelled.cancel_reason) == (RunStatus.CANCELLED, None)
    assert Event.objects.get(run=run, event_type="run_cancelled").payload == {
        "run_status": "cancelled",
        "reason": None,
    }


def test_fail_records_the_error_on_the_event():
    run = Run.objects.start("s")
    Run.objects.fail(run.pk, {"reason": "boom"})
    assert Event.objects.get(run=run, event_type="run_failed").payload == {
        "run_status": "failed",
        "error": {"reason": "boom"},
    }


# -- Run.objects.list_runs -----------------------------------------------------


@pytest.fixture
def runs():
    parent = Run.objects.start({"session_id": "s1", "thread_id": "t1"}, kind="chat")
    child = Run.objects.start({"parent_run_id": parent.pk}, kind="tool")
    other = Run.objects.start("s2", kind="chat")
    Run.objects.complete(other.pk)
    lonely = Run.objects.start()
    return {"parent": parent, "child": child, "other": other, "lonely": lonely}


def _ids(found):
    return {run.pk for run in found}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, {"parent", "child", "other", "lonely"}),
        ({}, {"parent", "child", "other", "lonely"}),
        ({"session_id": "s1"}, {"parent", "child"}),
        ({"thread_id": "t1"}, {"parent", "child"}),
        ({"kind": "chat"}, {"parent", "other"}),
        ({"status": "completed"}, {"other"}),
        ({"status": RunStatus.RUNNING}, {"parent", "child", "lonely"}),
        ({"session_id": "s1", "kind": "tool"}, {"child"}),
        ({"session_id": "nobody"}, set()),
    ],
)
def test_list_runs_filters(runs, filters, expected):
    assert _ids(Run.objects.list_runs(filters)) == {runs[name].pk for name in expected}


def test_list_runs_by_parent(runs):
    found = Run.objects.list_runs({"parent_run_id": str(runs["parent"].pk)})
    assert _ids(found) == {runs["child"].pk}


def test_list_runs_order_is_updated_at_desc_then_id(runs):
    stamp = timezone.now()
    tied = sorted([runs["parent"].pk, runs["child"].pk])
    Run.objects.filter(pk__in=tied).update(updated_at=stamp)
    Run.objects.filter(pk__in=[runs["other"].pk, runs["lonely"].pk]).update(updated_at=PAST)
    Run.objects.filter(pk=runs["other"].pk).update(updated_at=PAST + datetime.timedelta(seconds=1))
    found = [run.pk for run in Run.objects.list_runs()]
    assert found == [*tied, runs["other"].pk, runs["lonely"].pk]


def test_list_runs_limit_keeps_the_newest(runs):
    Run.objects.exclude(pk=runs["lonely"].pk).update(updated_at=PAST)
    assert [run.pk for run in Run.objects.list_runs({"limit": 1})] == [runs["lonely"].pk]
    assert len(Run.objects.list_runs({"limit": 3})) == 3


def test_list_runs_since_is_inclusive_on_updated_at(runs):
    stamp = datetime.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=datetime.UTC)
    Run.objects.update(updated_at=PAST)
    Run.objects.filter(pk=runs["child"].pk).update(updated_at=stamp)
    epoch_ms = 1714564800123  # the same instant in epoch milliseconds
    assert stamp == datetime.datetime.fromtimestamp(epoch_ms / 1000, tz=datetime.UTC)
    for since in (stamp, epoch_ms):
        assert _ids(Run.objects.list_runs({"since": since})) == {runs["child"].pk}
    for since in (stamp + datetime.timedelta(milliseconds=1), epoch_ms + 1):
        assert Run.objects.list_runs({"since": since}) == []
    assert len(Run.objects.list_runs({"since": 0})) == 4


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": -1}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"since": datetime.datetime(2024, 1, 1)}, "since"),  # naive
        ({"since": "yesterday"}, "since"),
        ({"since": -1}, "since"),
        ({"since": 1.5}, "since"),
        ({"status": "bogus"}, "status"),
        ({"parent_run_id": "nope"}, "parent_run_id"),
        ({"session_id": ""}, "session_id"),
        ({"session_id": None}, "session_id"),
        ({"thread_id": 5}, "thread_id"),
        ({"kind": ""}, "kind"),
        (["session_id"], "filters"),
    ],
)
def test_invalid_filter(filters, field):
    assert _reject(InvalidFilter, Run.objects.list_runs, filters).field == field


@pytest.mark.parametrize("key", ["run_id", "tenant_id", "step_id", 3])
def test_unsupported_filter(key):
    assert _reject(UnsupportedFilter, Run.objects.list_runs, {key: "x"}).field == str(key)


# -- Step.objects.start --------------------------------------------------------


def test_start_step_inherits_scope_numbers_and_bumps_the_run():
    run = Run.objects.start({"session_id": "s", "thread_id": "t"})
    _age(run)
    first = Step.objects.start(run.pk, kind="review", input={"doc": 1}, metadata={"m": 1})
    second = Step.objects.start(str(run.pk))
    stored = Run.objects.get(pk=run.pk)
    assert stored.updated_at > PAST
    assert stored.current_step_id == second.pk
    step = Step.objects.get(pk=first.pk)
    assert (step.status, step.sequence, step.kind) == (StepStatus.RUNNING, 1, "review")
    assert (step.session_id, step.thread_id) == ("s", "t")
    assert (step.input, step.metadata) == ({"doc": 1}, {"m": 1})
    assert step.started_at is not None
    assert step.completed_at is None
    assert second.sequence == 2
    started = Event.objects.filter(run=run, event_type="step_started").order_by("sequence")
    assert [event.step_id for event in started] == [first.pk, second.pk]
    assert started[0].payload == {"step_status": "running"}


def test_start_step_with_an_explicit_id():
    run = Run.objects.start("s")
    step_id = uuid.uuid4()
    assert Step.objects.start(run.pk, step_id=str(step_id)).pk == step_id


def test_a_step_id_is_taken_once_across_all_runs():
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    error = _reject(AlreadyExists, Step.objects.start, run.pk, step_id=step.pk)
    assert error.field == "step_id"
    other = Run.objects.start("s")
    _reject(AlreadyExists, Step.objects.start, other.pk, step_id=str(step.pk))


@pytest.mark.parametrize("run_id", [uuid.uuid4(), "not-a-uuid", None])
def test_start_step_in_an_unknown_run(run_id):
    _reject(NotFound, Step.objects.start, run_id)


@pytest.mark.parametrize("status", TERMINAL)
@pytest.mark.parametrize(
    "opts", [{}, {"step_id": "bad"}, {"kind": ""}, {"role_id": "x"}, {"input": float("nan")}]
)
def test_run_not_active_is_checked_before_the_options(status, opts):
    run = _terminal_run(status)
    _reject(RunNotActive, Step.objects.start, run.pk, **opts)


@pytest.mark.parametrize(
    ("opts", "field"),
    [
        ({"step_id": "bad"}, "step_id"),
        ({"step_id": 3}, "step_id"),
        ({"kind": ""}, "kind"),
        ({"kind": 3}, "kind"),
        ({"metadata": ["m"]}, "metadata"),
    ],
)
def test_invalid_step_opt(opts, field):
    run = Run.objects.start("s")
    assert _reject(InvalidStepOpt, Step.objects.start, run.pk, **opts).field == field


def test_unsupported_step_opt():
    run = Run.objects.start("s")
    assert _reject(UnsupportedStepOpt, Step.objects.start, run.pk, role_id="x").field == "role_id"


# -- Step.objects.complete / fail / cancel -------------------------------------


@pytest.mark.parametrize(
    ("verb", "arg", "status", "field"),
    [
        ("complete", {"answer": 42}, StepStatus.COMPLETED, "output"),
        ("fail", {"reason": "bad"}, StepStatus.FAILED, "error"),
        ("cancel", "not needed", StepStatus.CANCELLED, "cancel_reason"),
    ],
)
def test_finish_a_step(verb, arg, status, field):
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    _age(run)
    finished = getattr(Step.objects, verb)(run.pk, str(step.pk), arg)
    stored = Step.objects.get(pk=step.pk)
    assert stored.status == finished.status == status
    assert stored.completed_at is not None
    # A terminal record carries only its own payload.
    payloads = {name: getattr(stored, name) for name in ("output", "error", "cancel_reason")}
    assert payloads == {name: arg if name == field else None for name in payloads}
    stored_run = Run.objects.get(pk=run.pk)
    assert stored_run.updated_at > PAST
    assert stored_run.status == RunStatus.RUNNING  # a step verb never moves the run
    event = Event.objects.filter(run=run).latest("sequence")
    assert (event.event_type, event.step_id) == (f"step_{status}", step.pk)
    assert event.payload == {"step_status": str(status), "previous_status": "running"}


@pytest.mark.parametrize("verb", ["complete", "fail", "cancel"])
def test_step_verbs_on_unknown_steps(verb):
    run = Run.objects.start("s")
    elsewhere = Step.objects.start(Run.objects.start("s").pk)
    call = getattr(Step.objects, verb)
    arg = {"reason": "x"}
    for run_id, step_id in [
        (run.pk, uuid.uuid4()),
        (run.pk, "not-a-uuid"),
        (run.pk, None),
        (run.pk, elsewhere.pk),  # a step of another run
        (uuid.uuid4(), elsewhere.pk),
        ("not-a-uuid", elsewhere.pk),
    ]:
        _reject(NotFound, call, run_id, step_id, arg)


@pytest.mark.parametrize(
    ("first", "status"),
    [
        ("complete", StepStatus.COMPLETED),
        ("fail", StepStatus.FAILED),
        ("cancel", StepStatus.CANCELLED),
    ],
)
@pytest.mark.parametrize(
    ("verb", "target"),
    [
        ("complete", StepStatus.COMPLETED),
        ("fail", StepStatus.FAILED),
        ("cancel", StepStatus.CANCELLED),
    ],
)
def test_terminal_steps_absorb(first, status, verb, target):
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    getattr(Step.objects, first)(run.pk, step.pk, {"reason": "first"})
    error = _reject(
        InvalidStatusTransition, getattr(Step.objects, verb), run.pk, step.pk, {"reason": "again"}
    )
    assert (error.current, error.target) == (status, target)


def test_steps_of_a_cancelled_run_absorb_the_cascade():
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    Run.objects.cancel(run.pk, "stop")
    error = _reject(InvalidStatusTransition, Step.objects.complete, run.pk, step.pk, "late")
    assert (error.current, error.target) == (StepStatus.CANCELLED, StepStatus.COMPLETED)


def test_a_run_waiting_for_approval_takes_no_new_steps_and_cancels_its_waiting_step():
    run = RunFactory(status=RunStatus.WAITING_FOR_APPROVAL)
    waiting = StepFactory(run=run, status=StepStatus.WAITING_FOR_APPROVAL)
    _reject(RunNotActive, Step.objects.start, run.pk)
    _reject(ActiveSteps, Run.objects.complete, run.pk)
    error = _reject(InvalidStatusTransition, Step.objects.complete, run.pk, waiting.pk)
    assert (error.current, error.target) == (StepStatus.WAITING_FOR_APPROVAL, StepStatus.COMPLETED)
    assert Run.objects.cancel(run.pk, "declined").status == RunStatus.CANCELLED
    waiting.refresh_from_db()
    assert (waiting.status, waiting.cancel_reason) == (StepStatus.CANCELLED, "declined")


# -- Step.objects.list_steps ---------------------------------------------------


def test_list_steps_oldest_first():
    run = Run.objects.start("s")
    other = Run.objects.start("s")
    started = []
    for _ in range(3):
        started.append(Step.objects.start(run.pk).pk)
        Step.objects.start(other.pk)
    Step.objects.complete(run.pk, started[0])  # moving a step does not reorder it
    assert [step.pk for step in Step.objects.list_steps(str(run.pk))] == started
    assert [step.sequence for step in Step.objects.list_steps(run.pk)] == [1, 2, 3]
    assert Step.objects.list_steps(Run.objects.start("s").pk) == []


@pytest.mark.parametrize("run_id", [uuid.uuid4(), "not-a-uuid", None])
def test_list_steps_of_an_unknown_run(run_id):
    _reject(NotFound, Step.objects.list_steps, run_id)


# -- Events ---------------------------------------------------------------------


def test_every_transition_appends_an_event_with_a_gapless_sequence_per_run():
    first = Run.objects.start("s")
    second = Run.objects.start("s")
    a = Step.objects.start(first.pk)
    b = Step.objects.start(second.pk)
    Step.objects.complete(first.pk, a.pk)
    Step.objects.fail(second.pk, b.pk, {"reason": "x"})
    c = Step.objects.start(first.pk)
    Step.objects.start(second.pk)
    with pytest.raises(InvalidStatusTransition):
        Step.objects.complete(first.pk, a.pk)  # rejected: no event, no gap
    Step.objects.cancel(first.pk, c.pk)
    Run.objects.complete(first.pk, {"done": True})
    Run.objects.cancel(second.pk)
    assert _event_types(first) == [
        "run_started",
        "step_started",
        "step_completed",
        "step_started",
        "step_cancelled",
        "run_completed",
    ]
    assert _event_types(second) == [
        "run_started",
        "step_started",
        "step_failed",
        "step_started",
        "step_cancelled",
        "run_cancelled",
    ]
    for run in (first, second):
        sequences = list(Event.objects.filter(run=run).values_list("sequence", flat=True))
        assert sequences == list(range(1, len(sequences) + 1))
        assert Run.objects.get(pk=run.pk).last_event_sequence == len(sequences)


def test_events_cannot_be_changed_through_the_manager():
    run = Run.objects.start("s")
    with nothing_written():
        with pytest.raises(EventImmutable):
            Event.objects.filter(run=run).update(event_type="forged")
        with pytest.raises(EventImmutable):
            Event.objects.filter(run=run).delete()


# -- QuerySet reads ---------------------------------------------------------------


def test_queryset_reads():
    older = RunFactory(session_id="s", tenant_id="acme", created_at=PAST)
    newer = RunFactory(session_id="s", tenant_id=None)
    done = RunFactory(session_id="other", tenant_id="acme", status=RunStatus.COMPLETED)
    waiting = RunFactory(session_id="other", status=RunStatus.WAITING_FOR_APPROVAL)
    assert list(Run.objects.for_session("s")) == [newer, older]
    assert set(Run.objects.for_tenant("acme")) == {older, done}
    assert set(Run.objects.for_tenant(None)) == {newer, waiting}
    assert set(Run.objects.active()) == {older, newer, waiting}
    steps = [StepFactory(run=older), StepFactory(run=newer), StepFactory(run=older)]
    assert list(Step.objects.of_run(older.pk)) == [steps[0], steps[2]]
