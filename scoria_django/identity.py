"""Who is asking: the frozen ``Identity`` value passed explicitly to every call.

Every surface builds identities here: ``identity()`` normalises a mapping, and the
``Identity.from_*`` constructors read a request, a Django session or a user. The request
rules are the middleware's contract: the actor from ``request.user``, the tenant from
``SCORIA_TENANT_RESOLVER`` only (never a header, query parameter or body field), and the
session id kept in the Django session under ``SCORIA_SESSION_KEY``, created on first use.

Importable before Django is configured (the package imports it eagerly): no models here.
"""

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.utils.module_loading import import_string

from .conf import scoria_settings
from .exceptions import InvalidIdentity
from .names import MAX_ID_LENGTH, check_text
from .payloads import check_json

# Fixed caps rather than settings, so identity() works before Django is configured.
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32


def _normalise_id(value: object, name: str) -> str | None:
    """Ids are strings; None, blank and whitespace-only mean "no id"."""
    if value is None:
        return None
    # bool is an int subclass, but True is nobody's id.
    if isinstance(value, bool) or not isinstance(value, str | int | uuid.UUID):
        raise InvalidIdentity(f"{name} must be a string, an integer or a UUID", field=name)
    text = check_text(str(value), field=name, error=InvalidIdentity).strip()
    if not text:
        return None
    if len(text) > MAX_ID_LENGTH:
        raise InvalidIdentity(f"{name} is longer than {MAX_ID_LENGTH} characters", field=name)
    return text


def _id_of(obj: object) -> object:
    """The id of an object (``pk``/``id``), a mapping (``"id"``) or a plain value."""
    if obj is None or isinstance(obj, str | int | uuid.UUID):
        return obj
    if isinstance(obj, Mapping):
        return obj.get("id")
    for attr in ("pk", "id"):
        value = getattr(obj, attr, None)
        if value is not None:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Identity:
    actor_id: str | None = None
    tenant_id: str | None = None
    session_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_session(self, session_id: object) -> "Identity":
        return Identity(
            self.actor_id,
            self.tenant_id,
            _normalise_id(session_id, "session_id"),
            dict(self.metadata),
        )

    @classmethod
    def from_user(cls, user: Any, **extra: Any) -> "Identity":
        """Actor from a Django user; anonymous users have no actor id."""
        return identity({"actor_id": actor_id_of(user), **extra})

    @classmethod
    def from_session(cls, session: Mapping[str, Any] | None, **extra: Any) -> "Identity":
        """Session id kept in a Django session (``SCORIA_SESSION_KEY``); actor from its auth key."""
        session = session or {}
        return identity(
            {
                "actor_id": session.get("_auth_user_id"),
                "session_id": session.get(scoria_settings.SESSION_KEY),
                **extra,
            }
        )

    @classmethod
    def from_request(cls, request: Any, **extra: Any) -> "Identity":
        """The identity the middleware attached, or one built the same way from the request."""
        attached = getattr(request, "scoria_identity", None)
        if attached is None:
            attached = build_identity(request)
        # Rebuilt from its fields: the middleware's value is a lazy proxy, not an Identity.
        return identity({**attached.as_dict(), **extra})

    @classmethod
    async def afrom_request(cls, request: Any, **extra: Any) -> "Identity":
        """``from_request`` for async views: loads the user and the session off the event loop."""
        attached = getattr(request, "ascoria_identity", None)
        found = await attached() if attached is not None else await abuild_identity(request)
        return identity(found, **extra)


def identity(attrs: Identity | Mapping[str, Any] | None = None, /, **kwargs: Any) -> Identity:
    """Normalise a mapping, keyword arguments or an ``Identity`` into an ``Identity``."""
    if isinstance(attrs, Identity) and not kwargs:
        return attrs
    if isinstance(attrs, Identity):
        attrs = attrs.as_dict()
    if attrs is None:
        attrs = {}
    elif not isinstance(attrs, Mapping):
        raise InvalidIdentity("identity attributes must be a mapping", field="identity")
    merged = {**attrs, **kwargs}

    def pick(primary: str, fallback: str) -> str | None:
        value = _normalise_id(merged.get(primary), primary)
        if value is None:
            value = _normalise_id(_id_of(merged.get(fallback)), primary)
        return value

    metadata = merged.get("metadata")
    metadata = dict(metadata) if isinstance(metadata, dict) else {}
    check_json(
        metadata,
        field="metadata",
        error=InvalidIdentity,
        max_bytes=MAX_METADATA_BYTES,
        max_depth=MAX_METADATA_DEPTH,
    )
    return Identity(
        actor_id=pick("actor_id", "actor"),
        tenant_id=pick("tenant_id", "tenant"),
        session_id=pick("session_id", "session"),
        metadata=metadata,
    )


# -- the request rules -------------------------------------------------------------------


def actor_id_of(user: Any) -> Any:
    """The actor a Django user stands for: its pk when authenticated, else None."""
    if user is not None and getattr(user, "is_authenticated", False):
        return user.pk
    return None


def tenant_for(request: Any) -> Any:
    """What the host's resolver returns for this request (a string, a pk or an object)."""
    resolver = scoria_settings.TENANT_RESOLVER
    if not resolver:
        return None
    return import_string(resolver)(request)


def tenant_id_for(request: Any) -> str | None:
    """The tenant id of the request as stored on runs, or None without a tenant."""
    return identity(tenant=tenant_for(request)).tenant_id


def session_id_for(request: Any, *, create: bool = True) -> str | None:
    """The scoria session id kept in the Django session; created on first use if ``create``."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    key = scoria_settings.SESSION_KEY
    value = session.get(key)
    if not value and create:
        value = session[key] = str(uuid.uuid4())
    return value or None


async def asession_id_for(request: Any, *, create: bool = True) -> str | None:
    """``session_id_for`` without blocking the event loop (the session may hit its store)."""
    session = getattr(request, "session", None)
    if session is None:
        return None
    key = scoria_settings.SESSION_KEY
    value = await session.aget(key)
    if not value and create:
        value = str(uuid.uuid4())
        await session.aset(key, value)
    return value or None


def build_identity(request: Any, *, user: Any = None) -> Identity:
    """A fresh identity from the request: user, tenant resolver and Django session."""
    user = user if user is not None else getattr(request, "user", None)
    return Identity.from_user(user, tenant=tenant_for(request), session_id=session_id_for(request))


async def abuild_identity(request: Any) -> Identity:
    """``build_identity`` for async requests: ``request.auser()`` and the async session API."""
    auser = getattr(request, "auser", None)
    user = await auser() if auser is not None else getattr(request, "user", None)
    # Resolvers are plain functions that may touch the ORM: run them off the event loop.
    tenant = await sync_to_async(tenant_for)(request)
    session_id = await asession_id_for(request)
    return Identity.from_user(user, tenant=tenant, session_id=session_id)
