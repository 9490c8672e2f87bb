"""``ScoriaIdentityMiddleware``: a lazy ``request.scoria_identity`` for every request.

The actor comes from ``request.user``, the tenant from ``SCORIA_TENANT_RESOLVER`` (never
from a header, query parameter or body field), and the session id from the Django
session, created on first use and stable for that browser session.

Async views read ``await request.ascoria_identity()``: touching ``request.scoria_identity``
there would load the user and the session synchronously, which Django forbids in an
event loop.
"""

import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.utils.functional import SimpleLazyObject
from django.utils.module_loading import import_string

from .conf import scoria_settings
from .identity import identity


def session_id_for(request):
    """The scoria session id kept in the Django session, created on first use."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    key = scoria_settings.SESSION_KEY
    value = session.get(key)
    if not value:
        value = str(uuid.uuid4())
        session[key] = value
    return value


async def asession_id_for(request):
    session = getattr(request, "session", None)
    if session is None:
        return None
    key = scoria_settings.SESSION_KEY
    value = await session.aget(key)
    if not value:
        value = str(uuid.uuid4())
        await session.aset(key, value)
    return value


def tenant_for(request):
    """What the host's resolver returns for this request (a string, a pk or an object)."""
    resolver = scoria_settings.TENANT_RESOLVER
    if not resolver:
        return None
    return import_string(resolver)(request)


def tenant_id_for(request):
    """The tenant id of the request as stored on runs, or None without a tenant."""
    return identity(tenant=tenant_for(request)).tenant_id


def _actor(user):
    return user.pk if user is not None and getattr(user, "is_authenticated", False) else None


def build_identity(request, *, user=None):
    user = user if user is not None else getattr(request, "user", None)
    return identity(
        {
            "actor_id": _actor(user),
            "tenant": tenant_for(request),
            "session_id": session_id_for(request),
        }
    )


async def abuild_identity(request):
    auser = getattr(request, "auser", None)
    user = await auser() if auser is not None else getattr(request, "user", None)
    # Resolvers are plain functions that may touch the ORM: run them off the event loop.
    tenant = await sync_to_async(tenant_for)(request)
    return identity(
        {"actor_id": _actor(user), "tenant": tenant, "session_id": await asession_id_for(request)}
    )


def _attach(request):
    request.scoria_identity = SimpleLazyObject(lambda: build_identity(request))

    async def ascoria_identity():
        cached = getattr(request, "_ascoria_identity", None)
        if cached is None:
            cached = request._ascoria_identity = await abuild_identity(request)
        return cached

    request.ascoria_identity = ascoria_identity


class ScoriaIdentityMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self.async_mode:
            return self.__acall__(request)
        _attach(request)
        return self.get_response(request)

    async def __acall__(self, request):
        _attach(request)
        return await self.get_response(request)
