"""The OpenAPI schema: exactly the mounted routes, and the API keeps its word (Schemathesis)."""

import base64
import json
import re

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, given
from hypothesis import settings as settings_
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

import scoria_django as scoria
from scoria_django.api import urls as api_urls
from tests.api_support import PASSWORD, TENANT_RESOLVER, client_for, make_user

API = "/api/scoria/"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(autouse=True)
def _tenants(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER


def openapi_path(pattern):
    """A URL pattern (router regex or ``path()`` route) in OpenAPI's ``{name}`` form."""
    text = str(pattern).lstrip("^").rstrip("$")
    text = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", text)
    return API + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text)


def mounted_routes():
    routes = set()
    for pattern in api_urls.urlpatterns:
        if pattern.name == "unknown":  # the JSON 404 for everything else
            continue
        callback = pattern.callback
        actions = getattr(callback, "actions", None)
        # DRF adds "head" to a viewset's actions once it has served a GET: not an operation.
        methods = set(actions) if actions else {m for m in METHODS if hasattr(callback.cls, m)}
        methods &= set(METHODS)
        routes |= {(method, openapi_path(pattern.pattern)) for method in methods}
    return routes


def fetch_schema(user):
    response = client_for(user).get(API + "schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_the_schema_does_not_need_the_projects_default_schema_class(settings):
    # installation.md never asks for drf-spectacular's DEFAULT_SCHEMA_CLASS: without it
    # the document is the same (it answered 500 before scoria named its own class).
    user = make_user("acme.alice")
    expected = fetch_schema(user)
    settings.REST_FRAMEWORK = {
        key: value
        for key, value in settings.REST_FRAMEWORK.items()
        if key != "DEFAULT_SCHEMA_CLASS"
    }
    assert fetch_schema(user) == expected


@pytest.mark.django_db
def test_schema_covers_exactly_the_mounted_routes():
    schema = fetch_schema(make_user("acme.alice"))
    documented = {
        (method, path)
        for path, operations in schema["paths"].items()
        for method in operations
        if method in METHODS
    }
    assert documented == mounted_routes()
    assert len(documented) == 17  # docs/api.md: fifteen operations, the schema and the root


@pytest.mark.django_db
def test_schema_lists_the_registered_handler_kinds(settings):
    settings.SCORIA_HANDLERS = {"review": "tests.handlers.review", "echo": "tests.handlers.echo"}
    components = fetch_schema(make_user("acme.alice"))["components"]["schemas"]
    assert components["HandlerKind"]["enum"] == ["echo", "review"]
    kind = {"$ref": "#/components/schemas/HandlerKind"}
    assert components["InitialStepInput"]["properties"]["kind"] == kind
    assert components["StartHandoffInput"]["properties"]["delegated_kind"] == kind
    for name in (
        "StartRunInput",
        "StartHandoffInput",
        "ResumeInput",
        "CancelInput",
        "ApproveInput",
        "RejectInput",
    ):
        assert not {"status", "tenant_id", "actor_id", "run_id"} & set(
            components[name]["properties"]
        )


@pytest.mark.django_db
def test_schema_names_each_enum_once_and_closes_request_bodies():
    schema = fetch_schema(make_user("acme.alice"))
    components = schema["components"]["schemas"]
    text = json.dumps(schema)
    for name in ("RunStatus", "StepStatus", "HandlerKind"):
        # Defined once, as a component; every use is a reference to it.
        assert text.count(json.dumps(components[name]["enum"])) == 1
        assert f'"#/components/schemas/{name}"' in text
    assert '"x-spec-enum-id"' not in text
    for name in ("StartRunInput", "InitialStepInput", "StartHandoffInput", "ResumeInput"):
        assert components[name]["additionalProperties"] is False
    error = components["Error"]["properties"]
    assert {"current", "target"} <= set(error)
    assert {"invalid_status_transition", "not_found", "unknown_field"} <= set(
        components["ErrorCode"]["enum"]
    )
    for operations in schema["paths"].values():
        for operation in operations.values():
            default = operation["responses"]["default"]["content"]["application/json"]
            assert default["schema"] == {"$ref": "#/components/schemas/Error"}
    # Any-JSON values carry no ``nullable`` without a ``type`` (Redocly's error).
    for component in components.values():
        for prop in component.get("properties", {}).values():
            assert "type" in prop or "nullable" not in prop
    runs = schema["paths"]["/api/scoria/runs/"]
    assert runs["post"]["security"][0] == {"cookieAuth": [], "csrfToken": []}
    assert schema["components"]["securitySchemes"]["csrfToken"]["in"] == "header"


def basic_auth():
    token = base64.b64encode(f"acme.alice:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), sorted(mounted_routes()))
def test_api_keeps_to_its_schema(settings, method, path, mode):
    """Schemathesis as an authenticated tenant member: no 5xx, statuses and bodies as documented.

    Run and approval ids are half generated (mostly unknown: 404) and half the id of a
    real waiting run (and its approval), so the success responses are checked against the
    schema too.
    """
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    member = make_user("acme.alice", perms=("resume_run", "cancel_run", "decide_approval"))
    waiting = scoria.start_run(
        scoria.identity(actor_id=member.pk, tenant_id="acme", session_id="s-1"),
        initial_step={"kind": "approval", "role_id": "writer"},
    )
    schema = schemathesis.openapi.from_wsgi(
        API + "schema/?format=json", get_wsgi_application(), headers=basic_auth()
    )
    if path.endswith("/stream/"):
        # A waiting run's stream stays open; a finished run's stream ends (or is a 204).
        waiting = scoria.start_run(
            scoria.identity(actor_id=member.pk, tenant_id="acme", session_id="s-1"),
            initial_step={"kind": "echo", "role_id": "writer"},
        )
    operation = schema[path][method.upper()]
    if mode == GenerationMode.NEGATIVE and path == API:
        pytest.skip("the API root takes no input, so nothing can be made invalid")
    real = None
    if "{run_id}" in path:
        real = {"run_id": waiting.run_id}
    elif "{approval_id}" in path:
        (approval,) = scoria.list_approvals(identity={"tenant_id": "acme"}, run_id=waiting.run_id)
        real = {"approval_id": approval.approval_id}
    strategies = [operation.as_strategy(mode, headers=basic_auth())]
    if real:
        strategies.append(operation.as_strategy(mode, headers=basic_auth(), path_parameters=real))

    @given(case=st.one_of(strategies))
    @settings_(
        max_examples=6, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    def keeps_to_schema(case):
        case.call_and_validate(checks=CHECKS)

    keeps_to_schema()
