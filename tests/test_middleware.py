import json

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpResponse, JsonResponse
from django.test import override_settings
from django.urls import path

from scoria_django.identity import Identity
from scoria_django.middleware import ScoriaIdentityMiddleware

RESOLVER = "tests.operator_tenants.tenant_from_username"
SESSION_KEY = "scoria_session_id"


def whoami(request):
    return JsonResponse(request.scoria_identity.as_dict())


def untouched(request):
    return HttpResponse("no identity needed")


urlpatterns = [path("whoami/", whoami), path("untouched/", untouched)]


def with_session(request):
    SessionMiddleware(lambda r: HttpResponse()).process_request(request)
    return request


def run_sync(request):
    seen = {}

    def view(req):
        seen["identity"] = req.scoria_identity
        return HttpResponse()

    ScoriaIdentityMiddleware(view)(request)
    return seen["identity"]


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice@acme", password="pw")


def test_sync_identity_comes_from_user_resolver_and_session(rf, alice, settings):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    request = with_session(rf.get("/"))
    request.user = alice

    found = run_sync(request)

    assert found.actor_id == str(alice.pk)
    assert found.tenant_id == "acme"
    assert found.session_id == request.session[SESSION_KEY]
    assert Identity.from_request(request) == found


def test_anonymous_request_has_no_actor_and_no_tenant(rf, settings, db):
    settings.SCORIA_TENANT_RESOLVER = RESOLVER
    request = with_session(rf.get("/"))
    request.user = AnonymousUser()

    found = run_sync(request)

    assert (found.actor_id, found.tenant_id) == (None, None)
    assert found.session_id


def test_identity_is_lazy(rf, alice, settings):
    settings.SCORIA_TENANT_RESOLVER = "tests.test_middleware.exploding_resolver"
    request = with_session(rf.get("/"))
    request.user = alice

    ScoriaIdentityMiddleware(lambda req: HttpResponse())(request)

    # Nothing resolved, nothing written to the session, until someone reads the identity.
    assert SESSION_KEY not in request.session
    with pytest.raises(RuntimeError, match="resolver called"):
        str(request.scoria_identity.tenant_id)


def exploding_resolver(request):
    raise RuntimeError("resolver called")


def test_configured_session_key_is_used(rf, alice, settings):
    settings.SCORIA_SESSION_KEY = "assistant_session_id"
    request = with_session(rf.get("/"))
    request.session["assistant_session_id"] = "conversation-7"
    request.user = alice

    assert run_sync(request).session_id == "conversation-7"


@pytest.mark.urls("tests.test_middleware")
def test_session_id_is_stable_within_a_browser_session_and_fresh_for_another(client, alice):
    client.force_login(alice)
    first = client.get("/whoami/").json()["session_id"]
    second = client.get("/whoami/").json()["session_id"]

    other = type(client)()
    other.force_login(alice)
    third = other.get("/whoami/").json()["session_id"]

    assert first and first == second
    assert third and third != first


@pytest.mark.urls("tests.test_middleware")
def test_session_id_is_not_created_when_nothing_reads_the_identity(client, alice):
    client.force_login(alice)
    client.get("/untouched/")

    assert SESSION_KEY not in client.session


@pytest.mark.urls("tests.test_middleware")
@pytest.mark.parametrize("resolver", [RESOLVER, None])
def test_header_query_and_body_never_choose_the_tenant(client, alice, settings, resolver):
    settings.SCORIA_TENANT_RESOLVER = resolver
    client.force_login(alice)

    response = client.post(
        "/whoami/?tenant_id=evil&tenant=evil",
        data=json.dumps({"tenant_id": "evil", "tenant": "evil"}),
        content_type="application/json",
        headers={"X-Tenant-Id": "evil", "X-Scoria-Tenant": "evil"},
    )

    assert response.json()["tenant_id"] == ("acme" if resolver else None)


def test_resolver_returning_an_object_gives_its_pk(rf, alice, settings):
    settings.SCORIA_TENANT_RESOLVER = "tests.test_middleware.account_resolver"
    request = with_session(rf.get("/"))
    request.user = alice

    assert run_sync(request).tenant_id == "42"


class Account:
    pk = 42


def account_resolver(request):
    return Account()


# Async --------------------------------------------------------------------------------


def async_request(arf, user):
    request = with_session(arf.get("/"))
    request.user = user

    async def auser():
        return user

    request.auser = auser
    return request


def test_middleware_is_async_capable_and_keeps_async_mode():
    async def get_response(request):
        return HttpResponse()

    assert ScoriaIdentityMiddleware.async_capable and ScoriaIdentityMiddleware.sync_capable
    assert iscoroutinefunction(ScoriaIdentityMiddleware(get_response))
    assert not iscoroutinefunction(ScoriaIdentityMiddleware(lambda request: HttpResponse()))


@override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    SCORIA_TENANT_RESOLVER=RESOLVER,
)
def test_async_identity(async_rf, alice):
    request = async_request(async_rf, alice)
    seen = {}

    async def view(req):
        seen["first"] = await req.ascoria_identity()
        seen["again"] = await req.ascoria_identity()
        return HttpResponse()

    response = async_to_sync(ScoriaIdentityMiddleware(view))(request)

    assert response.status_code == 200
    found = seen["first"]
    assert found.actor_id == str(alice.pk)
    assert found.tenant_id == "acme"
    assert found.session_id == request.session[SESSION_KEY]
    assert seen["again"] is found


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_async_identity_reuses_the_stored_session_id(async_rf, alice):
    request = async_request(async_rf, alice)
    request.session[SESSION_KEY] = "conversation-9"
    seen = {}

    async def view(req):
        seen["identity"] = await req.ascoria_identity()
        return HttpResponse()

    async_to_sync(ScoriaIdentityMiddleware(view))(request)

    assert seen["identity"].session_id == "conversation-9"


@override_settings(
    SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies",
    SCORIA_TENANT_RESOLVER=RESOLVER,
)
def test_afrom_request_in_an_async_view_is_the_middlewares_identity(async_rf, alice):
    request = async_request(async_rf, alice)
    seen = {}

    async def view(req):
        seen["attached"] = await req.ascoria_identity()
        seen["built"] = await Identity.afrom_request(req, metadata={"channel": "web"})
        return HttpResponse()

    async_to_sync(ScoriaIdentityMiddleware(view))(request)

    attached, built = seen["attached"], seen["built"]
    assert (built.actor_id, built.tenant_id) == (str(alice.pk), "acme")
    assert built.session_id == attached.session_id == request.session[SESSION_KEY]
    assert built.metadata == {"channel": "web"}


@override_settings(SESSION_ENGINE="django.contrib.sessions.backends.signed_cookies")
def test_afrom_request_without_the_middleware_builds_the_same_identity(async_rf, alice):
    request = async_request(async_rf, alice)

    first = async_to_sync(Identity.afrom_request)(request)
    again = async_to_sync(Identity.afrom_request)(request)

    assert first.actor_id == str(alice.pk)
    assert first.session_id == again.session_id == request.session[SESSION_KEY]
