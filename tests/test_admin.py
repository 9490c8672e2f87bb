import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory
from django.urls import reverse

from scoria_django.models import Event, Handoff, Run, Step
from scoria_django.states import RunStatus, StepStatus
from tests.factories import EventFactory, HandoffFactory, RunFactory, StepFactory

RESOLVER = "tests.operator_tenants.tenant_from_username"
MODELS = (Run, Step, Handoff, Event)


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
