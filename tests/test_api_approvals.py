"""The API's approvals: the inbox list, one approval, approve / reject, tenancy and policy."""

import uuid

import pytest
from django.contrib.auth.models import Group

import scoria_django as scoria
from scoria_django.models import Approval, Event, Step
from tests import approval_handlers
from tests.api_support import TENANT_RESOLVER, client_for, make_user

API = "/api/scoria/"
NOT_FOUND = b'{"code":"not_found","detail":"Not found.","field":null}'
HANDLERS = {"gated": approval_handlers.gated, "two_tools": approval_handlers.two_tools}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _tenants(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER
    approval_handlers.RUNS.clear()


@pytest.fixture
def decider():
    return make_user("acme.dora", perms=("decide_approval",))


def start(tenant="acme", kind="gated", **options):
    return scoria.start_run(
        scoria.identity(actor_id="author", tenant_id=tenant, session_id="s"),
        initial_step={"kind": kind, "role_id": "executor", "input": {"options": options}},
        handlers=HANDLERS,
    )


def approval_of(run):
    return Approval.objects.get(run_id=run.run_id)


def listed(client, **params):
    response = client.get(API + "approvals/", params)
    assert response.status_code == 200, response.content
    return [row["approval_id"] for row in response.json()["results"]]


# -- reads --------------------------------------------------------------------------------


def test_list_is_the_callers_tenants_pending_approvals_oldest_first(decider):
    first, second = start(), start()
    start(tenant="globex")
    decided = start()
    scoria.approve(decided.run_id, identity={"actor_id": "ops"})
    client = client_for(decider)

    ids = listed(client)

    assert ids == [str(approval_of(first).pk), str(approval_of(second).pk)]
    row = client.get(API + "approvals/").json()["results"][0]
    assert row["status"] == "pending"
    assert row["run_id"] == first.run_id
    assert (row["tool_name"], row["arguments"], row["reason"]) == (
        "send_reply",
        {"text": "hello"},
        "outbound",
    )
    assert set(row) == set(scoria.ApprovalSummary.__dataclass_fields__)


def test_status_filter_any_and_one_status(decider):
    waiting, decided = start(), start()
    scoria.reject(decided.run_id, identity={"actor_id": "ops"}, reason="no")
    client = client_for(decider)

    assert listed(client, status="rejected") == [str(approval_of(decided).pk)]
    assert listed(client, status="pending") == [str(approval_of(waiting).pk)]
    assert set(listed(client, status="any")) == {
        str(approval_of(waiting).pk),
        str(approval_of(decided).pk),
    }


def test_run_id_filter_and_mine(decider):
    lead = make_user("acme.lena")
    lead.groups.add(Group.objects.create(name="leads"))
    for_anyone = start()
    for_dora = start(assignees=[str(decider.pk)])
    for_leads = start(groups=["leads"])
    client = client_for(decider)

    assert listed(client, run_id=for_leads.run_id) == [str(approval_of(for_leads).pk)]
    assert listed(client, mine="true") == [
        str(approval_of(for_anyone).pk),
        str(approval_of(for_dora).pk),
    ]
    assert listed(client_for(lead), mine="true") == [
        str(approval_of(for_anyone).pk),
        str(approval_of(for_leads).pk),
    ]
    assert len(listed(client, mine="false")) == 3


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"status": "maybe"}, "invalid_filter", "status"),
        ({"mine": "yes"}, "invalid_filter", "mine"),
        ({"run_id": "nope"}, "invalid_filter", "run_id"),
        ({"tenant_id": "globex"}, "unsupported_filter", "tenant_id"),
        ({"status": ""}, "invalid_filter", "status"),
    ],
)
def test_bad_filters_are_400(decider, params, code, field):
    response = client_for(decider).get(API + "approvals/", params)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_a_cursor_the_api_did_not_hand_out_starts_over(decider):
    runs = [start() for _ in range(2)]
    page = client_for(decider).get(API + "approvals/", {"cursor": "garbage"})
    assert page.status_code == 200
    assert [row["approval_id"] for row in page.json()["results"]] == [
        str(approval_of(run).pk) for run in runs
    ]


def test_the_list_is_cursor_paginated(decider, settings):
    runs = [start() for _ in range(5)]
    client = client_for(decider)
    seen, url = [], API + "approvals/?page_size=2"
    while url:
        page = client.get(url).json()
        assert len(page["results"]) <= 2
        seen += [row["approval_id"] for row in page["results"]]
        url = page["next"]
    assert seen == [str(approval_of(run).pk) for run in runs]


def test_list_query_count_does_not_grow_with_the_page(decider, django_assert_num_queries):
    for _ in range(6):
        start()
    client = client_for(decider)
    for size in (1, 6):
        with django_assert_num_queries(1):
            response = client.get(API + "approvals/", {"page_size": size})
        assert len(response.json()["results"]) == size


def test_get_one_approval(decider):
    waiting = start(assignees=["ops"], expires_in=60)
    approval = approval_of(waiting)
    body = client_for(decider).get(f"{API}approvals/{approval.pk}/").json()
    assert body["approval_id"] == str(approval.pk)
    assert body["assignees"] == ["ops"]
    assert body["expires_at"] is not None
    assert body["on_expiry"] == "reject"


def test_foreign_unknown_and_malformed_approvals_give_identical_404_bodies():
    foreign = approval_of(start(tenant="globex"))
    client = client_for(make_user("acme.dora", perms=("decide_approval",)))
    for suffix, method in [("", "get"), ("approve/", "post"), ("reject/", "post")]:
        bodies = {
            getattr(client, method)(f"{API}approvals/{approval_id}/{suffix}").content
            for approval_id in (foreign.pk, uuid.uuid4(), "not-a-uuid")
        }
        assert bodies == {NOT_FOUND}
    foreign.refresh_from_db()
    assert foreign.status == "pending"
    assert listed(client, status="any") == []


# -- decisions ----------------------------------------------------------------------------


def test_approve_with_edited_arguments_answers_the_run_summary(decider):
    waiting = start()
    approval = approval_of(waiting)
    response = client_for(decider).post(
        f"{API}approvals/{approval.pk}/approve/",
        {"arguments": {"text": "edited"}, "comment": "better", "input": {"n": 1}},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["run_id"] == waiting.run_id
    assert response.json()["status"] == "completed"
    output = Step.objects.get(run_id=waiting.run_id).output
    assert output["decision"] == "approved"
    assert output["decided_by"] == str(decider.pk)
    assert output["arguments"] == {"text": "edited"}
    assert (output["comment"], output["input"]) == ("better", {"n": 1})


def test_reject_with_reason(decider):
    waiting = start()
    approval = approval_of(waiting)
    response = client_for(decider).post(
        f"{API}approvals/{approval.pk}/reject/", {"reason": "too long"}, format="json"
    )
    assert response.status_code == 200
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by, approval.decision_reason) == (
        "rejected",
        str(decider.pk),
        "too long",
    )
    assert Step.objects.get(run_id=waiting.run_id).output["sent"] is False


def test_one_of_two_approvals_by_id(decider):
    waiting = start(kind="two_tools")
    first, second = Approval.objects.filter(run_id=waiting.run_id).order_by("position")
    client = client_for(decider)
    one = client.post(f"{API}approvals/{first.pk}/approve/", {}, format="json")
    assert one.json()["status"] == "waiting_for_approval"
    two = client.post(f"{API}approvals/{second.pk}/reject/", {}, format="json")
    assert two.json()["status"] == "completed"
    assert Step.objects.get(run_id=waiting.run_id).output["decisions"] == ["approved", "rejected"]


def test_a_second_decision_is_a_409(decider):
    approval = approval_of(start())
    client = client_for(decider)
    assert client.post(f"{API}approvals/{approval.pk}/approve/").status_code == 200
    for verb in ("approve", "reject"):
        response = client.post(f"{API}approvals/{approval.pk}/{verb}/")
        assert response.status_code == 409
        assert response.json()["code"] == "not_resumable"


def test_without_the_permission_403_and_nothing_changes():
    approval = approval_of(start())
    client = client_for(make_user("acme.bob", perms=("resume_run", "cancel_run")))
    for verb in ("approve", "reject"):
        response = client.post(f"{API}approvals/{approval.pk}/{verb}/")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert "decide_approval" in response.json()["detail"]
    # Checked before the lookup: an unknown id is 403 too, not a 404 that would leak.
    assert client.post(f"{API}approvals/{uuid.uuid4()}/approve/").status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_the_policy_refuses_a_non_assignee_with_403(decider):
    waiting = start(assignees=["someone-else"])
    approval = approval_of(waiting)
    before = Event.objects.filter(run_id=waiting.run_id).count()
    for verb in ("approve", "reject"):
        response = client_for(decider).post(f"{API}approvals/{approval.pk}/{verb}/")
        assert response.status_code == 403
        assert response.json()["code"] == "approval_not_allowed"
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert Event.objects.filter(run_id=waiting.run_id).count() == before


def test_group_members_decide_through_the_api():
    lead = make_user("acme.lena", perms=("decide_approval",))
    lead.groups.add(Group.objects.create(name="leads"))
    approval = approval_of(start(groups=["leads"]))
    outsider = make_user("acme.olaf", perms=("decide_approval",))
    assert client_for(outsider).post(f"{API}approvals/{approval.pk}/approve/").status_code == 403
    assert client_for(lead).post(f"{API}approvals/{approval.pk}/approve/").status_code == 200


@pytest.mark.parametrize(
    ("verb", "body", "code", "field"),
    [
        ("approve", {"status": "approved"}, "unknown_field", "status"),
        ("approve", {"decided_by": "1"}, "unknown_field", "decided_by"),
        ("approve", {"reason": "x"}, "unknown_field", "reason"),
        ("reject", {"arguments": {}}, "unknown_field", "arguments"),
        ("approve", {"comment": "x" * 2001}, "max_length", "comment"),
        ("reject", {"reason": ["no"]}, "invalid", "reason"),
    ],
)
def test_decision_bodies_are_closed_and_checked(decider, verb, body, code, field):
    approval = approval_of(start())
    response = client_for(decider).post(
        f"{API}approvals/{approval.pk}/{verb}/", body, format="json"
    )
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    approval.refresh_from_db()
    assert approval.status == "pending"
