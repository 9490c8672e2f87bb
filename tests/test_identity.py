"""Identity normalisation (docs/guide.md)."""

import uuid
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory, override_settings

import scoria_django as scoria
from scoria_django.exceptions import InvalidIdentity
from scoria_django.middleware import ScoriaIdentityMiddleware


def test_mapping_and_keywords_give_the_same_identity():
    from_mapping = scoria.identity(
        {"actor_id": "u1", "tenant_id": "t1", "session_id": "s1", "metadata": {"channel": "web"}}
    )
    from_keywords = scoria.identity(
        actor_id="u1", tenant_id="t1", session_id="s1", metadata={"channel": "web"}
    )
    assert from_mapping == from_keywords
    assert from_mapping.as_dict() == {
        "actor_id": "u1",
        "tenant_id": "t1",
        "session_id": "s1",
        "metadata": {"channel": "web"},
    }


def test_keywords_override_the_mapping():
    assert scoria.identity({"actor_id": "a"}, actor_id="b").actor_id == "b"


def test_an_identity_is_returned_unchanged():
    ident = scoria.identity(actor_id="u1")
    assert scoria.identity(ident) is ident


def test_an_identity_with_keywords_is_a_new_identity():
    ident = scoria.identity(actor_id="u1", session_id="s1")
    changed = scoria.identity(ident, session_id="s2")
    assert (changed.actor_id, changed.session_id) == ("u1", "s2")
    assert ident.session_id == "s1"


def test_none_is_the_anonymous_identity():
    assert scoria.identity(None) == scoria.Identity(None, None, None, {})
    assert scoria.identity() == scoria.Identity()


def test_identity_is_frozen():
    ident = scoria.identity(actor_id="u1")
    with pytest.raises(AttributeError):
        ident.actor_id = "u2"


@pytest.mark.parametrize(
    ("attrs", "expected"),
    [
        ({"actor": SimpleNamespace(pk=42)}, "42"),
        ({"actor": SimpleNamespace(id=7)}, "7"),
        ({"actor": {"id": "m1"}}, "m1"),
        ({"actor": "plain"}, "plain"),
        ({"actor": 5}, "5"),
        ({"actor_id": "explicit", "actor": "ignored"}, "explicit"),
        ({"actor_id": "  ", "actor": "fallback"}, "fallback"),
        ({"actor": SimpleNamespace(pk=uuid.UUID(int=1))}, str(uuid.UUID(int=1))),
    ],
)
def test_actor_fallbacks(attrs, expected):
    assert scoria.identity(attrs).actor_id == expected


def test_tenant_and_session_fallbacks():
    ident = scoria.identity(tenant=SimpleNamespace(pk=3), session={"id": "sess-9"})
    assert (ident.tenant_id, ident.session_id) == ("3", "sess-9")
    assert scoria.identity(tenant="acme", session="s").as_dict()["tenant_id"] == "acme"
    assert scoria.identity(session="s").session_id == "s"


def test_integer_ids_become_strings():
    ident = scoria.identity(actor_id=42, tenant_id=0, session_id=7)
    assert (ident.actor_id, ident.tenant_id, ident.session_id) == ("42", "0", "7")


@pytest.mark.parametrize("blank", [None, "", "   ", "\t\n"])
def test_blank_ids_become_none(blank):
    ident = scoria.identity(actor_id=blank, tenant_id=blank, session_id=blank)
    assert (ident.actor_id, ident.tenant_id, ident.session_id) == (None, None, None)


def test_ids_are_stripped():
    assert scoria.identity(actor_id="  u1 ").actor_id == "u1"


@pytest.mark.parametrize("field", ["actor_id", "tenant_id", "session_id"])
def test_an_id_longer_than_255_characters_is_invalid_identity(field):
    assert getattr(scoria.identity({field: "x" * 255}), field) == "x" * 255
    with pytest.raises(InvalidIdentity) as caught:
        scoria.identity({field: "x" * 256})
    assert caught.value.code == "invalid_identity"
    assert caught.value.field == field


@pytest.mark.parametrize("value", [True, 1.5, ["a"], {"nested": "dict"}])
def test_an_id_of_another_type_is_invalid_identity(value):
    with pytest.raises(InvalidIdentity):
        scoria.identity(actor_id=value)


def test_a_non_mapping_is_invalid_identity():
    with pytest.raises(InvalidIdentity) as caught:
        scoria.identity(["actor_id", "u1"])
    assert caught.value.code == "invalid_identity"


@pytest.mark.parametrize("metadata", [None, "text", ["a"], 3])
def test_metadata_is_only_a_top_level_dict(metadata):
    assert scoria.identity(actor_id="u", metadata=metadata).metadata == {}


def test_metadata_is_copied():
    given = {"channel": "web"}
    ident = scoria.identity(metadata=given)
    given["channel"] = "changed"
    assert ident.metadata == {"channel": "web"}


def test_metadata_that_is_not_json_is_invalid_identity():
    with pytest.raises(InvalidIdentity) as caught:
        scoria.identity(metadata={"when": object()})
    assert caught.value.field == "metadata"


def test_identity_never_invents_a_session_id():
    assert scoria.identity(actor_id="u1").session_id is None


def test_from_user():
    assert scoria.Identity.from_user(SimpleNamespace(pk=42, is_authenticated=True)).actor_id == "42"
    assert scoria.Identity.from_user(AnonymousUser()).actor_id is None
    assert scoria.Identity.from_user(None).actor_id is None
    ident = scoria.Identity.from_user(
        SimpleNamespace(pk=1, is_authenticated=True), tenant_id="t", session_id="s"
    )
    assert (ident.actor_id, ident.tenant_id, ident.session_id) == ("1", "t", "s")


def test_from_session_reads_the_scoria_key_and_the_auth_user():
    session = {"scoria_session_id": "sess-1", "_auth_user_id": "9"}
    ident = scoria.Identity.from_session(session)
    assert (ident.actor_id, ident.session_id) == ("9", "sess-1")
    assert scoria.Identity.from_session(None) == scoria.Identity()


@override_settings(SCORIA_SESSION_KEY="assistant_session_id")
def test_from_session_follows_the_session_key_setting():
    assert scoria.Identity.from_session({"assistant_session_id": "s2"}).session_id == "s2"


@pytest.mark.django_db
def test_from_request_returns_a_plain_identity_from_the_middleware():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = SimpleNamespace(pk=5, is_authenticated=True)
    seen = {}

    def view(req):
        seen["identity"] = scoria.Identity.from_request(req, metadata={"channel": "web"})
        return None

    ScoriaIdentityMiddleware(view)(request)
    ident = seen["identity"]
    assert type(ident) is scoria.Identity
    assert ident.actor_id == "5"
    assert ident.session_id == request.session["scoria_session_id"]
    assert ident.metadata == {"channel": "web"}


@pytest.mark.django_db
def test_from_request_without_the_middleware_builds_the_same_identity():
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    first = scoria.Identity.from_request(request)
    second = scoria.Identity.from_request(request)
    assert first.actor_id is None
    assert first.session_id is not None
    assert first.session_id == second.session_id


def test_metadata_over_64_kib_is_invalid_identity():
    with pytest.raises(InvalidIdentity) as caught:
        scoria.identity(metadata={"blob": "x" * (64 * 1024)})
    assert caught.value.field == "metadata"
