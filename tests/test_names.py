"""The one validator for text that enters scoria, and the 500s it closed (issue 17).

NUL characters and lone surrogates are refused with the code of the value at fault, by the
facade, the manager verbs, the API and the commands alike.
"""

import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

import scoria_django as scoria
from scoria_django.models import Run
from scoria_django.names import NAME_PATTERN, check_name, is_name, printable, text_problem
from tests.api_support import TENANT_RESOLVER, client_for, make_user

API = "/api/scoria/"
NUL, SURROGATE = "ro\x00le", "ro\ud800le"

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("ok", None),
        ("é✓", None),
        ("", None),
        (NUL, "a NUL character"),
        (SURROGATE, "a lone surrogate"),
    ],
)
def test_text_problem(value, problem):
    assert text_problem(value) == problem


@pytest.mark.parametrize(
    ("value", "name"),
    [("writer", True), (" w ", True), ("", False), (" \u3000\x1c", False), (NUL, False)]
    + [(SURROGATE, False), ("x" * 255, True), ("x" * 256, False), (0, False), (None, False)],
)
def test_is_name_and_its_schema_pattern_agree(value, name):
    import re

    assert is_name(value) is name
    if isinstance(value, str) and len(value) <= 255 and text_problem(value) != "a lone surrogate":
        assert bool(re.match(NAME_PATTERN, value)) is name


def test_check_name_says_what_is_wrong():
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        check_name(SURROGATE, field="role_id", error=scoria.ScoriaValidationError)
    assert caught.value.detail == "role_id contains a lone surrogate"
    assert printable("a\ud800b") == "a\\ud800b"


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
@pytest.mark.parametrize(
    ("call", "code", "field"),
    [
        (lambda t: scoria.start_run({}, root_role_id=t), "invalid_root_role_id", "root_role_id"),
        (
            lambda t: scoria.start_run({}, initial_step={"kind": t, "role_id": "w"}),
            "invalid_initial_step",
            "initial_step.kind",
        ),
        (
            lambda t: scoria.start_run({}, initial_step={"kind": "echo", "role_id": t}),
            "invalid_initial_step",
            "initial_step.role_id",
        ),
        (
            lambda t: scoria.start_handoff_run({}, t, root_role_id="p", delegated_kind="echo"),
            "invalid_delegated_role_id",
            "delegated_role_id",
        ),
        (
            lambda t: scoria.start_handoff_run({}, "c", root_role_id=t, delegated_kind="echo"),
            "invalid_root_role_id",
            "root_role_id",
        ),
        (
            lambda t: scoria.start_handoff_run({}, "c", root_role_id="p", delegated_kind=t),
            "invalid_delegated_kind",
            "delegated_kind",
        ),
        (lambda t: scoria.start_run({"session_id": t}), "invalid_identity", "session_id"),
        (lambda t: scoria.identity(actor_id=t), "invalid_identity", "actor_id"),
        (lambda t: scoria.list_runs_for_session(t), "invalid_filter", "session_id"),
        (lambda t: scoria.start_run({}, handlers={t: "x.y"}), "invalid_option", "handlers"),
        (lambda t: Run.objects.start(t), "invalid_scope", "session_id"),
        (lambda t: Run.objects.start(None, kind=t), "invalid_run_opt", "kind"),
        (lambda t: Run.objects.list_runs({"thread_id": t}), "invalid_filter", "thread_id"),
    ],
)
def test_facade_and_manager_verbs_refuse_hostile_text(call, code, field, bad):
    with pytest.raises(scoria.ScoriaValidationError) as caught:
        call(bad)
    assert (caught.value.code, caught.value.field) == (code, field)
    caught.value.detail.encode("utf-8")  # showable anywhere
    assert Run.objects.count() == 0


@pytest.fixture
def member(settings):
    settings.SCORIA_TENANT_RESOLVER = TENANT_RESOLVER
    return client_for(make_user("acme.alice"))


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (
            {"initial_step": {"kind": "echo", "role_id": "w"}, "\ud800": 1},
            "unknown_field",
            "\\ud800",
        ),
        (
            {"initial_step": {"kind": "\ud800", "role_id": "w"}},
            "invalid_choice",
            "initial_step.kind",
        ),
        ({"initial_step": {"kind": "echo", "role_id": "w\x00"}}, "invalid_initial_step", None),
        ({"initial_step": {"kind": "echo", "role_id": "w"}, "root_role_id": "\udfff"}, None, None),
        ({"initial_step": {"kind": "echo", "role_id": "w"}, "root_role_id": 0}, "invalid", None),
        ({"initial_step": {"kind": "echo", "role_id": "w"}, "metadata": {"\ud800": 1}}, None, None),
    ],
)
def test_the_api_answers_hostile_bodies_with_renderable_400s(member, body, code, field):
    response = member.post(API + "runs/", json.dumps(body), content_type="application/json")
    assert response.status_code == 400, response.content
    error = response.json()
    assert error["code"] == code or (code is None and error["code"].startswith("invalid_"))
    if field is not None:
        assert error["field"] == field
    assert Run.objects.count() == 0


@pytest.mark.parametrize("segment", ["%00", "a%00b"])
def test_a_hostile_session_id_in_the_path_is_400(member, segment):
    response = member.get(f"{API}sessions/{segment}/runs/")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_filter")


def test_an_empty_filter_value_is_400_not_everything(member):
    for query in ("updated_before=", "status=", "session_id=", "parent_run_id="):
        response = member.get(f"{API}runs/?{query}")
        assert (response.status_code, response.json()["code"]) == (400, "invalid_filter")


def test_commands_refuse_hostile_text():
    with pytest.raises(CommandError, match="invalid_filter"):
        call_command("scoria_runs", "list", "--session-id", "s\udcff")
    with pytest.raises(CommandError, match="invalid_filter"):
        call_command("scoria_runs", "list", "--tenant-id", "t\x00")
    run = Run.objects.start("s-1")
    with pytest.raises(CommandError, match="invalid_identity"):
        call_command("scoria_cancel", str(run.pk), "--actor-id", "op\ud800")
