"""Approvals as records: requesting, deciding (approve / reject / edit), who may decide,
single use, expiry, cancellation, reads and signals."""

import datetime

import pytest
from django.contrib.auth.models import Group, User
from django.db import IntegrityError, transaction
from django.utils import timezone

import scoria_django as scoria
from scoria_django import signals
from scoria_django.models import Approval, Event, Run, Step
from scoria_django.runtime.recovery import recover
from tests import approval_handlers
from tests.together import together

pytestmark = pytest.mark.django_db(transaction=True)

HANDLERS = {
    "gated": approval_handlers.gated,
    "two_tools": approval_handlers.two_tools,
    "twice": approval_handlers.asks_twice_with_one_call_id,
    "bad": approval_handlers.bad_request,
}
TENANT = {"actor_id": "author", "tenant_id": "acme", "session_id": "s"}


@pytest.fixture(autouse=True)
def _reset():
    approval_handlers.RUNS.clear()


def start(kind="gated", identity=TENANT, **options):
    return scoria.start_run(
        identity,
        initial_step={"kind": kind, "role_id": "executor", "input": {"options": options}},
        handlers=HANDLERS,
    )


def approvals_of(run_id):
    return list(Approval.objects.filter(run_id=run_id).order_by("position"))


def event_types(run_id):
    return list(Event.objects.filter(run_id=run_id).values_list("event_type", flat=True))


def output_of(run_id):
    return Step.objects.get(run_id=run_id).output


# -- requesting -------------------------------------------------------------------------


def test_a_pause_creates_one_pending_approval_with_the_request():
    waiting = start(assignees=["ops", 7], groups=["leads"], expires_in=60)
    assert waiting.status == "waiting_for_approval"
    (approval,) = approvals_of(waiting.run_id)
    assert approval.status == "pending"
    assert (approval.tool_name, approval.arguments, approval.reason) == (
        "send_reply",
        {"text": "hello"},
        "outbound",
    )
    assert (approval.assignees, approval.groups) == (["ops", "7"], ["leads"])
    assert approval.tenant_id == "acme"
    assert approval.step_id == Step.objects.get(run_id=waiting.run_id).pk
    assert approval.expires_at - approval.requested_at == datetime.timedelta(seconds=60)
    assert approval.on_expiry == "reject"
    assert approval.decided_at is None
    summary = scoria.get_approval(approval.pk)
    assert summary.approval_id == str(approval.pk)
    assert summary.run_id == waiting.run_id
    assert summary.status == "pending"


def test_a_malformed_request_fails_the_step_and_writes_no_approval():
    failed = start("bad")
    assert failed.status == "failed"
    error = Step.objects.get(run_id=failed.run_id).error
    assert error["reason"] == "invalid_outcome"
    assert "expires_in" in error["detail"]
    assert approvals_of(failed.run_id) == []


def test_a_step_may_not_reuse_a_call_id_in_a_later_pause():
    waiting = start("twice")
    scoria.approve(waiting.run_id, identity={"actor_id": "ops"})
    step = Step.objects.get(run_id=waiting.run_id)
    assert step.status == "failed"
    assert step.error["reason"] == "invalid_outcome"
    assert "already used" in step.error["detail"]


# -- deciding -------------------------------------------------------------------------------


def test_approve_reaches_the_handler_and_completes_the_run():
    waiting = start()
    done = scoria.approve(
        waiting.run_id, identity={"actor_id": "ops"}, input={"note": "ok"}, comment="fine"
    )
    assert done.status == "completed"
    assert output_of(waiting.run_id) == {
        "decision": "approved",
        "decided_by": "ops",
        "arguments": {"text": "hello"},
        "input": {"note": "ok"},
        "reason": None,
        "comment": "fine",
        "sent": True,
    }
    (approval,) = approvals_of(waiting.run_id)
    assert (approval.status, approval.decided_by, approval.comment) == ("approved", "ops", "fine")
    assert approval.decided_at is not None
    decided = Event.objects.get(run_id=waiting.run_id, event_type="approval_decided")
    assert decided.actor_id == "ops"
    assert decided.payload["decision"] == "approved"
    assert decided.payload["approval_id"] == str(approval.pk)


def test_edited_arguments_reach_the_handler_and_the_request_is_kept():
    waiting = start()
    scoria.approve(waiting.run_id, identity={"actor_id": "ops"}, arguments={"text": "hi!"})
    assert output_of(waiting.run_id)["arguments"] == {"text": "hi!"}
    (approval,) = approvals_of(waiting.run_id)
    assert approval.arguments == {"text": "hello"}
    assert approval.edited_arguments == {"text": "hi!"}


def test_a_rejection_runs_the_step_again_and_the_handler_decides():
    waiting = start()
    done = scoria.reject(waiting.run_id, identity={"actor_id": "ops"}, reason="too long")
    assert done.status == "completed"  # the handler completed: a rejection is not a failure
    output = output_of(waiting.run_id)
    assert (output["decision"], output["reason"], output["sent"]) == ("rejected", "too long", False)
    (approval,) = approvals_of(waiting.run_id)
    assert (approval.status, approval.decided_by, approval.decision_reason) == (
        "rejected",
        "ops",
        "too long",
    )


def test_two_requests_one_approved_one_rejected_by_approval_id():
    waiting = start("two_tools")
    first, second = approvals_of(waiting.run_id)
    assert (first.call_id, second.call_id) == ("call-1", "call-2")
    after_one = scoria.approve(
        waiting.run_id,
        approval_id=first.pk,
        identity={"actor_id": "ops"},
        arguments={"q": "edited"},
    )
    # One is still pending: the step waits and has not run again.
    assert after_one.status == "waiting_for_approval"
    assert Step.objects.get(run_id=waiting.run_id).status == "waiting_for_approval"
    assert approval_handlers.RUNS == []
    done = scoria.reject(waiting.run_id, approval_id=second.pk, identity={"actor_id": "ops"})
    assert done.status == "completed"
    (approvals,) = approval_handlers.RUNS
    assert [(a["call_id"], a["decision"]) for a in approvals] == [
        ("call-1", "approved"),
        ("call-2", "rejected"),
    ]
    assert output_of(waiting.run_id)["ran"] == [{"call_id": "call-1", "arguments": {"q": "edited"}}]


def test_without_an_approval_id_every_pending_approval_is_decided():
    waiting = start("two_tools")
    done = scoria.approve(waiting.run_id, identity={"actor_id": "ops"})
    assert done.status == "completed"
    assert [a.status for a in approvals_of(waiting.run_id)] == ["approved", "approved"]


def test_resume_run_of_a_waiting_run_approves():
    waiting = start()
    done = scoria.resume_run(waiting.run_id, identity={"actor_id": "boss"}, input="go")
    assert done.status == "completed"
    output = output_of(waiting.run_id)
    assert (output["decision"], output["decided_by"], output["input"]) == ("approved", "boss", "go")
    assert approvals_of(waiting.run_id)[0].status == "approved"


def test_a_decision_is_single_use():
    waiting = start()
    scoria.approve(waiting.run_id, identity={"actor_id": "ops"})
    for decide in (scoria.approve, scoria.reject):
        with pytest.raises(scoria.ScoriaConflict) as caught:
            decide(waiting.run_id, identity={"actor_id": "ops"})
        assert caught.value.code == "not_resumable"


def test_deciding_an_unknown_approval_or_run():
    waiting = start("two_tools")
    with pytest.raises(scoria.ScoriaNotFound):
        scoria.approve(waiting.run_id, approval_id="9f1c7a2e-0000-4000-8000-000000000000")
    with pytest.raises(scoria.ScoriaNotFound):
        scoria.approve(waiting.run_id, approval_id="not-a-uuid")
    with pytest.raises(scoria.ScoriaNotFound):
        scoria.approve("9f1c7a2e-0000-4000-8000-000000000000")
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.approve("nope")
    assert caught.value.code == "invalid_run_id"
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        scoria.reject(waiting.run_id, reason=42)
    assert caught.value.field == "reason"
    assert [a.status for a in approvals_of(waiting.run_id)] == ["pending", "pending"]


def test_an_approval_of_another_run_is_not_found():
    one, other = start(), start()
    foreign = approvals_of(other.run_id)[0]
    with pytest.raises(scoria.ScoriaNotFound):
        scoria.approve(one.run_id, approval_id=foreign.pk)
    assert foreign.status == "pending"


# -- who may decide --------------------------------------------------------------------------


def test_an_assignee_may_decide_and_a_non_assignee_changes_nothing():
    waiting = start(assignees=["ops"])
    before = event_types(waiting.run_id)
    with pytest.raises(scoria.ScoriaPermissionDenied) as caught:
        scoria.approve(waiting.run_id, identity={"actor_id": "intern"})
    assert caught.value.code == "approval_not_allowed"
    assert event_types(waiting.run_id) == before
    assert approvals_of(waiting.run_id)[0].status == "pending"
    with pytest.raises(scoria.ScoriaPermissionDenied):
        scoria.resume_run(waiting.run_id, identity=None)
    assert scoria.approve(waiting.run_id, identity={"actor_id": "ops"}).status == "completed"


def test_group_members_may_decide():
    lead = User.objects.create(username="lead")
    lead.groups.add(Group.objects.create(name="leads"))
    outsider = User.objects.create(username="outsider")
    waiting = start(groups=["leads"])
    with pytest.raises(scoria.ScoriaPermissionDenied):
        scoria.reject(waiting.run_id, identity={"actor_id": outsider.pk})
    with pytest.raises(scoria.ScoriaPermissionDenied):
        scoria.reject(waiting.run_id, identity={"actor_id": "not-a-user-pk"})
    assert scoria.reject(waiting.run_id, identity={"actor_id": lead.pk}).status == "completed"


def test_a_host_policy_replaces_the_default(settings):
    settings.SCORIA_APPROVAL_POLICY = "tests.test_approvals.only_the_boss"
    waiting = start()
    with pytest.raises(scoria.ScoriaPermissionDenied):
        scoria.approve(waiting.run_id, identity={"actor_id": "ops"})
    assert scoria.approve(waiting.run_id, identity={"actor_id": "boss"}).status == "completed"


def only_the_boss(approval, identity):
    return identity.actor_id == "boss"


# -- cancellation and expiry -------------------------------------------------------------------


def test_cancelling_a_waiting_run_cancels_its_pending_approvals():
    waiting = start("two_tools")
    scoria.cancel_run(waiting.run_id, reason="stop")
    assert [a.status for a in approvals_of(waiting.run_id)] == ["cancelled", "cancelled"]
    assert event_types(waiting.run_id).count("approval_cancelled") == 2
    with pytest.raises(scoria.ScoriaConflict):
        scoria.approve(waiting.run_id)


@pytest.mark.parametrize("verb", ["fail", "cancel"])
def test_a_waiting_step_moved_by_the_host_ends_its_pending_approvals(verb):
    # Found by the state machine: a step failed by Step.objects while it waited kept a
    # pending approval, and resume_run "approved" a step that could no longer run.
    run = start()
    step = Step.objects.get(run_id=run.run_id)
    getattr(Step.objects, verb)(run.run_id, step.pk, {"by": "host"})

    assert [a.status for a in approvals_of(run.run_id)] == ["cancelled"]
    assert "approval_cancelled" in event_types(run.run_id)
    with pytest.raises(scoria.ScoriaConflict) as caught:
        scoria.resume_run(run.run_id)
    assert caught.value.code == "not_resumable"


def _expire_now(run_id):
    Approval.objects.filter(run_id=run_id).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )


def test_expiry_reject_runs_the_step_with_decision_expired():
    waiting = start(expires_in=30)
    _expire_now(waiting.run_id)
    report = recover()
    assert len(report.expired) == 1
    assert report.summary().endswith("expired=1 overdue=0")
    assert Run.objects.get(pk=waiting.run_id).status == "completed"
    output = output_of(waiting.run_id)
    assert (output["decision"], output["decided_by"], output["sent"]) == ("expired", None, False)
    (approval,) = approvals_of(waiting.run_id)
    assert approval.status == "expired"
    assert "approval_expired" in event_types(waiting.run_id)
    assert recover().expired == []  # applied once


def test_expiry_approve_runs_the_step_approved_by_nobody():
    waiting = start(expires_in=30, on_expiry="approve")
    _expire_now(waiting.run_id)
    recover()
    output = output_of(waiting.run_id)
    assert (output["decision"], output["decided_by"], output["sent"]) == ("approved", None, True)
    assert approvals_of(waiting.run_id)[0].status == "approved"


def test_expiry_cancel_cancels_the_run():
    waiting = start(expires_in=30, on_expiry="cancel")
    _expire_now(waiting.run_id)
    recover()
    run = Run.objects.get(pk=waiting.run_id)
    assert run.status == "cancelled"
    assert run.cancel_reason["reason"] == "approval_expired"
    assert approvals_of(waiting.run_id)[0].status == "expired"


def test_an_approval_not_yet_due_is_left_alone():
    waiting = start(expires_in=3600)
    assert recover().expired == []
    assert approvals_of(waiting.run_id)[0].status == "pending"
    assert recover(dry_run=True).expired == []


# -- reads ------------------------------------------------------------------------------------


def test_list_approvals_is_tenant_scoped_and_filters():
    mine = start(assignees=["ops"])
    open_to_all = start()
    start(identity={"actor_id": "x", "tenant_id": "other", "session_id": "s2"})
    ops = {"actor_id": "ops", "tenant_id": "acme"}
    listed = scoria.list_approvals(identity=ops)
    assert {a.run_id for a in listed} == {mine.run_id, open_to_all.run_id}
    intern = {"actor_id": "intern", "tenant_id": "acme"}
    assert [a.run_id for a in scoria.list_approvals(identity=intern, mine=True)] == [
        open_to_all.run_id
    ]
    assert [a.run_id for a in scoria.list_approvals(identity=ops, run_id=mine.run_id)] == [
        mine.run_id
    ]
    assert len(scoria.list_approvals(identity=ops, limit=1)) == 1
    scoria.approve(mine.run_id, identity=ops)
    assert [a.run_id for a in scoria.list_approvals(identity=ops, status="approved")] == [
        mine.run_id
    ]
    assert len(scoria.list_approvals(identity=ops, status=None)) == 2
    with pytest.raises(scoria.ScoriaValidationError):
        scoria.list_approvals(identity=ops, status="bogus")


# -- signals --------------------------------------------------------------------------------


def test_approval_signals_go_out_after_commit():
    seen = []

    def requested(sender, **kwargs):
        assert Approval.objects.filter(pk=kwargs["approval_id"]).exists()
        seen.append(("requested", kwargs["tool_name"]))

    def decided(sender, **kwargs):
        assert Approval.objects.get(pk=kwargs["approval_id"]).status != "pending"
        seen.append(("decided", kwargs["decision"], kwargs["decided_by"]))

    signals.approval_requested.connect(requested, weak=False, dispatch_uid="t-requested")
    signals.approval_decided.connect(decided, weak=False, dispatch_uid="t-decided")
    try:
        waiting = start()
        scoria.reject(waiting.run_id, identity={"actor_id": "ops"})
        with pytest.raises(RuntimeError), transaction.atomic():
            start()
            raise RuntimeError("rolled back")
    finally:
        signals.approval_requested.disconnect(dispatch_uid="t-requested")
        signals.approval_decided.disconnect(dispatch_uid="t-decided")
    assert seen == [("requested", "send_reply"), ("decided", "rejected", "ops")]


# -- storage ------------------------------------------------------------------------------------


def test_the_database_refuses_a_decided_approval_without_a_decision_time():
    waiting = start()
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(run_id=waiting.run_id).update(status="approved")


def test_the_database_refuses_a_call_id_twice_in_one_step():
    waiting = start("two_tools")
    with pytest.raises(IntegrityError), transaction.atomic():
        Approval.objects.filter(run_id=waiting.run_id, call_id="call-2").update(call_id="call-1")


# -- races (PostgreSQL) ----------------------------------------------------------------------


@pytest.mark.usefixtures("require_postgres")
def test_sixteen_concurrent_decisions_on_one_approval_exactly_one_wins():
    for _ in range(100):
        waiting = start()
        (approval,) = approvals_of(waiting.run_id)

        def decide(index, run_id=waiting.run_id, approval_id=approval.pk):
            verb = scoria.approve if index % 2 else scoria.reject
            return verb(run_id, approval_id=approval_id, identity={"actor_id": f"u{index}"})

        results = together(16, decide)
        won = [r for r in results if isinstance(r, scoria.RunSummary)]
        lost = [r for r in results if isinstance(r, scoria.ScoriaError)]
        assert len(won) == 1 and len(lost) == 15, results
        assert {e.code for e in lost} == {"not_resumable"}
        approval.refresh_from_db()
        assert approval.status in ("approved", "rejected")
        assert event_types(waiting.run_id).count("approval_decided") == 1
        assert Step.objects.get(run_id=waiting.run_id).status == "completed"


@pytest.mark.usefixtures("require_postgres")
def test_expiry_is_applied_once_by_two_recoverers():
    for on_expiry in ("reject", "approve", "cancel"):
        waiting = start(expires_in=30, on_expiry=on_expiry)
        _expire_now(waiting.run_id)
        results = together(2, lambda index: recover().expired)
        assert sum(len(r) for r in results) == 1, results
        assert event_types(waiting.run_id).count("approval_expired") == 1
