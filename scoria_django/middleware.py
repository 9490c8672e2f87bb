"""``ScoriaIdentityMiddleware``: a lazy ``request.scoria_identity`` for every request.

The identity is built by ``identity.build_identity`` (the actor from ``request.user``, the
tenant from ``SCORIA_TENANT_RESOLVER``, the session id from the Django session, created
on first use); this module only attaches it, so nothing is read until a view asks.

Async views read ``await request.ascoria_identity()``: touching ``request.scoria_identity``
there would load the user and the session synchronously, which Django forbids in an
event loop.
"""

from collections.abc import Awaitable, Callable
from typing import Any, cast

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .identity import Identity, abuild_identity, build_identity


class _IdentifiedRequest(HttpRequest):
    """What ``_attach`` adds to a request, for type checkers."""

    scoria_identity: Identity
    ascoria_identity: Callable[[], Awaitable[Identity]]
    _ascoria_identity: Identity


def _attach(http_request: HttpRequest) -> None:
    """Give ``request`` a lazy ``scoria_identity`` and a cached ``ascoria_identity()``."""
    request = cast(_IdentifiedRequest, http_request)
    # The proxy stands in for the Identity it builds on first attribute access.
    request.scoria_identity = cast(Identity, SimpleLazyObject(lambda: build_identity(request)))

    async def ascoria_identity() -> Identity:
        cached = getattr(request, "_ascoria_identity", None)
        if cached is None:
            cached = request._ascoria_identity = await abuild_identity(request)
        return cached

    request.ascoria_identity = ascoria_identity


class ScoriaIdentityMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        _attach(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> Any:
        _attach(request)
        return await self.get_response(request)
