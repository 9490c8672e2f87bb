"""``ScoriaIdentityMiddleware``: a lazy ``request.scoria_identity`` for every request.

The actor comes from ``request.user``, the tenant from ``SCORIA_TENANT_RESOLVER`` (never
from a header, query parameter or body field), and the session id from the Django
session, created on first use and stable for that browser session.
"""

import uuid

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
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


def tenant_for(request):
    resolver = scoria_settings.TENANT_RESOLVER
    if not resolver:
        return None
    return import_string(resolver)(request)


def build_identity(request, *, user=None):
    user = user if user is not None else getattr(request, "user", None)
    actor = user.pk if user is not None and getattr(user, "is_authenticated", False) else None
    return identity(
        {"actor_id": actor, "tenant_id": tenant_for(request), "session_id": session_id_for(request)}
    )


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
        request.scoria_identity = SimpleLazyObject(lambda: build_identity(request))
        return self.get_response(request)

    async def __acall__(self, request):
        request.scoria_identity = SimpleLazyObject(lambda: build_identity(request))
        return await self.get_response(request)
