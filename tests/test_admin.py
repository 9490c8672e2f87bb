import datetime
import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from scoria_django.models import Approval, Event, Handoff, Run, Step
from scoria_django.states import RunStatus, StepStatus
from tests.factories import (
    ApprovalFactory,
    EventFactory,
    HandoffFactory,
    RunFactory,
    StepFactory,
)

RESOLVER = "tests.operator_tenants.tenant_from_username"
MODELS = (Run, Step, Handoff, Event, Approval)


def changelist(model):
    return reverse(f"admin:scoria_django_{model._meta.model_name}_changelist")


def result_list(response):
    html = response.content.decode()
    return html.split('id="result_list"')[1].split("</table>")[0]


def listed_run_ids(response):
    html = response.content.decode()
    return set(re.findall(r"/admin/scoria_django/run/([0-9a-f-]{36})/change/", html))


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", password="pw"))
    return client


def test_every_model_is_registered_read_only(db):
    request = RequestFactory().get("/")
    request.user = User.objects.create_superuser("root", password="pw")

    for model in MODELS:
        model_admin = admin.site._registry[model]
        assert model_admin.has_view_permission(request)
        assert not model_admin.has_add_permission(request)
        assert not model_admin.has_change_permission(request)
        assert not model_admin.has_delete_permission(request)


def test_add_change_and_delete_are_refused(superuser_client):
    run = RunFactory()

    assert superuser_client.get(reverse("admin:scoria_django_run_add")).status_code == 403
    change = reverse("admin:scoria_django_run_change", args=[run.pk])
    superuser_client.post(change, {"status": RunStatus.CANCELLED})
    delete = reverse("admin:scoria_django_run_delete", args=[run.pk])

    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    assert Run.objects.get(pk=run.pk).status == RunStatus.RUNNING
    bulk = superuser_client.post(
        changelist(Run), {"action": "delete_selected", "_selected_action": [str(run.pk)]}
    )
    assert bulk.status_code in (200, 302) and Run.objects.filter(pk=run.pk).exists()


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render(superuser_client, model):
    run = RunFactory()
    step = StepFactory(run=run)
    HandoffFactory(run=run, parent_step=step)
    EventFactory(run=run, step=step)

    assert superuser_client.get(changelist(model)).status_code == 200


def test_run_search_by_run_id_session_id_and_actor_id(superuser_client):
    wanted = RunFactory(session_id="conversation-42", actor_id="actor-zed")
    RunFactory(session_id="other", actor_id="someone")

    for term in (str(wanted.pk), "conversation-42", "actor-zed"):
        response = superuser_client.get(changelist(Run), {"q": term})
        assert listed_run_ids(response) == {str(wanted.pk)}, term


def test_step_and_event_search_by_run_id(superuser_client):
    wanted = RunFactory()
    StepFactory(run=wanted, kind="wanted-kind")
    EventFactory(run=wanted, event_type="wanted_event", actor_id="actor-x")
    other = RunFactory()
    StepFactory(run=other, kind="other-kind")
    EventFactory(run=other, event_type="other_event")

    steps = result_list(superuser_client.get(changelist(Step), {"q": str(wanted.pk)}))
    events = result_list(superuser_client.get(changelist(Event), {"q": "actor-x"}))

    assert "wanted-kind" in steps and "other-kind" not in steps
    assert "wanted_event" in events and "other_event" not in events


def test_run_list_filter_by_status(superuser_client):
    done = RunFactory(status=RunStatus.COMPLETED)
    RunFactory(status=RunStatus.RUNNING)

    response = superuser_client.get(changelist(Run), {"status__exact": "completed"})

    assert listed_run_ids(response) == {str(done.pk)}


def test_change_view_shows_redacted_escaped_json(superuser_client):
    run = RunFactory(metadata={"api_key": "sk-abcdefghijk123", "note": "<b>bold</b>"})
    step = StepFactory(run=run, input={"password": "pw-123", "Authorization": "Bearer xyz"})

    run_html = superuser_client.get(
        reverse("admin:scoria_django_run_change", args=[run.pk])
    ).content.decode()
    step_html = superuser_client.get(
        reverse("admin:scoria_django_step_change", args=[step.pk])
    ).content.decode()

    assert "sk-abcdefghijk123" not in run_html and "[redacted]" in run_html
    assert "&lt;b&gt;bold&lt;/b&gt;" in run_html and "<b>bold</b>" not in run_html
    assert "pw-123" not in step_html and "xyz" not in step_html


def test_change_views_redact_capability_tags_and_values_in_messages(superuser_client):
    run = RunFactory(error={"message": "redis://:rd-pw-1@cache:6379 refused"})
    parent = StepFactory(run=run, kind="handoff", error={"detail": "AKIAIOSFODNN7EXAMPLE"})
    handoff = HandoffFactory(
        run=run, parent_step=parent, capability_tags=["read_only", "xoxb-1234567890-abcdef"]
    )

    pages = [
        superuser_client.get(reverse(f"admin:scoria_django_{name}_change", args=[pk]))
        for name, pk in (("run", run.pk), ("step", parent.pk), ("handoff", handoff.pk))
    ]
    html = "".join(page.content.decode() for page in pages)

    assert all(page.status_code == 200 for page in pages)
    for leaked in ("rd-pw-1", "AKIAIOSFODNN7EXAMPLE", "xoxb-1234567890-abcdef"):
        assert leaked not in html
    assert "read_only, [redacted]" in html


def test_tenant_operator_lists_only_their_tenant(client, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    user = User.objects.create_user("ops@acme", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    own = RunFactory(tenant_id="acme")
    StepFactory(run=own, kind="own-kind")
    foreign = RunFactory(tenant_id="globex", root_role_id="globex-role", actor_id="globex-actor")
    StepFactory(run=foreign, kind="foreign-kind")

    runs = client.get(changelist(Run))
    steps = client.get(changelist(Step)).content.decode()
    foreign_change = client.get(reverse("admin:scoria_django_run_change", args=[foreign.pk]))

    assert listed_run_ids(runs) == {str(own.pk)}
    # Not even through the list filters' choices.
    assert "globex-role" not in runs.content.decode()
    assert "own-kind" in steps and "foreign-kind" not in steps
    # The admin's answer to an invisible object: back to the index, never its data.
    assert foreign_change.status_code == 302
    assert "globex-actor" not in client.get(foreign_change.url).content.decode()


def build_handoffs(count):
    run = RunFactory()
    parent = StepFactory(run=run, kind="handoff")
    for _ in range(count):
        child = StepFactory(run=run, parent_step=parent, status=StepStatus.QUEUED)
        HandoffFactory(run=run, parent_step=parent, child_step=child)
        EventFactory(run=run, step=child)
        ApprovalFactory(step=child, assignees=["7"], groups=["leads"])


@pytest.mark.parametrize("model", MODELS)
def test_changelist_query_count_is_constant_in_rows(superuser_client, model):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count_queries():
        with CaptureQueriesContext(connection) as captured:
            assert superuser_client.get(changelist(model)).status_code == 200
        return len(captured)

    build_handoffs(1)
    few = count_queries()
    build_handoffs(15)
    many = count_queries()

    assert few == many


# The approval inbox -------------------------------------------------------------------------


def inbox_ids(client, **params):
    response = client.get(changelist(Approval), params)
    assert response.status_code == 200
    if 'id="result_list"' not in response.content.decode():
        return set()  # the admin draws no table for an empty list
    html = result_list(response)
    return set(re.findall(r"/admin/scoria_django/approval/([0-9a-f-]{36})/change/", html))


@pytest.fixture
def inbox_operator(client, db):
    user = User.objects.create_user("inbox", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    user.groups.add(Group.objects.create(name="leads"))
    client.force_login(user)
    return user


def test_inbox_columns_link_the_run_evidence(client, inbox_operator):
    approval = ApprovalFactory(
        tool_name="send_reply",
        assignees=["ops"],
        groups=["leads"],
        expires_at=timezone.now() + datetime.timedelta(minutes=30),
    )
    response = client.get(changelist(Approval))
    html = result_list(response)

    assert "Approval inbox" in response.content.decode()
    assert "send_reply" in html
    evidence = reverse("admin:scoria_django_run_evidence", args=[str(approval.run_id)])
    assert f'href="{evidence}"' in html
    assert "ops, group leads" in html
    assert re.search(r"(29|30)\xa0minutes", html)


def test_inbox_filters_pending_mine_my_groups_and_expiring(client, inbox_operator):
    now = timezone.now()
    mine = ApprovalFactory(assignees=[str(inbox_operator.pk), "x"])
    not_mine = ApprovalFactory(assignees=[f"{inbox_operator.pk}1"])  # "71" is not "7"
    for_my_group = ApprovalFactory(groups=["other", "leads"])
    for_another_group = ApprovalFactory(groups=["sales"])
    expiring = ApprovalFactory(expires_at=now + datetime.timedelta(minutes=20))
    later = ApprovalFactory(expires_at=now + datetime.timedelta(hours=3))
    decided = ApprovalFactory(status="approved", expires_at=now + datetime.timedelta(minutes=5))

    everything = {str(a.pk) for a in Approval.objects.all()}
    assert inbox_ids(client) == everything
    assert inbox_ids(client, pending="yes") == everything - {str(decided.pk)}
    assert inbox_ids(client, mine="yes") == {str(mine.pk)}
    assert inbox_ids(client, my_groups="yes") == {str(for_my_group.pk)}
    assert inbox_ids(client, expiring="yes") == {str(expiring.pk)}
    assert str(not_mine.pk) not in inbox_ids(client, mine="yes")
    assert str(for_another_group.pk) not in inbox_ids(client, my_groups="yes")
    assert str(later.pk) not in inbox_ids(client, expiring="yes")


def test_my_groups_without_groups_lists_nothing(client, db):
    user = User.objects.create_superuser("loner", password="pw")
    client.force_login(user)
    ApprovalFactory(groups=["leads"])
    assert inbox_ids(client, my_groups="yes") == set()
    assert inbox_ids(client, mine="yes") == set()


def test_the_inbox_is_scoped_to_the_operators_tenant(client, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    user = User.objects.create_user("ops@acme", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__startswith="view_"))
    client.force_login(user)
    own = ApprovalFactory(step__run__tenant_id="acme")
    foreign = ApprovalFactory(step__run__tenant_id="globex", tool_name="globex_tool")

    assert inbox_ids(client) == {str(own.pk)}
    assert "globex_tool" not in client.get(changelist(Approval)).content.decode()
    foreign_change = client.get(reverse("admin:scoria_django_approval_change", args=[foreign.pk]))
    assert foreign_change.status_code == 302


def test_approval_change_page_is_read_only_and_redacted(superuser_client):
    approval = ApprovalFactory(arguments={"api_key": "sk-abcdefghijk123", "to": "a@b.c"})
    url = reverse("admin:scoria_django_approval_change", args=[approval.pk])
    html = superuser_client.get(url).content.decode()
    assert "sk-abcdefghijk123" not in html and "[redacted]" in html
    superuser_client.post(url, {"status": "approved"})
    approval.refresh_from_db()
    assert approval.status == "pending"


# -- the run list fits, the run page shows its steps and events, failed runs retry --------


def test_the_run_list_shows_short_ids_a_status_badge_and_an_age(superuser_client):
    run = RunFactory(status=RunStatus.WAITING_FOR_APPROVAL, session_id="session-" + "x" * 40)
    rows = result_list(superuser_client.get(changelist(Run)))
    assert f'title="{run.pk}"' in rows and str(run.pk)[:8] in rows
    assert 'class="scoria-badge scoria-badge-waiting_for_approval"' in rows
    assert "session-xxxx…" in rows
    headers = re.findall(r'<th scope="col"[^>]*>.*?<a [^>]*>([^<]+)</a>', rows, re.S)
    assert headers == ["Run", "Status", "Kind", "Session", "Age", "Evidence"]


def test_the_awaiting_approval_and_tenant_filters(superuser_client):
    waiting = RunFactory(status=RunStatus.WAITING_FOR_APPROVAL, tenant_id="acme")
    done = RunFactory(
        status=RunStatus.COMPLETED, tenant_id="globex", completed_at=waiting.created_at
    )
    awaiting = superuser_client.get(changelist(Run) + "?awaiting=yes")
    assert listed_run_ids(awaiting) == {str(waiting.pk)}
    not_awaiting = superuser_client.get(changelist(Run) + "?awaiting=no")
    assert listed_run_ids(not_awaiting) == {str(done.pk)}
    by_tenant = superuser_client.get(changelist(Run) + "?tenant=globex")
    assert listed_run_ids(by_tenant) == {str(done.pk)}
    assert "?tenant=acme" in by_tenant.content.decode()


def test_the_run_page_shows_its_steps_and_latest_events_with_the_evidence_link(
    superuser_client,
):
    run = RunFactory()
    step = StepFactory(run=run, kind="draft", status=StepStatus.RUNNING)
    for sequence in range(1, 15):
        EventFactory(run=run, step=step, sequence=sequence, event_type=f"event_{sequence}")
    page = superuser_client.get(reverse("admin:scoria_django_run_change", args=[run.pk]))
    html = page.content.decode()
    assert 'id="scoria-run-steps"' in html and "<code>draft</code>" in html
    events = html.split('id="scoria-run-events"')[1]
    assert "event_14" in events and "event_5" in events and "event_4<" not in events
    assert reverse("admin:scoria_django_run_evidence", args=[run.pk]) in events


@pytest.mark.django_db(transaction=True)
def test_a_failed_run_has_a_retry_button_that_retries_it(client):
    import scoria_django as scoria
    from tests import runtime_handlers

    runtime_handlers.reset()
    waiting = scoria.start_run(
        None,
        initial_step={"kind": "gate", "role_id": "executor"},
        handlers={"gate": runtime_handlers.fail_once_then_probe},
    )
    failed = scoria.resume_run(waiting.run_id)  # its first approved run fails
    assert failed.status == "failed"
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_run"))
    client.force_login(viewer)
    page = reverse("admin:scoria_django_run_change", args=[failed.run_id])
    retry = reverse("admin:scoria_django_run_retry", args=[failed.run_id])
    assert 'id="scoria-retry"' not in client.get(page).content.decode()
    assert client.post(retry).status_code == 403
    viewer.user_permissions.add(Permission.objects.get(codename="resume_run"))
    assert 'id="scoria-retry"' in client.get(page).content.decode()
    assert client.get(retry).status_code == 405
    response = client.post(retry, follow=True)
    assert "Retried: the run is" in response.content.decode()
    assert Run.objects.get(pk=failed.run_id).status != "failed"
    # A second retry of a run that is no longer failed is refused with its code.
    again = client.post(retry, follow=True).content.decode()
    assert "not_resumable" in again
