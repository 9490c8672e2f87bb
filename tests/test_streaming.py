"""The run event stream (SSE): every event once and in order, resumable, tenant-scoped,
woken by PostgreSQL NOTIFY or by polling elsewhere; and ``ctx.progress``."""

import asyncio
import json
import re
import threading
import uuid
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.test import AsyncClient

import scoria_django as scoria
from scoria_django.models import Event, Run
from scoria_django.streaming import notifications, reads
from scoria_django.streaming.sse import EVENT_TYPES
from tests.api_support import TENANT_RESOLVER, client_for, make_user

API = "/api/scoria/"
NOT_FOUND = b'{"code":"not_found","detail":"Not found.","field":null}'
PROGRESS = {
    "progress_burst": "tests.handlers.progress_burst",
    "progress_while_running": "tests.handlers.progress_while_running",
    "progress_bad_message": "tests.handlers.progress_bad_message",
}

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER
    settings.ALLOWED_HOSTS = ["testserver", "localhost"]
    yield
    # The listener and reader threads hold connections of their own: close them before
    # the test database goes.
    notifications.hub().stop()
    reads.readers.stop()


@pytest.fixture
def alice():
    return make_user("acme.alice", perms=("resume_run", "cancel_run"))


def acme(alice):
    return scoria.identity(actor_id=alice.pk, tenant_id="acme", session_id="s-acme")


def parse(body: bytes) -> list[dict]:
    """The messages of an SSE body (comments dropped)."""
    messages = []
    for block in body.decode().split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if fields:
            messages.append(fields)
    return messages


def stored_events(run_id):
    """The events as the API's events endpoint renders them, by sequence."""
    return list(Event.objects.filter(run_id=run_id).order_by("sequence"))


def api_events(client, run_id):
    return client.get(f"{API}runs/{run_id}/events/", {"page_size": 100}).json()["results"]


# -- the blocking (WSGI) stream ------------------------------------------------------


def test_a_finished_run_streams_every_event_in_order_then_ends(alice):
    run = scoria.start_run(
        acme(alice),
        initial_step={"kind": "chain", "role_id": "w"},
        handlers={"chain": "tests.handlers.chain", "echo": "tests.handlers.echo"},
    )
    assert run.status == "completed"  # or reading its stream below would wait for more
    client = client_for(alice)
    response = client.get(f"{API}runs/{run.run_id}/stream/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    messages = parse(b"".join(response.streaming_content))
    expected = api_events(client, run.run_id)
    assert len(expected) > 8
    assert [int(m["id"]) for m in messages] == list(range(1, len(expected) + 1))
    assert [m["event"] for m in messages] == [e["event_type"] for e in expected]
    # data: the event exactly as the events endpoint renders it
    assert [json.loads(m["data"]) for m in messages] == expected
    assert messages[-1]["event"] == "run_completed"


def test_reconnecting_with_last_event_id_continues_without_gap_or_duplicate(alice):
    run = scoria.start_run(
        acme(alice),
        initial_step={"kind": "chain", "role_id": "w"},
        handlers={"chain": "tests.handlers.chain", "echo": "tests.handlers.echo"},
    )
    assert run.status == "completed"  # or reading its stream below would wait for more
    client = client_for(alice)
    url = f"{API}runs/{run.run_id}/stream/"
    every = [m["id"] for m in parse(b"".join(client.get(url).streaming_content))]
    middle = every[len(every) // 2 - 1]
    # Last-Event-ID (what an EventSource sends) wins over a stale ?after=
    resumed = client.get(url, {"after": "1"}, HTTP_LAST_EVENT_ID=middle)
    rest = [m["id"] for m in parse(b"".join(resumed.streaming_content))]
    first = every[: every.index(middle) + 1]
    assert first + rest == every
    after = client.get(url, {"after": middle})
    assert [m["id"] for m in parse(b"".join(after.streaming_content))] == rest


def test_a_client_that_has_every_event_of_an_ended_run_gets_204(alice):
    run = scoria.start_run(acme(alice), initial_step={"kind": "echo", "role_id": "w"})
    last = Run.objects.get(pk=run.run_id).last_event_sequence
    client = client_for(alice)
    response = client.get(f"{API}runs/{run.run_id}/stream/", HTTP_LAST_EVENT_ID=str(last))
    assert response.status_code == 204
    assert client.get(f"{API}runs/{run.run_id}/stream/", {"after": last - 1}).status_code == 200


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "9" * 19, "٣"])
def test_a_bad_position_is_a_400_with_a_stable_code(alice, value):
    run = scoria.start_run(acme(alice), initial_step={"kind": "approval", "role_id": "w"})
    client = client_for(alice)
    url = f"{API}runs/{run.run_id}/stream/"
    for response, field in [
        (client.get(url, HTTP_LAST_EVENT_ID=value), "Last-Event-ID"),
        (client.get(url, {"after": value}), "after"),
    ]:
        assert response.status_code == 400
        assert response.json() == {
            "code": "invalid_event_id",
            "detail": f"{field} must be an event sequence (a non-negative integer).",
            "field": field,
        }


def test_another_tenant_gets_the_same_404_as_an_unknown_run(alice):
    run = scoria.start_run(acme(alice), initial_step={"kind": "approval", "role_id": "w"})
    other = client_for(make_user("globex.carol"))
    bodies = {
        (response.status_code, response["Content-Type"], response.content)
        for run_id in (run.run_id, uuid.uuid4(), "not-a-uuid")
        for response in [other.get(f"{API}runs/{run_id}/stream/", HTTP_ACCEPT="text/event-stream")]
    }
    assert bodies == {(404, "application/json", NOT_FOUND)}
    assert client_for(None).get(f"{API}runs/{run.run_id}/stream/").status_code == 403


def test_the_stream_is_in_the_schema_as_text_event_stream(alice):
    schema = client_for(alice).get(API + "schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/scoria/runs/{run_id}/stream/"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert operation["responses"]["404"]["content"]["application/json"]
    names = {parameter["name"] for parameter in operation["parameters"]}
    # Last-Event-ID is described, not declared: Schemathesis would send it as a closed
    # header object, which no HTTP server refuses.
    assert names == {"run_id", "after"}
    assert "Last-Event-ID" in operation["description"]
    after = next(p for p in operation["parameters"] if p["name"] == "after")
    assert after["schema"] == {"type": "integer", "minimum": 0, "maximum": 999_999_999_999_999_999}


# -- the async (ASGI) stream, woken live ------------------------------------------------


async def read_until(stream, predicate, messages, timeout=15):
    """Read chunks into ``messages`` until ``predicate(messages)``; the raw comments too."""
    comments = []

    async def read():
        while not predicate(messages):
            chunk = await anext(stream)
            text = chunk.decode()
            comments.extend(line for line in text.split("\n") if line.startswith(":"))
            messages.extend(parse(chunk))

    await asyncio.wait_for(read(), timeout)
    return comments


def live_run_scenario(alice, *, reconnect):
    """A waiting run streamed over ASGI; the approval, given in another thread, wakes the
    stream, which then sees every remaining event and ends."""
    run = scoria.start_run(acme(alice), initial_step={"kind": "approval", "role_id": "w"})
    client = AsyncClient()
    client.force_login(alice)
    url = f"{API}runs/{run.run_id}/stream/"

    def approve():
        # Another request, in another thread, with its own connection.
        try:
            scoria.resume_run(run.run_id, identity=acme(alice), input={"ok": True})
        finally:
            connections.close_all()

    async def scenario():
        response = await client.get(url, headers={"Accept": "text/event-stream"})
        assert response.status_code == 200
        stream = aiter(response.streaming_content)
        messages = []
        await read_until(
            stream, lambda ms: any(m["event"] == "run_waiting_for_approval" for m in ms), messages
        )
        if reconnect:
            await stream.aclose()
            response = await client.get(url, headers={"Last-Event-ID": messages[-1]["id"]})
            stream = aiter(response.streaming_content)
        await sync_to_async(approve, thread_sensitive=False)()
        await read_until(
            stream, lambda ms: bool(ms) and ms[-1]["event"] == "run_completed", messages
        )
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(anext(stream), 10)  # the stream ends after the ending
        return messages

    messages = asyncio.run(scenario())
    stored = stored_events(run.run_id)
    assert [int(m["id"]) for m in messages] == [event.sequence for event in stored]
    assert [m["event"] for m in messages] == [event.event_type for event in stored]
    return run


@pytest.mark.parametrize("reconnect", [False, True])
def test_sqlite_streams_poll_and_see_the_approval_live(alice, settings, reconnect):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL streams are woken by NOTIFY (the test below)")
    settings.SCORIA_STREAM_POLL_SECONDS = 0.05
    live_run_scenario(alice, reconnect=reconnect)


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: LISTEN/NOTIFY")


def test_events_notify_their_run_at_commit_and_never_on_rollback(postgres_only):
    import psycopg

    from scoria_django.transitions import locked_run

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    with psycopg.connect(**params, autocommit=True) as listener:
        listener.execute("LISTEN scoria_events")
        run = Run.objects.start("s-notify")
        with pytest.raises(RuntimeError), locked_run(run.pk) as journal:
            journal.record("progress", message="rolled back")
            journal.flush()  # the NOTIFY is sent, then the transaction rolls back
            raise RuntimeError("rollback")
        Run.objects.cancel(run.pk, "stop")
        payloads = [n.payload for n in listener.notifies(timeout=2, stop_after=3)]
    # The start and the cancel, once each; nothing from the rolled-back transaction.
    assert payloads == [str(run.pk), str(run.pk)]


@pytest.mark.parametrize("reconnect", [False, True])
def test_postgresql_notify_wakes_the_stream(alice, settings, postgres_only, reconnect):
    # Polling so slow that only a notification can deliver within the test's timeout.
    settings.SCORIA_STREAM_POLL_SECONDS = 600
    settings.SCORIA_STREAM_HEARTBEAT_SECONDS = 600
    hub = notifications.hub()
    hub.unsubscribe(hub.subscribe("warm-up"))  # starts the listener
    for _ in range(100):
        if hub.listening:
            break
        threading.Event().wait(0.05)
    assert hub.listening
    live_run_scenario(alice, reconnect=reconnect)


def test_an_idle_stream_sends_heartbeat_comments(alice, settings):
    settings.SCORIA_STREAM_HEARTBEAT_SECONDS = 0.1
    settings.SCORIA_STREAM_POLL_SECONDS = 0.05
    run = scoria.start_run(acme(alice), initial_step={"kind": "approval", "role_id": "w"})
    client = AsyncClient()
    client.force_login(alice)

    async def scenario():
        response = await client.get(f"{API}runs/{run.run_id}/stream/")
        stream = aiter(response.streaming_content)
        chunks = []
        while chunks.count(b": heartbeat\n\n") < 2:
            chunks.append(await asyncio.wait_for(anext(stream), 10))
        await stream.aclose()
        return chunks

    chunks = asyncio.run(scenario())
    assert chunks[0] == b": stream open\n\n"
    events = [m["event"] for chunk in chunks for m in parse(chunk)]
    assert events[-1] == "approval_requested"  # then only heartbeats: nothing happened


# -- the operator page's stream ------------------------------------------------------------


def test_the_admin_evidence_page_streams_beside_it(client, alice):
    from django.contrib.auth.models import User

    run = scoria.start_run(acme(alice), initial_step={"kind": "echo", "role_id": "w"})
    assert run.status == "completed"
    User.objects.create_superuser("ops", password="pw")
    client.login(username="ops", password="pw")
    page = f"/admin/scoria_django/run/{run.run_id}/evidence/"
    assert f'data-stream-url="{page}stream/?after=' in client.get(page).content.decode()
    response = client.get(f"{page}stream/", HTTP_LAST_EVENT_ID="1")
    assert response["Content-Type"] == "text/event-stream"
    sequences = [int(m["id"]) for m in parse(b"".join(response.streaming_content))]
    assert sequences == [event.sequence for event in stored_events(run.run_id)][1:]


def test_the_operator_stream_follows_the_evidence_pages_access_rules(client, alice):
    from django.contrib.auth.models import User

    run = scoria.start_run(acme(alice), initial_step={"kind": "echo", "role_id": "w"})
    assert run.status == "completed"  # or reading its stream below would wait for more
    url = f"/scoria/workflows/{run.run_id}/stream/"
    assert client.get(url).status_code == 302  # not staff: the admin login
    User.objects.create_superuser("ops", password="pw")
    client.login(username="ops", password="pw")  # no tenant: sees every run
    page = client.get(f"/scoria/workflows/{run.run_id}/")
    assert f'data-stream-url="{url}?after=' in page.content.decode()
    response = client.get(url)
    assert response["Content-Type"] == "text/event-stream"
    events = [m["event"] for m in parse(b"".join(response.streaming_content))]
    assert events == [event.event_type for event in stored_events(run.run_id)]
    assert client.get(url, {"after": "x"}).status_code == 400
    tenant_operator = User.objects.create_superuser("globex.ops", password="pw")
    client.force_login(tenant_operator)
    assert client.get(url).status_code == 404


# -- ctx.progress -----------------------------------------------------------------------


def progress_events(run_id):
    return [
        (event.event_type, event.payload)
        for event in stored_events(run_id)
        if event.event_type in ("progress", "step_completed")
    ]


def test_progress_in_a_burst_keeps_the_first_and_the_latest(alice, settings):
    settings.SCORIA_PROGRESS_MIN_INTERVAL = 600
    run = scoria.start_run(
        acme(alice), initial_step={"kind": "progress_burst", "role_id": "w"}, handlers=PROGRESS
    )
    assert scoria.get_run(run.run_id).status == "completed"
    events = progress_events(run.run_id)
    assert [kind for kind, _ in events] == ["progress", "progress", "step_completed"]
    assert [payload for _, payload in events[:2]] == [
        {"message": "first", "data": {"word": "first"}},
        {"message": "third", "data": {"word": "third"}},  # the latest, written at the end
    ]


def test_progress_without_interval_writes_every_report(alice, settings):
    settings.SCORIA_PROGRESS_MIN_INTERVAL = 0
    run = scoria.start_run(
        acme(alice), initial_step={"kind": "progress_burst", "role_id": "w"}, handlers=PROGRESS
    )
    events = progress_events(run.run_id)
    assert [p["message"] for kind, p in events if kind == "progress"] == [
        "first",
        "second",
        "third",
    ]
    assert events[-1][0] == "step_completed"


def test_the_latest_report_is_written_once_the_interval_passes(alice, settings):
    settings.SCORIA_PROGRESS_MIN_INTERVAL = 0.2
    run = scoria.start_run(
        acme(alice),
        initial_step={"kind": "progress_while_running", "role_id": "w"},
        handlers=PROGRESS,
    )
    detail = scoria.get_run_detail(run.run_id)
    assert detail.steps[0]["output"] == {"written_while_running": True}
    assert [p["message"] for kind, p in progress_events(run.run_id) if kind == "progress"] == [
        "a",
        "b",
    ]


def test_progress_of_a_lost_claim_is_dropped(alice):
    from scoria_django.transitions import record_progress

    run = scoria.start_run(acme(alice), initial_step={"kind": "approval", "role_id": "w"})
    step_id = scoria.get_run_detail(run.run_id).steps[0]["id"]
    assert record_progress(run.run_id, step_id, uuid.uuid4(), {"message": "late"}) is False
    assert not Event.objects.filter(run_id=run.run_id, event_type="progress").exists()


def test_a_bad_progress_message_fails_the_step(alice):
    run = scoria.start_run(
        acme(alice),
        initial_step={"kind": "progress_bad_message", "role_id": "w"},
        handlers=PROGRESS,
    )
    detail = scoria.get_run_detail(run.run_id)
    assert detail.summary.status == "failed"
    assert detail.error["type"] == "scoria_django.exceptions.InvalidPayload"
    assert detail.error["message"] == "progress message must be a string or None"


# -- the event types the live pages listen for ------------------------------------------


def test_every_event_type_the_engine_records_is_listed():
    package = Path(scoria.__file__).parent
    source = "\n".join(path.read_text() for path in package.rglob("*.py"))
    literal = set(re.findall(r'record\(\s*"([a-z_]+)"', source))
    literal |= set(re.findall(r'event_type="([a-z_]+)"', source))
    literal |= set(re.findall(r'"([a-z]+_requested)"', source))
    literal |= set(re.findall(r'event_type="([a-z_]+)"', source))
    literal |= set(re.findall(r'record\(\s*f?"(approval_[a-z_]+)"', source))
    assert {"run_started", "step_claimed", "progress", "late_result_discarded"} <= literal
    assert literal <= set(EVENT_TYPES)
