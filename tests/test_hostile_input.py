"""No input reaches a 5xx (SPEC 10): arbitrary text in every string position.

Hypothesis drives every API route and every facade entry point (and the manager verbs)
with text that mixes ordinary characters, NUL and lone surrogates, and checks that the
answer is a 2xx or a scoria error code, never an unhandled exception, and that a refused
call wrote nothing. The suite runs on SQLite and on PostgreSQL (DATABASE_URL), which
disagree about exactly these characters.
"""

import io
import json
from urllib.parse import quote, urlencode

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import scoria_django as scoria
from scoria_django.models import Event, Handoff, Run, Step
from tests.api_support import TENANT_RESOLVER, client_for, make_user

API = "/api/scoria/"

pytestmark = pytest.mark.django_db

FEW = settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# What breaks databases and renderers, spelled out so every run meets it, plus anything.
NASTY = ["\x00", "a\x00b", "\ud800", "x\udfff", "\ud83d", "", " ", "\u3000", "e\u0301", "%00"]
TEXT = st.one_of(
    st.sampled_from(NASTY),
    st.lists(
        st.one_of(st.characters(), st.sampled_from(["\x00", "\ud800", "\udc80"])), max_size=12
    ).map("".join),
)
KIND = st.one_of(TEXT, st.just("echo"))
JSON_TEXT = st.dictionaries(TEXT, TEXT, max_size=2)


@pytest.fixture(autouse=True)
def _tenants(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER


def rows():
    return tuple(model.objects.count() for model in (Run, Step, Event, Handoff))


def refused_cleanly(call):
    """``call()``, which either succeeds or raises a ScoriaError and writes nothing."""
    before = rows()
    try:
        return call()
    except scoria.ScoriaError as exc:
        assert exc.code and exc.code != "scoria_error"
        # The error can be shown anywhere: its detail and field encode as UTF-8.
        json.dumps(exc.as_dict(), ensure_ascii=False).encode("utf-8")
        assert rows() == before, f"{exc.code} left rows behind"
        return exc


@pytest.fixture
def running_run():
    return Run.objects.start({"session_id": "s-1"})


# -- the facade ----------------------------------------------------------------------------


@FEW
@given(actor=TEXT, tenant=TEXT, session=TEXT)
def test_identity(actor, tenant, session):
    refused_cleanly(lambda: scoria.identity(actor_id=actor, tenant_id=tenant, session_id=session))


@FEW
@given(session=TEXT, root=TEXT, kind=KIND, role=TEXT, payload=JSON_TEXT)
def test_start_run(session, root, kind, role, payload):
    refused_cleanly(
        lambda: scoria.start_run(
            {"actor_id": "a", "session_id": session},
            root_role_id=root,
            initial_step={"kind": kind, "role_id": role, "input": payload},
            metadata=payload,
        )
    )


@FEW
@given(delegated=TEXT, root=TEXT, kind=KIND, context=JSON_TEXT, tag=TEXT)
def test_start_handoff_run(delegated, root, kind, context, tag):
    refused_cleanly(
        lambda: scoria.start_handoff_run(
            {"actor_id": "a"},
            delegated,
            root_role_id=root,
            delegated_kind=kind,
            handoff_input=context,
            projected_context=context,
            capability_tags=[tag],
        )
    )


@FEW
@given(run_id=TEXT, session=TEXT, value=TEXT)
def test_reads_resume_and_cancel(running_run, run_id, session, value):
    for call in (
        lambda: scoria.get_run(run_id),
        lambda: scoria.get_run_detail(run_id),
        lambda: scoria.list_runs_for_session(session),
        lambda: scoria.resume_run(run_id, input=value),
        lambda: scoria.cancel_run(run_id, reason=value, identity={"actor_id": value}),
        lambda: scoria.resume_run(running_run.pk, input=value, identity={"actor_id": value}),
    ):
        refused_cleanly(call)


@FEW
@given(session=TEXT, thread=TEXT, kind=TEXT, key=TEXT)
def test_manager_verbs(running_run, session, thread, kind, key):
    for call in (
        lambda: Run.objects.start(session),
        lambda: Run.objects.start({"session_id": session, "thread_id": thread}, kind=kind),
        lambda: Run.objects.start({key: session}),
        lambda: Run.objects.start(None, **{key: kind}),
        lambda: Run.objects.list_runs({"session_id": session, "kind": kind}),
        lambda: Run.objects.list_runs({"status": kind, "thread_id": thread}),
        lambda: Step.objects.start(running_run.pk, kind=kind, input={key: thread}),
        lambda: Step.objects.complete(running_run.pk, session, output=kind),
        lambda: Run.objects.fail(session, {key: kind}),
        lambda: Step.objects.list_steps(session),
    ):
        refused_cleanly(call)


@FEW
@given(text=TEXT, option=st.sampled_from(["--session-id", "--kind", "--tenant-id", "--status"]))
def test_commands(running_run, text, option):
    """A command refuses hostile text as a CommandError (``code: detail``), never a traceback."""
    for args in (
        ("scoria_runs", "list", option, text),
        ("scoria_cancel", str(running_run.pk), "--actor-id", text, "--reason", text),
        ("scoria_resume", str(running_run.pk), "--actor-id", text),
    ):
        before = rows()
        try:
            call_command(*args, stdout=io.StringIO())
        except CommandError as exc:
            str(exc).encode("utf-8")
            assert rows() == before


# -- the API -------------------------------------------------------------------------------

RUN_BODY = st.fixed_dictionaries(
    {
        "root_role_id": TEXT,
        "initial_step": st.fixed_dictionaries(
            {"kind": KIND, "role_id": TEXT}, optional={"input": JSON_TEXT}
        ),
    },
    optional={"metadata": JSON_TEXT, "input": TEXT},
)
HANDOFF_BODY = st.fixed_dictionaries(
    {
        "delegated_role_id": TEXT,
        "root_role_id": TEXT,
        "delegated_kind": KIND,
        "handoff_input": JSON_TEXT,
        "projected_context": JSON_TEXT,
    },
    optional={"capability_tags": st.lists(TEXT, max_size=2), "metadata": JSON_TEXT},
)
SMALL_BODY = st.one_of(st.fixed_dictionaries({}, optional={"input": TEXT, "reason": TEXT}))


def with_stray_key(bodies):
    """A body, sometimes with one more key of any text (body keys are text that enters too)."""
    return st.tuples(bodies, st.dictionaries(TEXT, TEXT, max_size=1)).map(
        lambda pair: {**pair[0], **pair[1]}
    )


QUERY = st.dictionaries(
    st.one_of(
        st.sampled_from(
            ["session_id", "thread_id", "kind", "root_role_id", "status", "parent_run_id"]
            + ["created_after", "updated_before", "cursor", "page_size", "format"]
        ),
        TEXT,
    ),
    TEXT,
    max_size=3,
)

ROUTES = {
    ("get", ""): None,
    ("get", "runs/"): None,
    ("post", "runs/"): RUN_BODY,
    ("get", "runs/{}/"): None,
    ("get", "runs/{}/detail/"): None,
    ("get", "runs/{}/steps/"): None,
    ("get", "runs/{}/events/"): None,
    ("post", "runs/{}/resume/"): SMALL_BODY,
    ("post", "runs/{}/cancel/"): SMALL_BODY,
    ("post", "handoffs/"): HANDOFF_BODY,
    ("get", "sessions/{}/runs/"): None,
    ("get", "schema/"): None,
}


def as_url_part(text):
    """What a hostile client puts on the wire: a lone surrogate as its (invalid) UTF-8 bytes."""
    return quote(text, safe="", errors="surrogatepass")


@pytest.mark.parametrize(("method", "route"), sorted(ROUTES))
def test_every_route_answers_a_code_or_2xx(method, route):
    member = make_user("acme.alice", perms=("resume_run", "cancel_run"))
    client = client_for(member)
    waiting = scoria.start_run(
        scoria.identity(actor_id=member.pk, tenant_id="acme", session_id="s-1"),
        initial_step={"kind": "approval", "role_id": "writer"},
    )
    body = ROUTES[(method, route)]

    @FEW
    @given(
        segment=st.one_of(TEXT, st.just(waiting.run_id)),
        query=QUERY,
        body=with_stray_key(body) if body is not None else st.none(),
    )
    def answers(segment, query, body):
        path = API + route.format(as_url_part(segment))
        query_string = urlencode(query, errors="surrogatepass")
        url = f"{path}?{query_string}" if query_string else path
        before = rows()
        if method == "get":
            response = client.get(url, HTTP_ACCEPT="application/json")
        else:
            # ensure_ascii: a lone surrogate travels as its JSON escape, as a client sends it.
            response = client.post(url, json.dumps(body), content_type="application/json")
        assert response.status_code < 500, response.content[:300]
        if response.status_code >= 400:
            error = json.loads(response.content)
            assert isinstance(error["code"], str) and error["code"]
            assert rows() == before, f"{error['code']} left rows behind"

    answers()
