"""The API's lists: cursor pagination with a cap, strict filters, lean rows, flat query counts."""

import base64
import datetime
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from scoria_django.records import SUMMARY_FIELDS
from tests.api_support import TENANT_RESOLVER, client_for, make_user
from tests.factories import EventFactory, HandoffFactory, RunFactory, StepFactory

API = "/api/scoria/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _tenants(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER
    settings.SCORIA_API_PAGE_SIZE = 2
    settings.SCORIA_API_MAX_PAGE_SIZE = 3


@pytest.fixture
def client():
    return client_for(make_user("acme.alice"))


def acme_runs(count, **fields):
    start = timezone.now() - datetime.timedelta(hours=1)
    return [
        RunFactory(tenant_id="acme", created_at=start + datetime.timedelta(seconds=n), **fields)
        for n in range(count)
    ]


def ids(response):
    return [row["run_id"] for row in response.json()["results"]]


def walk(client, url):
    """Every row of a cursor-paginated list, following ``next`` links."""
    rows = []
    while url:
        page = client.get(url).json()
        rows.extend(page["results"])
        url = page["next"]
    return rows


def test_pages_are_newest_first_and_capped(client):
    runs = acme_runs(5)
    newest_first = [str(run.pk) for run in reversed(runs)]
    first = client.get(API + "runs/")
    assert ids(first) == newest_first[:2]
    assert first.json()["next"] and first.json()["previous"] is None
    assert ids(client.get(API + "runs/?page_size=50")) == newest_first[:3]
    assert [row["run_id"] for row in walk(client, API + "runs/")] == newest_first
    assert [row["run_id"] for row in walk(client, API + "runs/?page_size=3")] == newest_first


@pytest.mark.parametrize("value", ["0", "-1", "abc", ""])
def test_bad_page_sizes_are_400(client, value):
    response = client.get(API + f"runs/?page_size={value}")
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == ("invalid_page_size", "page_size")


@pytest.mark.parametrize("path", ["runs/", "sessions/s/runs/", "runs/{run}/steps/"])
@pytest.mark.parametrize("query", ["o=x", "p=garbage", "r=maybe", "p=2026-99-99"])
def test_a_cursor_the_api_did_not_hand_out_starts_over(client, path, query):
    """A cursor is opaque (the schema says: any string): one that is not ours is the first
    page, never an error and never a filter the database could choke on."""
    run = acme_runs(1, session_id="s")[0]
    StepFactory(run=run)
    first = client.get(API + path.format(run=run.pk)).json()["results"]
    assert first
    cursor = base64.b64encode(urlencode([tuple(query.split("=", 1))]).encode()).decode()
    for value in (cursor, "abc", "\u00e9\u00e9", "%00"):
        response = client.get(API + path.format(run=run.pk), {"cursor": value})
        assert (response.status_code, response.json()["results"]) == (200, first)


@pytest.mark.parametrize("position", ["99999999999", "\u00b2", "-1"])
def test_a_forged_sequence_cursor_starts_over(client, position):
    run = acme_runs(1)[0]
    cursor = base64.b64encode(f"p={position}".encode()).decode()
    response = client.get(f"{API}runs/{run.pk}/events/", {"cursor": cursor})
    assert response.status_code == 200
    assert response.json()["results"] == client.get(f"{API}runs/{run.pk}/events/").json()["results"]


def test_offsets_the_database_cannot_store_are_converted_not_500(client):
    """PostgreSQL stores offsets up to ±15:59; Python (and so a client) may send ±23:59."""
    old = acme_runs(1)[0]
    far = "2100-01-01T00:00:00+18:09"
    assert ids(client.get(API + "runs/", {"created_before": far})) == [str(old.pk)]
    cursor = base64.b64encode(urlencode({"p": far.replace("T", " ")}).encode()).decode()
    response = client.get(API + "runs/", {"cursor": cursor})
    assert ids(response) == [str(old.pk)]
    # Before year 1 in UTC: earlier than any run, so every run is after it.
    response = client.get(API + "runs/", {"updated_after": "0001-01-01T00:00:00+18:00"})
    assert ids(response) == [str(old.pk)]
    response = client.get(API + "runs/", {"created_before": "9999-12-31T23:59:59-23:59"})
    assert ids(response) == [str(old.pk)]


def test_list_rows_leave_out_payloads(client):
    run = acme_runs(1, metadata={"big": "x" * 1000}, input={"prompt": "long"})[0]
    StepFactory(run=run, input={"prompt": "long"}, output={"answer": "long"})
    [row] = client.get(API + "runs/").json()["results"]
    assert tuple(row) == SUMMARY_FIELDS
    [step] = client.get(f"{API}runs/{run.pk}/steps/").json()["results"]
    assert not {"input", "output", "handoff_input", "projected_context"} & set(step)
    full = client.get(f"{API}runs/{run.pk}/detail/").json()
    assert full["metadata"] == {"big": "x" * 1000}
    assert full["steps"][0]["output"] == {"answer": "long"}


def test_filters(client):
    parent = acme_runs(1, status="completed", kind="agent", root_role_id="planner")[0]
    child = RunFactory(
        tenant_id="acme", parent_run=parent, session_id="s-1", thread_id="t-1", kind="handoff"
    )
    waiting = RunFactory(tenant_id="acme", status="waiting_for_approval", session_id="s-1")
    RunFactory(tenant_id="globex", status="waiting_for_approval", session_id="s-1")
    cases = {
        "status=waiting_for_approval": [waiting],
        "status=completed": [parent],
        f"parent_run_id={parent.pk}": [child],
        "session_id=s-1&page_size=3": [waiting, child],
        "thread_id=t-1": [child],
        "kind=handoff": [child],
        "root_role_id=planner": [parent],
        "created_before=" + (parent.created_at + datetime.timedelta(seconds=1)).isoformat(): [
            parent
        ],
        "updated_after=" + child.updated_at.isoformat() + "&page_size=3": [waiting, child],
    }
    for query, expected in cases.items():
        response = client.get(API + "runs/", dict(_pairs(query)))
        assert ids(response) == [str(run.pk) for run in expected], query


def test_the_format_override_is_not_a_filter(client):
    run = acme_runs(1)[0]
    assert ids(client.get(API + "runs/", {"format": "json"})) == [str(run.pk)]


def _pairs(query):
    return [part.split("=", 1) for part in query.split("&")]


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("status=done", "invalid_filter", "status"),
        ("parent_run_id=not-a-uuid", "invalid_filter", "parent_run_id"),
        ("created_after=yesterday", "invalid_filter", "created_after"),
        ("updated_before=2026-13-01T00:00:00Z", "invalid_filter", "updated_before"),
        ("session_id=" + "s" * 256, "invalid_filter", "session_id"),
        ("stauts=failed", "unsupported_filter", "stauts"),
        ("tenant_id=globex", "unsupported_filter", "tenant_id"),
    ],
)
def test_bad_filters_are_400(client, query, code, field):
    response = client.get(API + "runs/?" + query)
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["field"]) == (code, field)


def test_session_runs_are_paginated_and_scoped(client):
    runs = acme_runs(4, session_id="s-9")
    RunFactory(tenant_id="globex", session_id="s-9")
    rows = walk(client, API + "sessions/s-9/runs/")
    assert [row["run_id"] for row in rows] == [str(run.pk) for run in reversed(runs)]
    assert client.get(API + "sessions/unknown/runs/").json()["results"] == []


def test_steps_and_events_follow_sequence_order(client):
    run = acme_runs(1)[0]
    steps = [StepFactory(run=run) for _ in range(4)]
    events = [EventFactory(run=run, step=step) for step in steps]
    assert [row["id"] for row in walk(client, f"{API}runs/{run.pk}/steps/")] == [
        str(step.pk) for step in steps
    ]
    assert [row["sequence"] for row in walk(client, f"{API}runs/{run.pk}/events/")] == [
        event.sequence for event in events
    ]


def grow(run, count):
    for _ in range(count):
        step = StepFactory(run=run)
        EventFactory(run=run, step=step)
        HandoffFactory(run=run, parent_step=step)


@pytest.mark.parametrize(("path", "queries"), [("", 1), ("steps/", 2), ("events/", 2)])
def test_list_query_counts_do_not_grow_with_the_page(
    client, settings, django_assert_num_queries, path, queries
):
    settings.SCORIA_API_MAX_PAGE_SIZE = 100
    run = acme_runs(1)[0]
    acme_runs(29)
    grow(run, 26)
    url = f"{API}runs/{run.pk}/{path}" if path else API + "runs/"
    for size in (2, 25):
        with django_assert_num_queries(queries):
            response = client.get(url, {"page_size": size})
        assert len(response.json()["results"]) == size


def test_detail_query_count_does_not_grow_with_steps_events_or_handoffs(
    client, django_assert_num_queries
):
    small, large = acme_runs(2)
    grow(small, 1)
    grow(large, 8)
    for run in (small, large):
        with django_assert_num_queries(4):
            response = client.get(f"{API}runs/{run.pk}/detail/")
        assert len(response.json()["delegated_handoffs"]) == (1 if run is small else 8)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Kolkata", "America/St_Johns"])
def test_list_rows_render_exactly_as_the_summary_serializer(client, zone):
    from scoria_django.api.serializers import RunSummarySerializer, summary_list_data
    from scoria_django.models import Run
    from scoria_django.records import SUMMARY_VALUES, RunSummary

    moments = [
        datetime.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=datetime.UTC),
        datetime.datetime(2026, 11, 1, 5, 59, 59, tzinfo=datetime.UTC),
    ]
    parent = RunFactory(tenant_id="acme", created_at=moments[0] - datetime.timedelta(days=1))
    for moment in moments:
        run = RunFactory(
            tenant_id="acme",
            created_at=moment,
            started_at=moment,
            completed_at=None,
            parent_run=parent,
        )
    run.current_step = StepFactory(run=run)
    run.save(update_fields=["current_step"])
    runs = Run.objects.order_by("created_at")
    with timezone.override(zone):
        expected = RunSummarySerializer([RunSummary.from_run(run) for run in runs], many=True).data
        assert summary_list_data(runs.values(*SUMMARY_VALUES)) == expected
        listed = client.get(f"{API}runs/", {"page_size": 3}).json()["results"]
    assert listed == list(reversed(expected))
    assert expected[-1]["parent_run_id"] and expected[-1]["current_step_id"]
