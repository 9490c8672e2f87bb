"""Bounded handoffs (docs/handoffs.md): validation, what is written, status, readback."""

from datetime import timedelta

import pytest

import scoria_django as scoria
from scoria_django.models import Event, Handoff, Run, Step
from scoria_django.runtime.decisions import HANDOFF_CONTRACT
from scoria_django.runtime.executor import claim_step
from tests.handoff_handlers import DRAFT_CONTEXT

H = "tests.handoff_handlers."
SESSION = "sess-handoff"
CONTEXT = {"task": "policy-and-accuracy review", "draft_answer": "Our policy is 30 days."}
BRIEF = {"brief": "Review the draft answer for policy and accuracy"}


def who(session_id=SESSION):
    return scoria.identity(actor_id=42, tenant_id="acme", session_id=session_id)


def handoff_kwargs(**overrides):
    kwargs = {
        "root_role_id": "planner",
        "delegated_kind": "review",
        "handoff_input": BRIEF,
        "projected_context": CONTEXT,
    }
    kwargs.update(overrides)
    return kwargs


def start(delegated_role_id="critic", **overrides):
    return scoria.start_handoff_run(who(), delegated_role_id, **handoff_kwargs(**overrides))


def delegated(run_id):
    return scoria.get_run_detail(run_id).delegated_handoffs


# -- validation: order, codes, nothing written -----------------------------------------

NAN_INPUT = {"score": float("nan")}
DEEP = {"leaf": 1}
for _ in range(32):
    DEEP = {"level": DEEP}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "overrides", "code", "field"),
    [
        (None, {}, "invalid_delegated_role_id", "delegated_role_id"),
        ("", {}, "invalid_delegated_role_id", "delegated_role_id"),
        ("   ", {}, "invalid_delegated_role_id", "delegated_role_id"),
        (7, {}, "invalid_delegated_role_id", "delegated_role_id"),
        ("c" * 256, {}, "invalid_delegated_role_id", "delegated_role_id"),
        ("critic", {"root_role_id": None}, "invalid_root_role_id", "root_role_id"),
        ("critic", {"root_role_id": " "}, "invalid_root_role_id", "root_role_id"),
        ("critic", {"root_role_id": 1}, "invalid_root_role_id", "root_role_id"),
        ("critic", {"delegated_kind": None}, "invalid_delegated_kind", "delegated_kind"),
        ("critic", {"delegated_kind": ""}, "invalid_delegated_kind", "delegated_kind"),
        ("critic", {"delegated_kind": "k" * 101}, "invalid_delegated_kind", "delegated_kind"),
        ("critic", {"handoff_input": None}, "invalid_handoff_input", "handoff_input"),
        ("critic", {"handoff_input": ["brief"]}, "invalid_handoff_input", "handoff_input"),
        ("critic", {"handoff_input": "brief"}, "invalid_handoff_input", "handoff_input"),
        ("critic", {"handoff_input": NAN_INPUT}, "invalid_handoff_input", "handoff_input"),
        (
            "critic",
            {"projected_context": None},
            "invalid_projected_context",
            "projected_context",
        ),
        (
            "critic",
            {"projected_context": ["task"]},
            "invalid_projected_context",
            "projected_context",
        ),
        (
            "critic",
            {"scoped_context": "task"},
            "invalid_projected_context",
            "scoped_context",
        ),
        (
            "critic",
            {"projected_context": {"score": float("inf")}},
            "invalid_projected_context",
            "projected_context",
        ),
        ("critic", {"projected_context": DEEP}, "invalid_projected_context", "projected_context"),
        (
            "critic",
            {"projected_context": {"text": "x" * 70_000}},
            "invalid_projected_context",
            "projected_context",
        ),
        (
            "critic",
            {"projected_context": {"chat_history": []}},
            "unsafe_projected_context",
            "projected_context",
        ),
        (
            "critic",
            {"scoped_context": {"task": {"RequestHeaders": {}}}},
            "unsafe_projected_context",
            "scoped_context",
        ),
        ("critic", {"capability_tags": "read"}, "invalid_option", "capability_tags"),
        ("critic", {"capability_tags": [None]}, "invalid_option", "capability_tags"),
        ("critic", {"capability_tags": None}, None, None),
        ("critic", {"metadata": ["not", "a", "dict"]}, "invalid_option", "metadata"),
        ("critic", {"handlers": {"review": H + "missing"}}, "handler_not_found", "handlers.review"),
    ],
)
def test_rejected_call_raises_its_code_and_writes_nothing(role, overrides, code, field):
    if code is None:  # capability_tags=None means "no tags", the control case
        summary = start(role, **overrides)
        assert Handoff.objects.get(run_id=summary.run_id).capability_tags == []
        return
    with pytest.raises(scoria.ScoriaError) as caught:
        start(role, **overrides)
    assert caught.value.code == code
    assert caught.value.field == field
    assert scoria.list_runs_for_session(SESSION) == []
    assert not Run.objects.exists()
    assert not Step.objects.exists()
    assert not Handoff.objects.exists()
    assert not Event.objects.exists()


@pytest.mark.django_db
def test_missing_delegated_role_id_is_invalid():
    with pytest.raises(scoria.ScoriaError) as caught:
        scoria.start_handoff_run(who(), **handoff_kwargs())
    assert caught.value.code == "invalid_delegated_role_id"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fixed", "code"),
    [
        (0, "invalid_delegated_role_id"),
        (1, "invalid_root_role_id"),
        (2, "invalid_delegated_kind"),
        (3, "invalid_handoff_input"),
        (4, "invalid_projected_context"),
        (5, "unsafe_projected_context"),
    ],
)
def test_validation_order(fixed, code):
    """With every argument wrong, the first one in the documented order is reported."""
    good = ["critic", "planner", "review", BRIEF, {"history": []}]
    bad = [" ", "", "", [], None]
    args = good[:fixed] + bad[fixed:]
    if fixed == 5:  # everything valid but the context's keys
        args = good
    role, root, kind, handoff_input, context = args
    with pytest.raises(scoria.ScoriaError) as caught:
        scoria.start_handoff_run(
            who(),
            role,
            root_role_id=root,
            delegated_kind=kind,
            handoff_input=handoff_input,
            projected_context=context,
            capability_tags="not-a-list",
        )
    assert caught.value.code == code
    assert scoria.list_runs_for_session(SESSION) == []


@pytest.mark.django_db
def test_unsafe_detail_names_the_offending_path():
    with pytest.raises(scoria.ScoriaError) as caught:
        start(projected_context={"task": "t", "items": [{"ok": 1}, {"messages": []}]})
    assert caught.value.code == "unsafe_projected_context"
    assert caught.value.detail.startswith("projected_context.items[1].messages:")


@pytest.mark.django_db
def test_invalid_context_detail_names_the_offending_path():
    with pytest.raises(scoria.ScoriaError) as caught:
        start(scoped_context={"task": {"score": float("nan")}})
    assert caught.value.code == "invalid_projected_context"
    assert caught.value.detail.startswith("scoped_context.task.score:")


@pytest.mark.django_db
def test_scoped_context_wins_over_projected_context():
    summary = start(scoped_context={"task": "scoped"}, projected_context={"chat_history": []})
    child = Step.objects.get(run_id=summary.run_id, sequence=2)
    assert child.projected_context == {"task": "scoped"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key", ["session_id", "secret", "token", "message", "websocket", "task", "draft_answer"]
)
def test_allowed_keys_are_accepted(key):
    summary = start(projected_context={key: "value", "nested": [{key: 1}]})
    assert delegated(summary.run_id)[0]["projected_context"] == {
        key: "value",
        "nested": [{key: 1}],
    }


@pytest.mark.django_db
@pytest.mark.parametrize(
    "context",
    [
        {"RequestHeaders": {}},
        {"HTTPHeaders": {}},
        {"chat-history": []},
        {"socket_id": "s"},
        {"task": {"provider_session": {}}},
        {"items": [{"messages": []}]},
    ],
)
def test_rejected_key_examples(context):
    with pytest.raises(scoria.ScoriaError) as caught:
        start(projected_context=context)
    assert caught.value.code == "unsafe_projected_context"
    assert scoria.list_runs_for_session(SESSION) == []


# -- what start_handoff_run writes -------------------------------------------------------


@pytest.mark.django_db
def test_writes_the_run_the_handoff_step_the_handoff_and_the_queued_child():
    summary = start(capability_tags=("read", 3), metadata={"ticket": "T-1"}, payload={"p": 1})
    assert summary.status == "running"
    assert summary.session_id == SESSION
    assert summary.actor_id == "42"
    assert summary.root_role_id == "planner"

    parent, child = Step.objects.filter(run_id=summary.run_id).order_by("sequence")
    assert (parent.sequence, parent.kind, parent.role_id) == (1, "handoff", "planner")
    assert parent.status == "completed"
    assert parent.output == {"handoff": "critic"}
    assert parent.completed_at is not None

    assert (child.sequence, child.kind, child.role_id) == (2, "review", "critic")
    assert child.status == "queued"
    assert child.parent_step_id == parent.pk
    assert child.handoff_input == BRIEF
    assert child.projected_context == CONTEXT
    assert summary.current_step_id == str(child.pk)

    handoff = Handoff.objects.get(run_id=summary.run_id)
    assert handoff.parent_step_id == parent.pk
    assert handoff.child_step_id == child.pk
    assert handoff.delegated_role_id == "critic"
    assert handoff.delegated_kind == "review"
    assert handoff.capability_tags == ["read", "3"]
    assert handoff.handoff_input == BRIEF
    assert handoff.status == "queued"

    run = Run.objects.get(pk=summary.run_id)
    assert run.metadata["ticket"] == "T-1"
    assert run.metadata["payload"] == {"p": 1}
    assert run.metadata["identity"]["session_id"] == SESSION

    events = list(
        Event.objects.filter(run_id=summary.run_id)
        .order_by("sequence")
        .values_list("event_type", flat=True)
    )
    assert events == ["run_started", "step_completed", "handoff_created", "step_queued"]


@pytest.mark.django_db(transaction=True)
def test_guides_branch_same_session_fresh_run_with_one_delegated_item():
    """The guide's branch: start_run, then start_handoff_run with the same identity."""
    identity = scoria.identity(
        {"actor_id": 7, "tenant_id": 3, "session_id": "sess-guide", "metadata": {"channel": "w"}}
    )
    started = scoria.start_run(identity, root_role_id="executor")
    handoff_run = scoria.start_handoff_run(
        identity,
        "critic",
        root_role_id="planner",
        delegated_kind="review",
        handoff_input=BRIEF,
        projected_context=CONTEXT,
        handlers={"review": H + "review"},
    )
    assert handoff_run.session_id == started.session_id == "sess-guide"
    assert handoff_run.run_id != started.run_id
    assert {run.run_id for run in scoria.list_runs_for_session("sess-guide")} == {
        started.run_id,
        handoff_run.run_id,
    }

    detail = scoria.get_run_detail(handoff_run.run_id)
    assert len(detail.delegated_handoffs) == 1
    item = detail.delegated_handoffs[0]
    assert item["handoff_input"] == BRIEF
    assert item["projected_context"] == CONTEXT
    assert item["parent_role_id"] == "planner"
    assert item["delegated_role_id"] == "critic"
    assert item["delegated_kind"] == "review"
    assert scoria.get_run_detail(started.run_id).delegated_handoffs == []


# -- the handoff's status follows its child; the run follows the child -------------------


@pytest.mark.django_db(transaction=True)
def test_child_dispatched_through_a_handler_completes_the_run():
    summary = start(handlers={"review": H + "review"})
    assert summary.status == "completed"
    detail = scoria.get_run_detail(summary.run_id)
    child = detail.steps[1]
    assert child["status"] == "completed"
    assert child["output"] == {
        "brief": BRIEF["brief"],
        "reviewed": CONTEXT["draft_answer"],
        "role": "critic",
    }
    assert detail.output == child["output"]
    assert detail.handoffs[0]["status"] == "completed"
    item = detail.delegated_handoffs[0]
    assert item["status"] == item["child_status"] == "completed"
    assert item["child_step_id"] == child["id"]


@pytest.mark.django_db(transaction=True)
def test_handler_from_settings_dispatches_the_child(settings):
    settings.SCORIA_HANDLERS = {**settings.SCORIA_HANDLERS, "review": H + "review"}
    summary = start()
    assert summary.status == "completed"
    assert delegated(summary.run_id)[0]["status"] == "completed"


@pytest.mark.django_db(transaction=True)
def test_without_a_handler_the_child_stays_queued():
    summary = start()
    assert scoria.get_run(summary.run_id).status == "running"
    assert delegated(summary.run_id)[0]["status"] == "queued"


@pytest.mark.django_db(transaction=True)
def test_handoff_status_is_running_while_the_child_is_claimed():
    summary = start(handlers={"audit": H + "review"})  # no handler for "review" yet
    child = Step.objects.get(run_id=summary.run_id, sequence=2)
    Run.objects.filter(pk=summary.run_id).update(handlers={"review": H + "review"})
    assert claim_step(summary.run_id, child.pk) is not None
    assert Handoff.objects.get(run_id=summary.run_id).status == "running"
    assert delegated(summary.run_id)[0]["status"] == "running"


@pytest.mark.django_db(transaction=True)
def test_handoff_waits_with_its_child_and_completes_after_resume():
    summary = start(handlers={"review": H + "review_after_approval"})
    assert summary.status == "waiting_for_approval"
    assert delegated(summary.run_id)[0]["status"] == "waiting_for_approval"

    resumed = scoria.resume_run(summary.run_id, identity={"actor_id": "boss"})
    assert resumed.run_id == summary.run_id
    assert resumed.status == "completed"
    item = delegated(summary.run_id)[0]
    assert item["status"] == "completed"
    assert Step.objects.get(pk=item["child_step_id"]).output == {"approved_by": "boss"}


@pytest.mark.django_db(transaction=True)
def test_handoff_fails_with_its_child():
    summary = start(handlers={"review": H + "review_rejects"})
    assert summary.status == "failed"
    assert delegated(summary.run_id)[0]["status"] == "failed"
    parent = Step.objects.get(run_id=summary.run_id, sequence=1)
    assert parent.status == "completed"  # the delegation itself happened


@pytest.mark.django_db(transaction=True)
def test_failed_child_is_retried_by_resume_and_the_handoff_completes():
    summary = start(handlers={"review": H + "review_fails_first_attempt"})
    assert summary.status == "failed"
    assert delegated(summary.run_id)[0]["status"] == "failed"
    resumed = scoria.resume_run(summary.run_id)
    assert (resumed.run_id, resumed.status) == (summary.run_id, "completed")
    item = delegated(summary.run_id)[0]
    assert item["status"] == "completed"
    assert Step.objects.get(pk=item["child_step_id"]).attempt == 2
    assert Step.objects.filter(run_id=summary.run_id).count() == 2  # no new child


@pytest.mark.django_db(transaction=True)
def test_cancel_cascades_to_the_handoff():
    summary = start()
    cancelled = scoria.cancel_run(summary.run_id, reason="no longer needed")
    assert cancelled.status == "cancelled"
    item = delegated(summary.run_id)[0]
    assert item["status"] == item["child_status"] == "cancelled"
    assert Handoff.objects.get(run_id=summary.run_id).status == "cancelled"
    child = Step.objects.get(pk=item["child_step_id"])
    assert child.cancel_reason == "no longer needed"


# -- handlers returning scoria.handoff(...) ---------------------------------------------


def run_with(first_kind, handlers):
    return scoria.start_run(
        who(),
        root_role_id="writer",
        initial_step={"kind": first_kind, "role_id": "writer"},
        handlers={kind: H + name for kind, name in handlers.items()},
    )


@pytest.mark.django_db(transaction=True)
def test_handler_handoff_writes_the_same_rows():
    summary = run_with("draft", {"draft": "delegate", "review": "review"})
    assert summary.status == "completed"
    parent, child = Step.objects.filter(run_id=summary.run_id).order_by("sequence")
    assert (parent.kind, parent.role_id, parent.status) == ("draft", "writer", "completed")
    assert parent.output == {"handoff": "critic"}
    assert (child.kind, child.role_id, child.parent_step_id) == ("review", "critic", parent.pk)
    assert child.handoff_input == {"brief": "Review the draft answer"}
    assert child.projected_context == DRAFT_CONTEXT
    assert child.status == "completed"
    handoff = Handoff.objects.get(run_id=summary.run_id)
    assert (handoff.parent_step_id, handoff.child_step_id) == (parent.pk, child.pk)
    assert handoff.capability_tags == ["read", "7"]
    item = delegated(summary.run_id)[0]
    assert (item["parent_step_sequence"], item["child_step_sequence"]) == (1, 2)
    assert item["status"] == "completed"


@pytest.mark.django_db(transaction=True)
def test_handler_handoff_from_a_later_step():
    summary = run_with("plan", {"plan": "plan_then_delegate", "draft": "delegate"})
    assert summary.status == "running"  # no handler for "review": the child waits
    item = delegated(summary.run_id)[0]
    assert (item["parent_step_sequence"], item["parent_role_id"]) == (2, "writer")
    assert (item["child_step_sequence"], item["status"]) == (3, "queued")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("handler", "reason", "path"),
    [
        ("delegate_chat_history", "unsafe_projected_context", "projected_context.chatHistory"),
        ("delegate_nested_unsafe", "unsafe_projected_context", "projected_context.items[0]"),
        ("delegate_list_context", "invalid_projected_context", None),
        ("delegate_without_context", "invalid_projected_context", None),
        ("delegate_nan_context", "invalid_projected_context", "projected_context.score"),
        ("delegate_blank_role", "invalid_delegated_role_id", None),
        ("delegate_blank_kind", "invalid_delegated_kind", None),
        ("delegate_list_input", "invalid_handoff_input", None),
        ("delegate_string_tags", "invalid_option", None),
    ],
)
def test_rejected_handler_handoff_fails_the_step_with_the_envelope(handler, reason, path):
    summary = run_with("draft", {"draft": handler, "review": "review"})
    assert summary.status == "failed"
    step = Step.objects.get(run_id=summary.run_id)  # no child was created
    assert step.status == "failed"
    assert step.error["reason"] == reason
    assert step.error["contract"] == HANDOFF_CONTRACT == "bounded_handoff_projected_context"
    if path:
        assert step.error["detail"].startswith(path)
    assert not Handoff.objects.filter(run_id=summary.run_id).exists()
    assert scoria.get_run_detail(summary.run_id).delegated_handoffs == []


# -- readback: ordering, pending children, matching --------------------------------------


def _add_handoff(run_id, parent, *, created_at, child=None, role="auditor", kind="audit"):
    return Handoff.objects.create(
        run_id=run_id,
        parent_step=parent,
        child_step=child,
        delegated_role_id=role,
        delegated_kind=kind,
        capability_tags=["x"],
        handoff_input={"brief": "late"},
        created_at=created_at,
    )


@pytest.mark.django_db(transaction=True)
def test_two_handoffs_with_one_pending_child_in_sequence_order():
    summary = start(handlers={"review": H + "delegate_to_auditor"})
    assert summary.status == "running"  # the auditor has no handler: step 3 queued
    first = Handoff.objects.get(run_id=summary.run_id, parent_step__sequence=1)
    second = Handoff.objects.get(run_id=summary.run_id, parent_step__sequence=2)
    # A third handoff, recorded without a child, under step 1 and created first of all.
    step_one = first.parent_step
    pending = _add_handoff(
        summary.run_id,
        step_one,
        created_at=first.created_at - timedelta(seconds=1),
        role="legal",
        kind="legal_review",
    )

    items = delegated(summary.run_id)
    assert [item["handoff_id"] for item in items] == [
        str(pending.pk),
        str(first.pk),
        str(second.pk),
    ]
    assert [item["status"] for item in items] == ["child_step_pending", "completed", "queued"]
    assert [item["parent_step_sequence"] for item in items] == [1, 1, 2]

    pending_item = items[0]
    assert pending_item["child_status"] == "child_step_pending"
    assert pending_item["projected_context"] == {}
    assert pending_item["child_step_id"] is None
    assert pending_item["child_step_sequence"] is None
    assert pending_item["child_role_id"] is None
    assert pending_item["parent_role_id"] == "planner"

    second_item = items[2]
    assert second_item["parent_role_id"] == "critic"
    assert second_item["child_role_id"] == "auditor"
    assert second_item["child_step_sequence"] == 3
    assert second_item["projected_context"] == {"finding": "ok"}

    handoffs = scoria.get_run_detail(summary.run_id).handoffs
    assert [row["status"] for row in handoffs] == ["child_step_pending", "completed", "queued"]


@pytest.mark.django_db
def test_parent_sequence_orders_before_creation_time():
    summary = start()
    first = Handoff.objects.get(run_id=summary.run_id)
    child = first.child_step
    earlier = _add_handoff(
        summary.run_id, child, created_at=first.created_at - timedelta(minutes=5)
    )
    items = delegated(summary.run_id)
    assert [item["handoff_id"] for item in items] == [str(first.pk), str(earlier.pk)]
    assert items[1]["status"] == "child_step_pending"


@pytest.mark.django_db
def test_unlinked_child_is_matched_by_parent_step_role_and_kind():
    summary = start()
    first = Handoff.objects.get(run_id=summary.run_id)
    parent = first.parent_step
    now = first.created_at
    # A second handoff from the same parent step to the same role and kind, unlinked:
    # the linked child of the first handoff is never taken for it.
    twin = _add_handoff(summary.run_id, parent, created_at=now, role="critic", kind="review")
    by_id = {item["handoff_id"]: item for item in delegated(summary.run_id)}
    assert by_id[str(first.pk)]["status"] == "queued"
    assert by_id[str(twin.pk)]["status"] == "child_step_pending"

    # Its own child arrives later, unlinked: matched by parent step, role and kind only.
    Step.objects.create(
        run_id=summary.run_id,
        sequence=3,
        kind="review",
        role_id="other",
        parent_step=parent,
        created_at=now,
        updated_at=now,
        projected_context={"wrong": "role"},
    )
    Step.objects.create(
        run_id=summary.run_id,
        sequence=4,
        kind="review",
        role_id="critic",
        parent_step=parent,
        created_at=now,
        updated_at=now,
        projected_context={"task": "second look"},
    )
    items = delegated(summary.run_id)
    by_id = {item["handoff_id"]: item for item in items}
    assert by_id[str(first.pk)]["child_step_sequence"] == 2
    assert by_id[str(twin.pk)]["child_step_sequence"] == 4
    assert by_id[str(twin.pk)]["status"] == "queued"
    assert by_id[str(twin.pk)]["projected_context"] == {"task": "second look"}


@pytest.mark.django_db
def test_delegated_item_has_every_spec_field():
    summary = start(capability_tags=["read"])
    item = delegated(summary.run_id)[0]
    parent, child = Step.objects.filter(run_id=summary.run_id).order_by("sequence")
    handoff = Handoff.objects.get(run_id=summary.run_id)
    assert item == {
        "handoff_id": str(handoff.pk),
        "parent_step_id": str(parent.pk),
        "parent_step_sequence": 1,
        "parent_role_id": "planner",
        "delegated_role_id": "critic",
        "delegated_kind": "review",
        "handoff_input": BRIEF,
        "capability_tags": ["read"],
        "child_step_id": str(child.pk),
        "child_step_sequence": 2,
        "child_role_id": "critic",
        "child_status": "queued",
        "status": "queued",
        "projected_context": CONTEXT,
        "created_at": handoff.created_at,
    }


@pytest.mark.django_db(transaction=True)
def test_run_without_handoffs_has_empty_lists():
    summary = scoria.start_run(who(), root_role_id="executor")
    detail = scoria.get_run_detail(summary.run_id)
    assert detail.handoffs == []
    assert detail.delegated_handoffs == []


@pytest.mark.django_db
def test_detail_reads_in_a_fixed_number_of_queries(django_assert_num_queries):
    summary = start()
    with django_assert_num_queries(4):  # run, steps, handoffs, events
        scoria.get_run_detail(summary.run_id)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tags", "stored"),
    [
        (["read", "write"], ["read", "write"]),
        (("read", 3), ["read", "3"]),
        ({"write", "read"}, ["read", "write"]),
        ([], []),
    ],
)
def test_capability_tags_are_stored_as_strings(tags, stored):
    summary = start(capability_tags=tags)
    assert Handoff.objects.get(run_id=summary.run_id).capability_tags == stored
    assert delegated(summary.run_id)[0]["capability_tags"] == stored


@pytest.mark.django_db(transaction=True)
def test_handoff_created_signal_is_sent_after_commit():
    from scoria_django import signals

    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    signals.handoff_created.connect(receiver)
    try:
        with pytest.raises(scoria.ScoriaError):
            start(projected_context={"history": []})
        summary = start()
    finally:
        signals.handoff_created.disconnect(receiver)
    handoff = Handoff.objects.get(run_id=summary.run_id)
    assert len(received) == 1
    assert received[0]["run_id"] == summary.run_id
    assert received[0]["handoff_id"] == str(handoff.pk)
    assert (received[0]["delegated_role_id"], received[0]["delegated_kind"]) == (
        "critic",
        "review",
    )
