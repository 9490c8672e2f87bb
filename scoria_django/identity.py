"""Who is asking: the frozen ``Identity`` value passed explicitly to every call."""

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from .exceptions import InvalidIdentity
from .payloads import check_json

MAX_ID_LENGTH = 255
# Fixed caps rather than settings, so identity() works before Django is configured.
MAX_METADATA_BYTES = 64 * 1024
MAX_METADATA_DEPTH = 32


def _normalise_id(value, name):
    """Ids are strings; None, blank and whitespace-only mean "no id"."""
    if value is None:
        return None
    # bool is an int subclass, but True is nobody's id.
    if isinstance(value, bool) or not isinstance(value, str | int | uuid.UUID):
        raise InvalidIdentity(f"{name} must be a string, an integer or a UUID", field=name)
    text = str(value).strip()
    if not text:
        return None
    if len(text) > MAX_ID_LENGTH:
        raise InvalidIdentity(f"{name} is longer than {MAX_ID_LENGTH} characters", field=name)
    return text


def _id_of(obj):
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
    metadata: dict = field(default_factory=dict)

    def as_dict(self):
        return asdict(self)

    def with_session(self, session_id):
        return Identity(
            self.actor_id,
            self.tenant_id,
            _normalise_id(session_id, "session_id"),
            dict(self.metadata),
        )

    @classmethod
    def from_user(cls, user, **extra):
        """Actor from a Django user; anonymous users have no actor id."""
        actor = None
        if user is not None and getattr(user, "is_authenticated", False):
            actor = user.pk
        return identity({"actor_id": actor, **extra})

    @classmethod
    def from_session(cls, session, **extra):
        """Session id kept in a Django session (``SCORIA_SESSION_KEY``); actor from its auth key."""
        from .conf import scoria_settings

        session = session or {}
        return identity(
            {
                "actor_id": session.get("_auth_user_id"),
                "session_id": session.get(scoria_settings.SESSION_KEY),
                **extra,
            }
        )

    @classmethod
    def from_request(cls, request, **extra):
        """The identity the middleware built, or one built the same way from the request."""
        attached = getattr(request, "scoria_identity", None)
        if attached is None:
            from .middleware import build_identity

            attached = build_identity(request)
        # Rebuilt from its fields: the middleware's value is a lazy proxy, not an Identity.
        return identity({**attached.as_dict(), **extra})


def identity(attrs=None, /, **kwargs):
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

    def pick(primary, fallback):
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
