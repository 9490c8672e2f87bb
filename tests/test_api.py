"""The API's security contract: the permission matrix, tenancy, identity, inputs and errors."""

import base64
import json
import uuid

import pytest
from django.middleware.csrf import _get_new_csrf_string
from rest_framework.authentication import BasicAuthentication
from rest_framework.test import APIClient

import scoria_django as scoria
from scoria_django.api.views import RunViewSet
from scoria_django.conf import scoria_settings
from scoria_django.models import Run
from tests.api_support import PASSWORD, TENANT_RESOLVER, client_for, people, tenant_of_user

API = "/api/scoria/"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _tenants(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER


@pytest.fixture
def who():
    return people()


@pytest.fixture
def acme_run(who):
    """A run of tenant acme, waiting for approval."""
    return scoria.start_run(
        scoria.identity(actor_id=who.member.pk, tenant_id="acme", session_id="s-acme"),
        initial_step={"kind": "approval", "role_id": "writer"},
    )


START = {"initial_step": {"kind": "echo", "role_id": "writer", "input": {"q": 1}}}
HANDOFF = {
    "delegated_role_id": "critic",
    "root_role_id": "planner",
    "delegated_kind": "echo",
    "handoff_input": {"brief": "check"},
    "projected_context": {"task": "review"},
    "capability_tags": ["read"],
}

# (method, path under API, body, success status); {run} is the acme run's id.
ENDPOINTS = [
    ("get", "runs/", None, 200),
    ("post", "runs/", START, 201),
    ("get", "runs/{run}/", None, 200),
    ("get", "runs/{run}/detail/", None, 200),
    ("get", "runs/{run}/steps/", None, 200),
    ("get", "runs/{run}/events/", None, 200),
    ("get", "runs/{run}/stream/", None, 200),  # not read: the waiting run's stream is open
    ("post", "runs/{run}/resume/", {"input": {"ok": True}}, 200),
    ("post", "runs/{run}/cancel/", {"reason": "stop"}, 200),
    ("post", "handoffs/", HANDOFF, 201),
    ("get", "sessions/s-acme/runs/", None, 200),
    ("get", "schema/", None, 200),
    ("delete", "runs/{run}/", None, 405),
    ("put", "runs/{run}/", {}, 405),
    ("patch", "runs/{run}/", {}, 405),
    ("get", "handoffs/", None, 405),
    ("options", "runs/", None, 200),
]
TENANT_BOUND = {
    "runs/{run}/",
    "runs/{run}/detail/",
    "runs/{run}/steps/",
    "runs/{run}/events/",
    "runs/{run}/stream/",
}
NEEDS_PERMISSION = {"runs/{run}/resume/", "runs/{run}/cancel/"}


def expected_status(role, path, success):
    if role == "anonymous":
        # 403, not 401: DRF answers 401 only when the first authentication class sends a
        # challenge, and the default first class (SessionAuthentication) has none.
        return 403
    if success == 405:
        return 405
    if path in NEEDS_PERMISSION:
        if role in ("no_perm", "staff"):
            return 403  # permissions are checked before the run is looked up
        return 404 if role == "other_tenant" else success
    if path in TENANT_BOUND and role in ("other_tenant", "staff"):
        return 404  # staff without a tenant see only runs stored without one
    return success


@pytest.mark.parametrize("role", ["anonymous", "member", "no_perm", "other_tenant", "staff"])
@pytest.mark.parametrize(("method", "path", "body", "success"), ENDPOINTS)
def test_permission_matrix(who, acme_run, role, method, path, body, success):
    client = client_for(getattr(who, role, None))
    url = API + path.format(run=acme_run.run_id)
    response = (
        getattr(client, method)(url, body, format="json")
        if body is not None
        else (getattr(client, method)(url))
    )
    assert response.status_code == expected_status(role, path, success), response.content
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/json"
        assert set(response.json()) >= {"code", "detail", "field"}
    if role == "anonymous":
        assert response.json()["code"] == "not_authenticated"
    elif response.status_code == 403:
        assert response.json()["code"] == "permission_denied"
    if response.status_code == 405:
        assert response.json()["code"] == "method_not_allowed"


def test_list_and_session_runs_show_only_the_callers_tenant(who, acme_run):
    globex = scoria.start_run(scoria.identity(tenant_id="globex", session_id="s-acme"))
    untenanted = scoria.start_run(scoria.identity(session_id="s-acme"))
    for path in ("runs/", "sessions/s-acme/runs/"):
        seen = {
            role: [row["run_id"] for row in client_for(user).get(API + path).json()["results"]]
            for role, user in vars(who).items()
        }
        assert seen["member"] == seen["no_perm"] == [acme_run.run_id]
        assert seen["other_tenant"] == [globex.run_id]
        assert seen["staff"] == [untenanted.run_id]


def test_foreign_unknown_and_malformed_runs_give_identical_404_bodies(who, acme_run):
    client = client_for(who.other_tenant)
    for suffix, method in [
        ("", "get"),
        ("detail/", "get"),
        ("steps/", "get"),
        ("events/", "get"),
        ("stream/", "get"),
        ("resume/", "post"),
        ("cancel/", "post"),
    ]:
        bodies = {
            getattr(client, method)(f"{API}runs/{run_id}/{suffix}").content
            for run_id in (acme_run.run_id, uuid.uuid4(), "not-a-uuid")
        }
        assert bodies == {b'{"code":"not_found","detail":"Not found.","field":null}'}
    assert client.get(f"{API}no/such/route/").content == bodies.pop()
    assert Run.objects.get(pk=acme_run.run_id).status == "waiting_for_approval"


def test_start_builds_identity_from_the_authenticated_user(who):
    summary = client_for(who.member).post(API + "runs/", START, format="json")
    assert summary.status_code == 201
    body = summary.json()
    assert body["actor_id"] == str(who.member.pk)
    assert body["tenant_id"] == "acme"
    assert body["status"] == "completed"  # the echo handler ran inline
    assert body["session_id"] is None  # a client without a session cookie has no conversation
    run = Run.objects.get(pk=body["run_id"])
    assert run.handlers == {}  # kinds resolve through SCORIA_HANDLERS only
    assert run.steps.get().output == {"echo": {"q": 1}, "payload": None}


def test_basic_auth_clients_get_their_own_actor_and_tenant(who):
    client = client_for()
    token = base64.b64encode(f"globex.carol:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    body = client.post(API + "runs/", START, format="json").json()
    assert (body["actor_id"], body["tenant_id"]) == (str(who.other_tenant.pk), "globex")


def test_clients_without_a_session_cookie_do_not_mint_sessions(who):
    from django.contrib.sessions.models import Session

    client = client_for()
    token = base64.b64encode(f"acme.alice:{PASSWORD}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    bodies = [client.post(API + "runs/", START, format="json").json() for _ in range(3)]
    assert [body["session_id"] for body in bodies] == [None, None, None]
    assert Session.objects.count() == 0


class _Account:
    """What a host's resolver often returns: its own tenant model instance."""

    def __init__(self, pk):
        self.pk = pk


def tenant_object_of_user(request):
    tenant = tenant_of_user(request)
    return _Account(tenant) if tenant else None


def test_a_resolver_returning_an_object_scopes_by_its_pk(who, acme_run, settings):
    settings.SCORIA_TENANT_RESOLVER = "tests.test_api.tenant_object_of_user"
    client = client_for(who.member)
    assert client.get(f"{API}runs/{acme_run.run_id}/").status_code == 200
    assert client.post(API + "runs/", START, format="json").json()["tenant_id"] == "acme"
    assert client_for(who.other_tenant).get(f"{API}runs/{acme_run.run_id}/").status_code == 404


def test_session_clients_keep_one_scoria_session_across_requests(who):
    client = client_for()
    client.login(username="acme.alice", password=PASSWORD)
    first = client.post(API + "runs/", START, format="json").json()
    second = client.post(API + "runs/", START, format="json").json()
    assert first["session_id"] == second["session_id"]
    assert client.session[scoria_settings.SESSION_KEY] == first["session_id"]
    listed = client.get(f"{API}sessions/{first['session_id']}/runs/").json()["results"]
    assert [row["run_id"] for row in listed] == [second["run_id"], first["run_id"]]


def test_tenant_cannot_be_chosen_by_header_query_or_body(who):
    client = client_for(who.member)
    response = client.post(
        API + "runs/?tenant_id=globex", START, format="json", HTTP_X_TENANT_ID="globex"
    )
    assert response.json()["tenant_id"] == "acme"
    response = client.post(API + "runs/", {**START, "tenant_id": "globex"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    response = client.get(API + "runs/?tenant_id=globex")
    assert (response.status_code, response.json()["code"]) == (400, "unsupported_filter")


@pytest.mark.parametrize(
    "field",
    [
        "status",
        "tenant_id",
        "actor_id",
        "run_id",
        "id",
        "session_id",
        "current_step_id",
        "parent_run_id",
        "created_at",
        "completed_at",
        "handlers",
        "timeout",
    ],
)
def test_start_rejects_mass_assignment(who, field):
    response = client_for(who.member).post(API + "runs/", {**START, field: "x"}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_field",
        "detail": response.json()["detail"],
        "field": field,
    }
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"initial_step": {**START["initial_step"], "status": "completed"}},
            "unknown_field",
            "initial_step.status",
        ),
        (
            {"initial_step": {**START["initial_step"], "sequence": 7}},
            "unknown_field",
            "initial_step.sequence",
        ),
        (
            {"initial_step": {"kind": "tests.handlers.boom", "role_id": "w"}},
            "invalid_choice",
            "initial_step.kind",
        ),
        ({"initial_step": {"kind": "echo"}}, "required", "initial_step.role_id"),
        ({}, "required", "initial_step"),
        ({**START, "root_role_id": " "}, "invalid_root_role_id", "root_role_id"),
        ({**START, "metadata": ["not", "a", "dict"]}, "invalid_option", "metadata"),
        ({**START, "input": {"bad": "nul\u0000"}}, "invalid_payload", "metadata"),
    ],
)
def test_start_validation_errors(who, body, code, field):
    response = client_for(who.member).post(API + "runs/", body, format="json")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert not Run.objects.exists()


def test_only_registered_kinds_are_accepted(who, settings):
    settings.SCORIA_HANDLERS = {"boom": "tests.handlers.boom"}
    client = client_for(who.member)
    assert client.post(API + "runs/", START, format="json").status_code == 400
    body = {"initial_step": {"kind": "boom", "role_id": "w"}}
    assert client.post(API + "runs/", body, format="json").json()["status"] == "failed"


def test_resume_approves_a_waiting_run_as_the_caller(who, acme_run):
    url = f"{API}runs/{acme_run.run_id}/resume/"
    response = client_for(who.member).post(url, {"input": {"ok": True}}, format="json")
    assert response.status_code == 200
    assert response.json()["run_id"] == acme_run.run_id
    assert response.json()["status"] == "completed"
    event = Run.objects.get(pk=acme_run.run_id).events.get(event_type="resume_requested")
    assert event.actor_id == str(who.member.pk)
    again = client_for(who.member).post(url, {}, format="json")
    assert (again.status_code, again.json()["code"]) == (409, "not_resumable")


def test_resume_and_cancel_reject_unknown_fields(who, acme_run):
    client = client_for(who.member)
    for action, body in [("resume", {"status": "running"}), ("cancel", {"status": "x"})]:
        response = client.post(f"{API}runs/{acme_run.run_id}/{action}/", body, format="json")
        assert (response.status_code, response.json()["code"]) == (400, "unknown_field")
    assert Run.objects.get(pk=acme_run.run_id).status == "waiting_for_approval"


def test_cancel_then_cancel_again_is_a_conflict(who, acme_run):
    url = f"{API}runs/{acme_run.run_id}/cancel/"
    client = client_for(who.member)
    assert client.post(url, {"reason": "stop"}, format="json").json()["status"] == "cancelled"
    response = client.post(url, {}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_status_transition"


def test_handoff_start_and_unsafe_context(who):
    client = client_for(who.member)
    response = client.post(API + "handoffs/", HANDOFF, format="json")
    assert response.status_code == 201
    detail = client.get(f"{API}runs/{response.json()['run_id']}/detail/").json()
    [handoff] = detail["delegated_handoffs"]
    assert (handoff["delegated_role_id"], handoff["child_status"]) == ("critic", "completed")
    assert handoff["projected_context"] == {"task": "review"}
    unsafe = {**HANDOFF, "projected_context": {"chat_history": []}}
    response = client.post(API + "handoffs/", unsafe, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "unsafe_projected_context")
    assert Run.objects.count() == 1


def test_csrf_is_enforced_for_session_clients_only(who):
    client = client_for(enforce_csrf_checks=True)
    client.login(username="acme.alice", password=PASSWORD)
    response = client.post(API + "runs/", START, format="json")
    assert (response.status_code, response.json()["code"]) == (403, "csrf_failed")
    assert not Run.objects.exists()
    secret = _get_new_csrf_string()
    client.cookies["csrftoken"] = secret
    response = client.post(API + "runs/", START, format="json", HTTP_X_CSRFTOKEN=secret)
    assert response.status_code == 201
    basic = client_for(enforce_csrf_checks=True)
    token = base64.b64encode(f"acme.alice:{PASSWORD}".encode()).decode()
    basic.credentials(HTTP_AUTHORIZATION=f"Basic {token}")
    assert basic.post(API + "runs/", START, format="json").status_code == 201


def test_wrong_credentials_are_a_json_error(who, monkeypatch):
    client = client_for()
    client.credentials(HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"acme.alice:no").decode())
    response = client.get(API + "runs/")
    assert (response.status_code, response.json()["code"]) == (403, "authentication_failed")
    # With a challenging scheme first, the same failure is a 401 with its challenge.
    monkeypatch.setattr(RunViewSet, "authentication_classes", [BasicAuthentication])
    response = client.get(API + "runs/")
    assert (response.status_code, response.json()["code"]) == (401, "authentication_failed")
    assert response["WWW-Authenticate"].startswith("Basic")


def test_oversized_body_is_a_json_413(who, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = {**START, "input": {"text": "x" * 2048}}
    response = client_for(who.member).post(API + "runs/", body, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"
    assert not Run.objects.exists()


def test_deeply_nested_bodies_are_400_not_500(who):
    client = client_for(who.member)
    hostile = "[" * 100_000 + "]" * 100_000
    response = client.post(API + "runs/", hostile, content_type="application/json")
    assert (response.status_code, response.json()["code"]) == (400, "json_too_deep")
    nested = {}
    for _ in range(60):
        nested = {"n": nested}
    response = client.post(API + "runs/", {**START, "input": nested}, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_payload")
    assert not Run.objects.exists()


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "malformed_json"),
        ('{"input": NaN, "initial_step": {}}', "application/json", 400, "malformed_json"),
        ("[]", "application/json", 400, "invalid"),
        ("initial_step=x", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"\xff\xfe{}", "application/json", 400, "malformed_json"),
    ],
)
def test_bad_bodies_are_json_errors(who, content, content_type, status, code):
    response = client_for(who.member).post(API + "runs/", content, content_type=content_type)
    assert response.status_code == status
    assert response.json()["code"] == code


def test_errors_are_never_html(who, acme_run):
    client = client_for(who.member)
    for response in (
        client.get(API + "runs", HTTP_ACCEPT="text/html"),
        client.post(API + "runs", START, format="json"),
        client.get(API + "runs/?stauts=x", HTTP_ACCEPT="text/html"),
        client.get(f"{API}runs/{acme_run.run_id}/resume/", HTTP_ACCEPT="text/html"),
        client_for().get(API + "runs/", HTTP_ACCEPT="text/html"),
    ):
        assert response.status_code >= 400
        assert response["Content-Type"] == "application/json"
        json.loads(response.content)


@pytest.mark.parametrize(
    "path", ["", "runs/", "runs/{run}/", "runs/{run}/detail/", "runs/{run}/events/"]
)
def test_the_browsable_api_serves_logged_in_users(who, acme_run, path):
    """DRF's convention: a logged-in user in a browser reads the API as HTML pages."""
    client = APIClient()
    client.force_login(who.member)
    url = API + path.format(run=acme_run.run_id)
    response = client.get(url, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Django REST framework" in response.content
    assert client.get(url, {"format": "api"})["Content-Type"].startswith("text/html")
    # Programs asking for JSON (or anything) still get JSON.
    assert client.get(url, HTTP_ACCEPT="*/*")["Content-Type"] == "application/json"


def test_the_api_root_lists_the_routes(who):
    response = client_for(who.member).get(API)
    assert response.status_code == 200
    assert response.json() == {
        "runs": "http://testserver/api/scoria/runs/",
        "handoffs": "http://testserver/api/scoria/handoffs/",
        "session_runs": "http://testserver/api/scoria/sessions/{session_id}/runs/",
        "schema": "http://testserver/api/scoria/schema/",
    }
    assert client_for().get(API).status_code == 403


@pytest.mark.parametrize("path", ["", "runs/", "runs/{run}/resume/", "schema/"])
def test_options_answers_with_the_methods_of_the_schema(who, acme_run, path):
    url = API + path.format(run=acme_run.run_id)
    response = client_for(who.member).options(url, HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    allowed = {method.strip() for method in response["Allow"].split(",")}
    expected = {
        "": {"GET"},
        "runs/": {"GET", "POST"},
        "runs/{run}/resume/": {"POST"},
        "schema/": {"GET"},
    }[path]
    assert allowed - {"HEAD", "OPTIONS"} == expected
    assert response.json()["name"]


def test_host_rest_framework_defaults_loosen_nothing(who, acme_run, settings):
    settings.REST_FRAMEWORK = {
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.BrowsableAPIRenderer"],
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.FormParser"],
        "EXCEPTION_HANDLER": "rest_framework.views.exception_handler",
    }
    anonymous = client_for()
    for path in ("runs/", f"runs/{acme_run.run_id}/", "schema/"):
        response = anonymous.get(API + path, HTTP_ACCEPT="text/html,*/*;q=0.8")
        assert response.status_code == 403
        assert response.json()["code"] == "not_authenticated"
    response = client_for(who.no_perm).post(f"{API}runs/{acme_run.run_id}/cancel/")
    assert (response.status_code, response.json()["code"]) == (403, "permission_denied")
    response = client_for(who.member).post(
        API + "runs/", "initial_step=x", content_type=("application/x-www-form-urlencoded")
    )
    assert response.status_code == 415


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"capability_tags": ["read", {"no": 1}]}, "invalid", "capability_tags[1]"),
        ({"capability_tags": [f"t{n}" for n in range(33)]}, "max_length", "capability_tags"),
        ({"delegated_kind": "unregistered"}, "invalid_choice", "delegated_kind"),
        ({"delegated_role_id": ""}, "invalid_delegated_role_id", "delegated_role_id"),
        ({"handoff_input": ["not", "a", "dict"]}, "invalid_handoff_input", "handoff_input"),
        ({"run_id": str(uuid.uuid4())}, "unknown_field", "run_id"),
    ],
)
def test_handoff_validation_errors(who, change, code, field):
    response = client_for(who.member).post(API + "handoffs/", {**HANDOFF, **change}, format="json")
    assert response.status_code == 400, response.content
    assert (response.json()["code"], response.json()["field"]) == (code, field)
    assert not Run.objects.exists()


def test_resume_retries_a_failed_run(who, settings):
    settings.SCORIA_HANDLERS = {"boom": "tests.handlers.boom"}
    client = client_for(who.member)
    body = {"initial_step": {"kind": "boom", "role_id": "w"}}
    failed = client.post(API + "runs/", body, format="json").json()
    assert failed["status"] == "failed"
    response = client.post(f"{API}runs/{failed['run_id']}/resume/", {}, format="json")
    assert (response.status_code, response.json()["run_id"]) == (200, failed["run_id"])
    [step] = client.get(f"{API}runs/{failed['run_id']}/steps/").json()["results"]
    assert (step["attempt"], step["status"]) == (2, "failed")
    assert Run.objects.count() == 1


@pytest.mark.parametrize(("path", "body"), [("runs/", START), ("handoffs/", HANDOFF)])
def test_the_idempotency_key_header_answers_201_then_200_with_the_same_run(who, path, body):
    client = client_for(who.member)
    first = client.post(API + path, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = client.post(API + path, body, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["run_id"] == first.json()["run_id"]
    assert Run.objects.count() == 1
    changed = json.loads(json.dumps(body))
    changed["metadata"] = {"other": True}
    reused = client.post(API + path, changed, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert reused.status_code == 409
    assert reused.json()["code"] == "idempotency_key_reused"
    blank = client.post(API + path, body, format="json", HTTP_IDEMPOTENCY_KEY=" ")
    assert blank.status_code == 400
    assert blank.json()["field"] == "idempotency_key"
