import re
import uuid

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.urls import reverse

import scoria_django as scoria
from scoria_django.models import Approval, Event, Run
from scoria_django.states import RunStatus, StepStatus
from tests import approval_handlers
from tests.factories import (
    ApprovalFactory,
    EventFactory,
    HandoffFactory,
    RunFactory,
    StepFactory,
)

RESOLVER = "tests.operator_tenants.tenant_from_username"
PENDING_SENTENCE = (
    "The handoff is recorded, but delegated execution has not produced a child-step readback yet."
)
HOSTILE = "<script>alert('x')</script>"


def page_url(run_id):
    return reverse("scoria:workflow_detail", args=[run_id])


def admin_url(run_id):
    return reverse("admin:scoria_django_run_evidence", args=[str(run_id)])


def make_operator(username, *permissions, is_staff=True):
    user = User.objects.create_user(username, password="pw", is_staff=is_staff)
    codenames = ("view_run", *permissions)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def operator(db):
    return make_operator("ops")


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def start(db, django_capture_on_commit_callbacks):
    """Start runs through the facade, executing the inline dispatch as a commit would."""

    def start_run(*, tenant_id=None, kind="echo", input=None, **options):
        who = scoria.identity(actor_id="user-1", tenant_id=tenant_id, session_id="s-1")
        with django_capture_on_commit_callbacks(execute=True):
            started = scoria.start_run(
                who, initial_step={"kind": kind, "role_id": "executor", "input": input}, **options
            )
        return scoria.get_run(started.run_id)

    return start_run


def text_of(response):
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# Contents ------------------------------------------------------------------------------


def test_waiting_run_shows_status_approval_request_steps_and_events(operator_client, start):
    run = start(kind="approval")
    assert run.status == RunStatus.WAITING_FOR_APPROVAL

    html = text_of(operator_client.get(page_url(run.run_id)))

    assert run.run_id in html
    assert "waiting_for_approval" in html
    assert "Approval Requested" in html
    assert "send_email" in html and "external" in html  # tool name and reason
    assert "a@example.com" in html  # the request's arguments
    assert "attempt 1" in html
    for event_type in ("run_started", "step_queued", "step_waiting_for_approval"):
        assert event_type in html
    assert "<time datetime=" in html
    assert 'href="#delegated-evidence"' in html and "Inspect Delegated Evidence" in html
    assert 'id="delegated-evidence"' in html
    assert "No Delegated Handoffs Recorded" in html


def test_completed_run_shows_output_timestamps_and_no_approval(operator_client, start):
    run = start(kind="echo", input={"question": "what is scoria?"})
    assert run.status == RunStatus.COMPLETED

    html = text_of(operator_client.get(page_url(run.run_id)))

    assert ">completed<" in html
    assert "what is scoria?" in html
    assert "run_completed" in html and "step_completed" in html
    assert "Approval Requested" not in html
    assert html.count("<time datetime=") >= 5  # run and step timestamps, event times
    assert "No Delegated Handoffs Recorded" in html


def test_events_are_listed_in_sequence_order(operator_client, start):
    run = start(kind="echo")
    expected = list(
        Event.objects.filter(run_id=run.run_id).order_by("sequence").values_list("event_type")
    )

    html = text_of(operator_client.get(page_url(run.run_id)))
    section = html.split('id="scoria-events"')[1].split("</section>")[0]
    shown = re.findall(r"<td><code>([a-z_]+)</code></td>", section)

    assert shown == [event_type for (event_type,) in expected]


def test_handoff_run_shows_delegated_evidence(operator_client, db):
    who = scoria.identity(actor_id="user-1", session_id="s-1")
    long_draft = "d" * 120
    run = scoria.start_handoff_run(
        who,
        "critic",
        root_role_id="planner",
        delegated_kind="review",
        handoff_input={"brief": "Review the draft answer"},
        projected_context={
            "task": "policy-and-accuracy review",
            "draft_answer": long_draft,
            "audience": "support",
            "zeta": "not in the preview",
        },
        capability_tags=["read_only", "cite_sources"],
    )

    html = text_of(operator_client.get(page_url(run.run_id)))
    section = html.split('id="delegated-evidence"')[1]

    assert "planner to critic" in section
    assert "review" in section
    assert "read_only" in section and "cite_sources" in section
    # The child exists but no handler ran it: its status is read back as queued.
    assert ">queued<" in section
    assert PENDING_SENTENCE not in section
    # Preview: the first three keys, sorted; long strings cut to 77 characters + "...".
    preview = section.split('class="scoria-preview"')[1].split("</ul>")[0]
    keys = re.findall(r"<li><code>([a-z_]+)</code>", preview)
    assert keys == ["audience", "draft_answer", "task"]
    assert "d" * 77 + "..." in preview and "d" * 78 not in preview
    assert "zeta" not in preview and "and 1 more key" in section
    full = section.split("View full context</summary>")[1].split("</details>")[0]
    assert long_draft in full and "not in the preview" in full
    assert "Step 1" in section and "Step 2" in section  # parent and child step


def test_handoff_without_child_step_reads_back_as_pending(operator_client, db):
    run = RunFactory(root_role_id="planner")
    parent = StepFactory(run=run, role_id="planner", kind="handoff")
    HandoffFactory(run=run, parent_step=parent, child_step=None, delegated_role_id="critic")

    html = text_of(operator_client.get(page_url(run.pk)))
    section = html.split('id="delegated-evidence"')[1]

    assert "planner to critic" in section
    assert "child step pending" in section
    assert PENDING_SENTENCE in section
    assert "No Delegated Handoffs Recorded" not in section


def test_step_tree_indents_children_under_their_parent(operator_client, db):
    run = RunFactory()
    root = StepFactory(run=run, kind="plan")
    other_root = StepFactory(run=run, kind="summarise")
    child = StepFactory(run=run, kind="review", parent_step=root)
    StepFactory(run=run, kind="check", parent_step=child)

    html = text_of(operator_client.get(page_url(run.pk)))
    tree = re.findall(r'data-depth="(\d)" id="step-([0-9a-f-]+)"', html)

    # Tree order: each child right after its parent, the later root after the subtree.
    assert [int(depth) for depth, _ in tree] == [0, 1, 2, 0]
    assert tree[0][1] == str(root.pk) and tree[3][1] == str(other_root.pk)
    assert "child of step 1" in html


# Redaction and escaping --------------------------------------------------------------


def test_secrets_are_redacted_everywhere_on_the_page(operator_client, start):
    secret_input = {
        "api_key": "key-value-1",
        "X-Api-Key": "key-value-2",
        "nested": [{"password": "pw-value"}, {"clientSecret": "cs-value"}],
        "headers_seen": "Authorization: Bearer abc.def.ghi",
        "note": "use sk-live1234567890abcdef for billing",
        "Cookie": "sessionid=cookie-value",
        "max_tokens": 512,
    }
    run = start(kind="echo", input=secret_input, metadata={"access_token": "tok-value"})

    html = text_of(operator_client.get(page_url(run.run_id)))

    for leaked in (
        "key-value-1",
        "key-value-2",
        "pw-value",
        "cs-value",
        "abc.def.ghi",
        "sk-live1234567890abcdef",
        "cookie-value",
        "tok-value",
    ):
        assert leaked not in html
    assert "[redacted]" in html
    assert "Bearer [redacted]" in html
    assert "512" in html  # max_tokens is a model parameter, not a credential


def test_real_secrets_in_errors_tags_and_urls_are_redacted_on_the_page(operator_client, db):
    run = RunFactory(
        root_role_id="planner",
        status=RunStatus.FAILED,
        error={"reason": "exception", "message": "connect postgres://app:pg-pw-1@db/prod"},
        input={"aws_secret_access_key": "aws-sk-2", "api_keys": ["ak-3"], "pwd": "pw-4"},
    )
    parent = StepFactory(
        run=run,
        role_id="planner",
        kind="handoff",
        status=StepStatus.FAILED,
        error={"reason": "exception", "message": "401 for Authorization: Basic dXNlcjpwdw=="},
    )
    child = StepFactory(run=run, parent_step=parent, role_id="critic", kind="review")
    HandoffFactory(
        run=run,
        parent_step=parent,
        child_step=child,
        delegated_role_id="critic",
        capability_tags=["read_only", "token=ghp_" + "x1" * 18],
    )

    html = text_of(operator_client.get(page_url(run.pk)))

    for leaked in ("pg-pw-1", "aws-sk-2", "ak-3", "pw-4", "dXNlcjpwdw==", "ghp_x1x1"):
        assert leaked not in html
    assert "postgres://app:[redacted]@db/prod" in html
    assert "Authorization: Basic [redacted]" in html
    assert "read_only" in html and "token=[redacted]" in html


def test_secrets_in_the_projected_context_preview_are_redacted(operator_client, db):
    run = RunFactory(root_role_id="planner")
    parent = StepFactory(run=run, role_id="planner", kind="handoff")
    child = StepFactory(
        run=run,
        parent_step=parent,
        role_id="critic",
        kind="review",
        status=StepStatus.QUEUED,
        projected_context={"api_token": "t-123456", "brief": "Bearer zzz-secret"},
    )
    HandoffFactory(run=run, parent_step=parent, child_step=child, delegated_role_id="critic")

    html = text_of(operator_client.get(page_url(run.pk)))

    assert "t-123456" not in html and "zzz-secret" not in html
    assert "<code>api_token</code>: [redacted]" in html


def test_hostile_values_are_escaped(operator_client, db):
    run = RunFactory(root_role_id=HOSTILE, session_id=HOSTILE)
    parent = StepFactory(run=run, role_id=HOSTILE, kind="handoff", input={HOSTILE: HOSTILE})
    child = StepFactory(
        run=run,
        parent_step=parent,
        role_id=HOSTILE,
        kind=HOSTILE,
        status=StepStatus.QUEUED,
        projected_context={HOSTILE: HOSTILE},
    )
    HandoffFactory(
        run=run,
        parent_step=parent,
        child_step=child,
        delegated_role_id=HOSTILE,
        delegated_kind=HOSTILE,
        capability_tags=[HOSTILE],
    )
    EventFactory(run=run, event_type="note", actor_id=HOSTILE, payload={"text": HOSTILE})

    html = text_of(operator_client.get(page_url(run.pk)))

    assert "<script>" not in html.replace('<script src="', "")
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


# Access --------------------------------------------------------------------------------


def test_anonymous_and_non_staff_are_sent_to_the_admin_login(client, db):
    run = RunFactory()
    anonymous = client.get(page_url(run.pk))
    client.force_login(make_operator("member", is_staff=False))
    member = client.get(page_url(run.pk))

    for response in (anonymous, member):
        assert response.status_code == 302
        assert response.url.startswith(reverse("admin:login"))


def test_staff_without_view_permission_is_forbidden(client, db):
    run = RunFactory()
    user = User.objects.create_user("bare-staff", password="pw", is_staff=True)
    client.force_login(user)

    assert client.get(page_url(run.pk)).status_code == 403


def test_tenant_operator_sees_own_tenant_and_gets_identical_404_for_others(client, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    client.force_login(make_operator("ops@acme"))
    own = RunFactory(tenant_id="acme")
    foreign = RunFactory(tenant_id="globex")
    untenanted = RunFactory(tenant_id=None)

    assert client.get(page_url(own.pk)).status_code == 200
    foreign_response = client.get(page_url(foreign.pk))
    missing_response = client.get(page_url(uuid.uuid4()))
    untenanted_response = client.get(page_url(untenanted.pk))

    assert foreign_response.status_code == missing_response.status_code == 404
    assert untenanted_response.status_code == 404
    assert foreign_response.content == missing_response.content
    assert client.get(admin_url(foreign.pk)).status_code == 404


def test_operator_without_tenant_sees_every_tenant(operator_client, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    run = RunFactory(tenant_id="globex")

    assert operator_client.get(page_url(run.pk)).status_code == 200


def test_unknown_run_is_404(operator_client):
    assert operator_client.get(page_url(uuid.uuid4())).status_code == 404
    assert operator_client.get(admin_url("not-a-uuid")).status_code == 404


# The admin route -----------------------------------------------------------------------


def test_admin_route_shows_the_same_evidence(operator_client, start):
    run = start(kind="approval")

    html = text_of(operator_client.get(admin_url(run.run_id)))

    assert run.run_id in html and "Approval Requested" in html
    assert 'id="delegated-evidence"' in html
    assert reverse("admin:scoria_django_run_changelist") in html  # breadcrumbs


def test_admin_change_view_links_to_the_evidence_page(operator_client, db):
    run = RunFactory()

    response = operator_client.get(reverse("admin:scoria_django_run_change", args=[run.pk]))

    assert admin_url(run.pk) in text_of(response)


# Resume and cancel buttons ---------------------------------------------------------------


@pytest.mark.parametrize("route", [page_url, admin_url])
def test_resume_button_resumes_the_waiting_run(
    client, start, route, django_capture_on_commit_callbacks
):
    operator = make_operator("approver", "resume_run")
    client.force_login(operator)
    run = start(kind="approval")
    url = route(run.run_id)

    assert 'value="resume"' in text_of(client.get(url))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"action": "resume"})

    assert response.status_code == 302 and response.url == url
    resumed = scoria.get_run(run.run_id)
    assert resumed.status == RunStatus.COMPLETED and resumed.run_id == run.run_id
    event = Event.objects.get(run_id=run.run_id, event_type="resume_requested")
    assert event.actor_id == str(operator.pk)
    assert "resumed; status is now" in text_of(client.get(url))  # message_user


@pytest.mark.parametrize("route", [page_url, admin_url])
def test_cancel_button_cancels_with_a_reason(client, start, route):
    operator = make_operator("canceller", "cancel_run")
    client.force_login(operator)
    run = start(kind="approval")
    url = route(run.run_id)

    assert 'value="cancel"' in text_of(client.get(url))
    client.post(url, {"action": "cancel", "reason": "duplicate request"})

    stored = Run.objects.get(pk=run.run_id)
    assert stored.status == RunStatus.CANCELLED
    assert stored.cancel_reason == "duplicate request"
    assert Event.objects.get(run=stored, event_type="run_cancelled").actor_id == str(operator.pk)
    assert "cancelled; status is now cancelled" in text_of(client.get(url))


def test_buttons_are_hidden_and_posts_forbidden_without_permission(operator_client, start):
    run = start(kind="approval")
    url = page_url(run.run_id)

    html = text_of(operator_client.get(url))
    resume = operator_client.post(url, {"action": "resume"})
    cancel = operator_client.post(url, {"action": "cancel"})

    assert 'value="resume"' not in html and 'value="cancel"' not in html
    assert resume.status_code == cancel.status_code == 403
    assert scoria.get_run(run.run_id).status == RunStatus.WAITING_FOR_APPROVAL


def test_buttons_follow_the_run_state(client, start):
    client.force_login(make_operator("both", "resume_run", "cancel_run"))
    run = start(kind="echo")

    html = text_of(client.get(page_url(run.run_id)))

    assert 'value="resume"' not in html and 'value="cancel"' not in html


def test_refused_action_reports_the_scoria_error_code(client, start):
    client.force_login(make_operator("approver", "resume_run"))
    run = start(kind="echo")  # completed: not resumable
    url = page_url(run.run_id)

    response = client.post(url, {"action": "resume"}, follow=True)

    assert "not_resumable" in text_of(response)
    assert scoria.get_run(run.run_id).status == RunStatus.COMPLETED


def test_overlong_cancel_reason_is_refused(client, start):
    client.force_login(make_operator("canceller", "cancel_run"))
    run = start(kind="approval")

    response = client.post(
        page_url(run.run_id), {"action": "cancel", "reason": "x" * 501}, follow=True
    )

    assert "invalid_cancel_reason" in text_of(response)
    assert scoria.get_run(run.run_id).status == RunStatus.WAITING_FOR_APPROVAL


def test_unknown_action_is_a_bad_request(client, start):
    client.force_login(make_operator("both", "resume_run", "cancel_run"))
    run = start(kind="approval")

    assert client.post(page_url(run.run_id), {"action": "delete"}).status_code == 400


def test_actions_need_a_csrf_token(start, db):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_operator("canceller", "cancel_run"))
    run = start(kind="approval")

    response = csrf_client.post(page_url(run.run_id), {"action": "cancel"})

    assert response.status_code == 403
    assert scoria.get_run(run.run_id).status == RunStatus.WAITING_FOR_APPROVAL


def test_actions_on_a_foreign_tenant_run_are_404(client, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    client.force_login(make_operator("ops@acme", "cancel_run"))
    foreign = RunFactory(tenant_id="globex", status=RunStatus.RUNNING)

    response = client.post(page_url(foreign.pk), {"action": "cancel"})

    assert response.status_code == 404
    assert Run.objects.get(pk=foreign.pk).status == RunStatus.RUNNING


# Query count -----------------------------------------------------------------------------


def build_run(steps, events):
    run = RunFactory(root_role_id="planner")
    parent = StepFactory(run=run, role_id="planner", kind="handoff")
    for _ in range(steps):
        child = StepFactory(
            run=run,
            parent_step=parent,
            role_id="critic",
            kind="review",
            status=StepStatus.QUEUED,
            projected_context={"task": "t"},
        )
        HandoffFactory(run=run, parent_step=parent, child_step=child, delegated_role_id="critic")
    for _ in range(events):
        EventFactory(run=run, step=parent, payload={"n": 1})
    return run


def test_query_count_is_constant_in_steps_and_events(client, django_assert_num_queries, db):
    client.force_login(make_operator("counter", "resume_run", "cancel_run"))
    small, large = build_run(1, 1), build_run(12, 40)

    for _ in range(6):
        ApprovalFactory(step=large.steps.first(), status="approved")
    ApprovalFactory(step=large.steps.first())

    # session, user, permissions (user + groups), then run, steps, handoffs, events, approvals.
    with django_assert_num_queries(9):
        assert client.get(page_url(small.pk)).status_code == 200
    with django_assert_num_queries(9):
        assert client.get(page_url(large.pk)).status_code == 200


# Approvals --------------------------------------------------------------------------------


@pytest.fixture
def gated(start):
    """A waiting run of ``approval_handlers.gated``, with the request options given."""

    def start_gated(tenant_id=None, **options):
        approval_handlers.RUNS.clear()
        return start(
            kind="gated",
            input={"options": options},
            tenant_id=tenant_id,
            handlers={"gated": approval_handlers.gated},
        )

    return start_gated


def decide(client, run_id, action, approval, **fields):
    return client.post(
        page_url(run_id), {"action": action, "approval_id": str(approval.pk), **fields}
    )


def the_approval(run):
    return Approval.objects.get(run_id=run.run_id)


def test_each_approval_with_its_decision_trail(client, gated, django_capture_on_commit_callbacks):
    client.force_login(make_operator("viewer"))
    run = gated(assignees=["ops"], groups=["leads"], expires_in=600)
    with django_capture_on_commit_callbacks(execute=True):
        scoria.reject(run.run_id, identity={"actor_id": "ops"}, reason="wrong <tone>")

    html = text_of(client.get(page_url(run.run_id)))
    section = html.split('id="scoria-approvals"')[1].split("</section>")[0]

    approval = the_approval(run)
    assert f'id="approval-{approval.pk}"' in section
    assert "send_reply" in section and "rejected" in section
    assert "wrong &lt;tone&gt;" in section  # the reason, escaped
    assert "<code>approval_requested</code>" in section
    assert "<code>approval_decided</code>" in section
    assert "group <code" in section and "leads" in section  # who may decide
    assert 'name="approval_id"' not in section  # decided: no forms


def test_pending_approval_forms_need_the_permission(client, gated):
    client.force_login(make_operator("viewer", "resume_run"))
    run = gated()
    html = text_of(client.get(page_url(run.run_id)))
    assert "Approval Requested" in html
    assert 'value="approve"' not in html and 'value="edit"' not in html

    response = decide(client, run.run_id, "approve", the_approval(run))

    assert response.status_code == 403
    assert the_approval(run).status == "pending"


@pytest.mark.parametrize("route", [page_url, admin_url])
def test_approve_from_the_page_writes_a_log_entry(
    client, gated, route, django_capture_on_commit_callbacks
):
    operator = make_operator("decider", "decide_approval")
    client.force_login(operator)
    run = gated()
    approval = the_approval(run)
    url = route(run.run_id)
    html = text_of(client.get(url))
    for action in ("approve", "reject", "edit"):
        assert f'value="{action}"' in html

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            url, {"action": "approve", "approval_id": str(approval.pk), "comment": "ok"}
        )

    assert response.status_code == 302 and response.url == url
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.comment) == (
        "approved",
        str(operator.pk),
        "ok",
    )
    assert scoria.get_run(run.run_id).status == RunStatus.COMPLETED
    entry = LogEntry.objects.get(object_id=str(approval.pk))
    assert (entry.user_id, entry.action_flag) == (operator.pk, CHANGE)
    assert entry.change_message == "Approved on the evidence page: ok"
    assert "approved; run status is now" in text_of(client.get(url))  # message_user


def test_reject_with_a_reason_from_the_page(client, gated, django_capture_on_commit_callbacks):
    client.force_login(make_operator("decider", "decide_approval"))
    run = gated()
    with django_capture_on_commit_callbacks(execute=True):
        decide(client, run.run_id, "reject", the_approval(run), reason="too pushy")

    approval = the_approval(run)
    assert (approval.status, approval.decision_reason) == ("rejected", "too pushy")
    entry = LogEntry.objects.get(object_id=str(approval.pk))
    assert entry.change_message == "Rejected on the evidence page: too pushy"


def test_edited_arguments_reach_the_handler(client, gated, django_capture_on_commit_callbacks):
    client.force_login(make_operator("decider", "decide_approval"))
    run = gated()
    with django_capture_on_commit_callbacks(execute=True):
        decide(client, run.run_id, "edit", the_approval(run), arguments='{"text": "edited"}')

    approval = the_approval(run)
    assert approval.status == "approved"
    assert approval.edited_arguments == {"text": "edited"}
    assert (approval_handlers.RUNS[0][0]["arguments"]) == {"text": "edited"}
    html = text_of(client.get(page_url(run.run_id)))
    assert "Edited arguments" in html
    message = LogEntry.objects.get(object_id=str(approval.pk)).change_message
    assert message == "Approved with edited arguments on the evidence page."


@pytest.mark.parametrize("text", ["{not json", "", "NaN", "[" * 100_000])
def test_invalid_edited_arguments_rerender_and_decide_nothing(client, gated, text):
    client.force_login(make_operator("decider", "decide_approval"))
    run = gated()

    response = decide(client, run.run_id, "edit", the_approval(run), arguments=text)

    html = text_of(response)
    assert 'class="errorlist scoria-decision-error"' in html
    if text:
        assert text[:20] in html  # what was typed is kept in the textarea
    assert the_approval(run).status == "pending"
    assert not LogEntry.objects.exists()


def test_the_policy_refusal_is_a_message_and_changes_nothing(client, gated):
    client.force_login(make_operator("decider", "decide_approval"))
    run = gated(assignees=["someone-else"])
    before = Event.objects.filter(run_id=run.run_id).count()

    response = decide(client, run.run_id, "approve", the_approval(run))

    assert response.status_code == 302
    assert "approval_not_allowed" in text_of(client.get(response.url))
    assert the_approval(run).status == "pending"
    assert Event.objects.filter(run_id=run.run_id).count() == before
    assert not LogEntry.objects.exists()


def test_an_assigned_operator_may_decide(client, gated, django_capture_on_commit_callbacks):
    operator = make_operator("assigned", "decide_approval")
    client.force_login(operator)
    run = gated(assignees=[str(operator.pk)])
    with django_capture_on_commit_callbacks(execute=True):
        decide(client, run.run_id, "approve", the_approval(run))
    assert the_approval(run).status == "approved"


def test_a_decision_needs_an_approval_id_of_the_run(client, gated):
    client.force_login(make_operator("decider", "decide_approval"))
    run, other = gated(), gated()

    missing = client.post(page_url(run.run_id), {"action": "approve"})
    foreign = decide(client, run.run_id, "approve", the_approval(other))

    assert missing.status_code == 400
    assert foreign.status_code == 302
    assert "not_found" in text_of(client.get(page_url(run.run_id)))
    assert the_approval(run).status == the_approval(other).status == "pending"


def test_decisions_on_a_foreign_tenant_run_are_404(client, settings, gated):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    client.force_login(make_operator("ops@acme", "decide_approval"))
    run = gated(tenant_id="globex")

    response = decide(client, run.run_id, "approve", the_approval(run))

    assert response.status_code == 404
    assert the_approval(run).status == "pending"


def test_decisions_need_a_csrf_token(gated, db):
    from django.test import Client

    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(make_operator("decider", "decide_approval"))
    run = gated()

    response = decide(csrf_client, run.run_id, "approve", the_approval(run))

    assert response.status_code == 403
    assert the_approval(run).status == "pending"


def _queries_for(client, url, method="get", **data):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        response = getattr(client, method)(url, data)
    return response, [query["sql"] for query in captured.captured_queries]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_foreign_run_costs_what_an_unknown_id_costs(client, settings, db, method):
    """Same queries, same answer: timing cannot tell another tenant's run from no run."""
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    client.force_login(make_operator("ops@acme", "cancel_run"))
    foreign = build_run(12, 40)
    foreign.tenant_id = "globex"
    foreign.save(update_fields=["tenant_id"])
    data = {"action": "cancel"} if method == "post" else {}
    client.get(page_url(uuid.uuid4()))  # warm the session and permission caches alike

    foreign_response, foreign_queries = _queries_for(client, page_url(foreign.pk), method, **data)
    missing_response, missing_queries = _queries_for(client, page_url(uuid.uuid4()), method, **data)

    assert foreign_response.status_code == missing_response.status_code == 404
    assert foreign_response.content == missing_response.content
    assert len(foreign_queries) == len(missing_queries)
    # Not one query reads the foreign run's steps, events or handoffs.
    assert not any("scoria_django_step" in sql for sql in foreign_queries)
