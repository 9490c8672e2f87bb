"""With an inline task backend the transaction that makes a step runnable also claims it.

``ImmediateBackend`` runs a task in this process as soon as it is enqueued, so the task's
own claim transaction would be one commit spent on nothing: start_run, start_handoff_run
and resume_run claim the first runnable step themselves, and this process runs it right
after commit. Any transaction around the call (a host's, a ``TestCase``'s), or a queuing
backend, keeps the task.
"""

import datetime
from contextlib import contextmanager
from unittest import mock

import pytest
from django.db import OperationalError, connections, transaction
from django.db.models.signals import post_save
from django.test import override_settings
from django.utils import timezone

import scoria_django as scoria
from scoria_django import signals
from scoria_django.compat import (
    DUMMY_BACKEND,
    ImmediateBackend,
    default_task_backend,
    task_enqueued,
)
from scoria_django.models import Handoff, Step
from scoria_django.runtime.executor import execute
from scoria_django.runtime.leases import Claim
from scoria_django.runtime.recovery import recover
from tests import handlers

CHAIN = {"chain": "tests.handlers.chain", "echo": "tests.handlers.echo"}
APPROVAL = {"approval": "tests.handlers.wait_for_approval"}


def fan_out(ctx):
    """Queues two steps that each wait for approval."""
    return scoria.complete("fanned", next_steps=[{"kind": "approval"}, {"kind": "approval"}])


def start_echo():
    return scoria.start_run(
        None, initial_step={"kind": "echo", "role_id": "executor"}, handlers=CHAIN
    )


def start_review(session_id, handler):
    """A handoff run whose delegated "review" step ``handler`` runs."""
    return scoria.start_handoff_run(
        {"actor_id": "u", "session_id": session_id},
        "critic",
        root_role_id="assistant",
        delegated_kind="review",
        handoff_input={"brief": "check"},
        projected_context={"draft_answer": "yes"},
        handlers={"review": handler},
    )


@contextmanager
def receiving(signal, receiver):
    signal.connect(receiver)
    try:
        yield
    finally:
        signal.disconnect(receiver)


def event_types(run_id):
    return [event["event_type"] for event in scoria.get_run_detail(run_id).events]


class Commits:
    """Counts the commits of the default connection."""

    def __init__(self):
        self.count = 0

    def __enter__(self):
        connection = connections["default"]
        original = connection._commit

        def counting():
            self.count += 1
            return original()

        self._patch = mock.patch.object(connection, "_commit", counting)
        self._patch.start()
        return self

    def __exit__(self, *exc):
        self._patch.stop()


@pytest.mark.django_db(transaction=True)
def test_a_three_step_lifecycle_commits_four_times_with_the_first_claim_in_the_start():
    scoria.start_run(None, initial_step={"kind": "chain", "role_id": "executor"}, handlers=CHAIN)
    with Commits() as commits:
        summary = scoria.start_run(
            None, initial_step={"kind": "chain", "role_id": "executor"}, handlers=CHAIN
        )
    assert summary.status == "completed"
    # start + claim 1; complete 1 + claim 2; complete 2 + claim 3; complete 3 + the run.
    assert commits.count == 4
    assert event_types(summary.run_id)[:3] == ["run_started", "step_queued", "step_claimed"]
    first = scoria.get_run_detail(summary.run_id).events[2]
    assert first["payload"] == {"step_status": "running", "attempt": 1}


@pytest.mark.django_db(transaction=True)
def test_an_approval_round_trip_commits_four_times_with_the_claim_in_the_resume():
    with Commits() as commits:
        waiting = scoria.start_run(
            None, initial_step={"kind": "approval", "role_id": "executor"}, handlers=APPROVAL
        )
        assert waiting.status == "waiting_for_approval"
        done = scoria.resume_run(waiting.run_id, identity={"actor_id": "boss"})
    assert done.status == "completed"
    assert commits.count == 4  # start + claim, waiting, resume + claim, completed
    types = event_types(done.run_id)
    resumed = types.index("resume_requested")
    assert types[resumed : resumed + 3] == ["resume_requested", "step_claimed", "step_completed"]


@pytest.mark.django_db(transaction=True)
def test_inside_a_host_transaction_the_step_is_left_queued_until_the_task_runs_it():
    # A claim taken inside the host's transaction would age its lease until that commits.
    with transaction.atomic():
        summary = start_echo()
        step = Step.objects.get(pk=summary.current_step_id)
        assert (step.status, step.claim_token, step.lease_expires_at) == ("queued", None, None)
        assert event_types(summary.run_id) == ["run_started", "step_queued"]
    assert scoria.get_run(summary.run_id).status == "completed"
    assert len(handlers.CALLS) == 1


@pytest.mark.django_db(transaction=True)
def test_a_queuing_backend_gets_a_task_and_nothing_is_claimed():
    with override_settings(TASKS={"default": {"BACKEND": DUMMY_BACKEND}}):
        summary = start_echo()
        assert len(default_task_backend.results) == 1
    assert Step.objects.get(pk=summary.current_step_id).status == "queued"
    assert event_types(summary.run_id) == ["run_started", "step_queued"]


@pytest.mark.django_db(transaction=True)
def test_a_process_that_dies_after_the_start_commit_leaves_a_lease_recovery_takes_over():
    # The start commits its claim; the process dies before the callback runs the step.
    with mock.patch("scoria_django.runtime.executor._run_inline"):
        summary = start_echo()
    step = Step.objects.get(pk=summary.current_step_id)
    assert step.status == "running"
    assert step.claim_token is not None and step.lease_expires_at is not None
    assert handlers.CALLS == []
    assert recover().actions == []  # the lease is live: nobody else may take the step
    Step.objects.filter(pk=step.pk).update(
        lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
    )
    assert recover().summary() == "requeued=1 failed=0 reenqueued=0 expired=0 overdue=0"
    assert scoria.get_run(summary.run_id).status == "completed"
    assert Step.objects.get(pk=step.pk).attempt == 2
    assert len(handlers.CALLS) == 1


@pytest.mark.django_db
def test_in_a_test_case_transaction_the_step_stays_queued_for_the_test_to_run():
    # A TestCase's transaction never commits: a claim taken in it would never be run.
    summary = start_echo()
    assert Step.objects.get(pk=summary.current_step_id).status == "queued"
    execute(summary.run_id, summary.current_step_id)
    assert scoria.get_run(summary.run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_cancels_the_run_before_the_handler_starts_stops_it():
    def cancel(sender, run_id, **kwargs):
        scoria.cancel_run(run_id, reason="policy")

    with receiving(signals.run_started, cancel):
        summary = start_echo()
    assert handlers.CALLS == []
    assert summary.status == "cancelled"
    assert event_types(summary.run_id)[-2:] == ["step_cancelled", "run_cancelled"]


@pytest.mark.django_db(transaction=True)
def test_a_receiver_that_disconnects_itself_and_cancels_still_stops_the_handler():
    def cancel_once(sender, run_id, **kwargs):
        signals.run_started.disconnect(cancel_once)
        scoria.cancel_run(run_id, reason="policy")

    signals.run_started.connect(cancel_once)
    summary = start_echo()
    assert handlers.CALLS == []
    assert summary.status == "cancelled"


@pytest.mark.django_db(transaction=True)
def test_a_host_on_commit_callback_that_cancels_stops_the_delegated_handler():
    # A host's post_save receiver registers on_commit work inside scoria's transaction.
    def on_handoff(sender, instance, created, **kwargs):
        run_id = str(instance.run_id)
        transaction.on_commit(lambda: scoria.cancel_run(run_id, reason="policy"))

    SEEN_INPUTS.clear()
    post_save.connect(on_handoff, sender=Handoff)
    try:
        summary = start_review("s-host-callback", keep_input)
    finally:
        post_save.disconnect(on_handoff, sender=Handoff)
    assert summary.status == "cancelled"
    assert SEEN_INPUTS == []


@pytest.mark.django_db(transaction=True)
def test_with_autocommit_off_the_step_is_left_queued_until_the_host_commits():
    transaction.set_autocommit(False)
    try:
        summary = start_echo()
        assert Step.objects.get(pk=summary.current_step_id).status == "queued"
        transaction.commit()
    finally:
        transaction.set_autocommit(True)
    execute(summary.run_id, summary.current_step_id)  # the host's own wake-up
    assert scoria.get_run(summary.run_id).status == "completed"


@pytest.mark.django_db(transaction=True)
def test_a_moment_of_contention_on_the_start_check_is_retried():
    calls = []

    def flaky_renew(claim):
        calls.append("renew")
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return Claim.held(claim).update(status="running") == 1

    with (
        receiving(signals.run_started, noop_receiver),
        mock.patch.object(Claim, "renew", autospec=True, side_effect=flaky_renew),
    ):
        summary = start_echo()
    assert calls == ["renew", "renew"]
    assert summary.status == "completed"


def noop_receiver(sender, **kwargs):
    return None


@pytest.mark.django_db(transaction=True)
def test_a_claim_recovery_took_over_before_the_handler_starts_is_not_run_again():
    def take_over(sender, run_id, **kwargs):
        # The receiver outlived the lease and recovery gave the step to another worker.
        Step.objects.filter(run_id=run_id).update(
            lease_expires_at=timezone.now() - datetime.timedelta(minutes=1)
        )
        recover()

    with receiving(signals.run_started, take_over):
        summary = start_echo()
    assert summary.status == "completed"
    assert len(handlers.CALLS) == 1  # the recovered attempt, not the inline claim as well
    assert Step.objects.get(pk=summary.current_step_id).attempt == 2


ORDER = []


def note_handler(ctx):
    ORDER.append("handler")
    return "noted"


@pytest.mark.django_db(transaction=True)
def test_an_aged_claim_is_renewed_before_its_handler_starts(settings):
    settings.SCORIA_LEASE_SECONDS = 0  # so a third of it has gone by at any handler start
    ORDER.clear()

    def renew(claim):
        ORDER.append("renew")
        return Claim.held(claim).update(status="running") == 1

    with mock.patch.object(Claim, "renew", autospec=True, side_effect=renew):
        summary = scoria.start_run(
            None,
            initial_step={"kind": "note", "role_id": "executor"},
            handlers={"note": note_handler},
        )
    assert summary.status == "completed"
    assert ORDER[:2] == ["renew", "handler"]


@pytest.mark.django_db(transaction=True)
def test_a_fresh_claim_without_receivers_starts_its_handler_without_asking_the_database():
    with mock.patch.object(Claim, "renew", autospec=True, side_effect=Claim.renew) as renew:
        summary = scoria.start_run(
            None, initial_step={"kind": "chain", "role_id": "executor"}, handlers=CHAIN
        )
    assert summary.status == "completed"
    assert renew.call_count == 0


SEEN_INPUTS = []


def keep_input(ctx):
    SEEN_INPUTS.append(ctx.input)
    ctx.input["touched"] = True  # against the contract; must not reach the caller
    return "kept"


@pytest.mark.django_db(transaction=True)
def test_the_inline_handler_sees_the_stored_input_not_the_callers_objects():
    SEEN_INPUTS.clear()
    given = {"items": ("a", ("b", 1))}
    summary = scoria.start_run(
        None,
        initial_step={"kind": "keep", "role_id": "executor", "input": given},
        handlers={"keep": keep_input},
    )
    assert summary.status == "completed"
    assert SEEN_INPUTS == [{"items": ["a", ["b", 1]], "touched": True}]
    assert given == {"items": ("a", ("b", 1))}


SEEN_VALUES = []


def keep_values(ctx):
    SEEN_VALUES.append({"payload": ctx.payload, "resume_input": ctx.resume_input})
    if ctx.approval is None:
        return scoria.wait_for_approval("publish")
    return scoria.complete("ok", next_steps=[{"kind": "keep", "input": {"next": (1, 2)}}])


def keep_next_input(ctx):
    SEEN_INPUTS.append(ctx.input)
    return "done"


@pytest.mark.django_db(transaction=True)
def test_payload_resume_input_and_a_continued_steps_input_are_seen_as_stored():
    SEEN_VALUES.clear()
    SEEN_INPUTS.clear()
    waiting = scoria.start_run(
        None,
        initial_step={"kind": "values", "role_id": "executor"},
        payload={"tags": ("x", "y")},
        handlers={"values": keep_values, "keep": keep_next_input},
    )
    assert waiting.status == "waiting_for_approval"
    done = scoria.resume_run(waiting.run_id, identity={"actor_id": "boss"}, input=("ok",))
    assert done.status == "completed"
    assert SEEN_VALUES == [
        {"payload": {"tags": ["x", "y"]}, "resume_input": None},
        {"payload": {"tags": ["x", "y"]}, "resume_input": ["ok"]},
    ]
    assert SEEN_INPUTS == [{"next": [1, 2]}]


@pytest.mark.django_db(transaction=True)
def test_a_handoff_start_claims_the_delegated_step_in_its_transaction():
    with Commits() as commits:
        summary = start_review("s-inline-handoff", "tests.handoff_handlers.review")
    assert summary.status == "completed"
    assert commits.count == 2  # start + claim, then the outcome
    types = event_types(summary.run_id)
    queued = types.index("step_queued")
    assert types[queued : queued + 2] == ["step_queued", "step_claimed"]


def fail_first_attempt(ctx):
    if ctx.attempt == 1:
        return scoria.fail("flaky")
    return {"attempt": ctx.attempt}


@pytest.mark.django_db(transaction=True)
def test_a_retry_claims_the_failed_step_in_the_resume_transaction():
    failed = scoria.start_run(
        None,
        initial_step={"kind": "flaky", "role_id": "executor"},
        handlers={"flaky": fail_first_attempt},
    )
    assert failed.status == "failed"
    with Commits() as commits:
        done = scoria.resume_run(failed.run_id)
    assert done.status == "completed"
    assert commits.count == 2  # resume + claim, then the outcome
    types = event_types(done.run_id)
    retried = types.index("retry_requested")
    assert types[retried : retried + 2] == ["retry_requested", "step_claimed"]


@pytest.mark.django_db(transaction=True)
def test_a_resume_of_two_waiting_steps_claims_one_and_enqueues_the_other():
    summary = scoria.start_run(
        None,
        initial_step={"kind": "fan_out", "role_id": "executor"},
        handlers={"fan_out": fan_out, **APPROVAL},
    )
    assert summary.status == "waiting_for_approval"
    enqueued = []

    def record(sender, task_result, **kwargs):
        enqueued.append(task_result.args)

    task_enqueued.connect(record)
    try:
        done = scoria.resume_run(summary.run_id, identity={"actor_id": "boss"})
    finally:
        task_enqueued.disconnect(record)
    assert done.status == "completed"
    waiting = Step.objects.filter(run_id=summary.run_id, kind="approval").order_by("sequence")
    assert [step.status for step in waiting] == ["completed", "completed"]
    # The first runs on the resume's claim; only the second goes through the backend.
    assert enqueued == [[summary.run_id, str(waiting[1].pk)]]


class TracingImmediateBackend(ImmediateBackend):
    """A host's own inline backend: it must keep receiving scoria's tasks."""

    enqueued = []

    def enqueue(self, task, args, kwargs):
        TracingImmediateBackend.enqueued.append(list(args))
        return super().enqueue(task, args, kwargs)


@pytest.mark.django_db(transaction=True)
def test_a_subclass_of_the_immediate_backend_still_gets_its_tasks():
    TracingImmediateBackend.enqueued.clear()
    backend = f"{__name__}.TracingImmediateBackend"
    with override_settings(TASKS={"default": {"BACKEND": backend}}):
        summary = start_echo()
    assert summary.status == "completed"
    assert TracingImmediateBackend.enqueued == [[summary.run_id, summary.current_step_id]]
