"""The bounded-handoff contract: which projected contexts may cross to another role.

A projected context is a curated slice for the delegated role, never a dump of the
conversation, the provider session or transport state. Every key at every depth is
normalised and checked against the names below.
"""

import re
import unicodedata

from .conf import scoria_settings
from .confusables import skeletons
from .exceptions import InvalidProjectedContext, UnsafeProjectedContext
from .payloads import check_json

UNSAFE_NAMES = frozenset(
    {
        "transcript",
        "transcripts",
        "messages",
        "message_history",
        "history",
        "chat_history",
        "conversation_history",
        "provider_session",
        "provider_state",
        "runtime_state",
        "session",
        "session_state",
        "socket",
        "socket_state",
        "assigns",
        "private",
        "cookies",
        "headers",
        "secrets",
    }
)
UNSAFE_SUFFIXES = (
    "_transcript",
    "_history",
    "_messages",
    "_cookies",
    "_headers",
    "_secrets",
    "_provider_session",
    "_socket",
)
UNSAFE_PREFIXES = ("provider_session_", "socket_")
# Separator-free spellings (``chathistory``, ``requestheaders``): the key's words run
# together are compared with the names and suffixes run together. ``socket`` is left out
# of these: ``websocket`` and ``socketed`` are ordinary flags, while ``web_socket`` and
# ``socket_id`` name transport state.
COMPACT_NAMES = frozenset(name.replace("_", "") for name in UNSAFE_NAMES)
COMPACT_SUFFIXES = tuple(
    suffix.replace("_", "") for suffix in UNSAFE_SUFFIXES if suffix != "_socket"
)
COMPACT_PREFIXES = ("providersession",)
# A context is a slice, not a document: never deeper than this, whatever SCORIA_MAX_DEPTH says.
MAX_CONTEXT_DEPTH = 32

_ACRONYM_BOUNDARY = re.compile(r"([A-Z]+)([A-Z][a-z])")
_CAMEL_BOUNDARY = re.compile(r"([a-z0-9])([A-Z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")


def normalise_key(key):
    """``RequestHeaders`` -> ``request_headers``, ``HTTPHeaders`` -> ``http_headers``,
    ``chat-history`` -> ``chat_history``."""
    # NFKC first, so full-width or ligature spellings cannot dodge the ASCII names.
    text = unicodedata.normalize("NFKC", key)
    text = _ACRONYM_BOUNDARY.sub(r"\1_\2", text)
    text = _CAMEL_BOUNDARY.sub(r"\1_\2", text)
    return _NON_ALNUM.sub("_", text).strip("_").lower()


def comparable_keys(key):
    """The key as the checks compare it: each reading of its confusable skeleton,
    normalised (``hеaders`` with a Cyrillic ``е``, ``ḣeaders`` and ``ＨＥＡＤＥＲＳ`` all give
    ``headers``). Usually one name; two when a capital reads differently lowercased."""
    return tuple(dict.fromkeys(normalise_key(text) for text in skeletons(key)))


def _unsafe_name(name):
    compact = name.replace("_", "")
    return (
        name in UNSAFE_NAMES
        or name.endswith(UNSAFE_SUFFIXES)
        or name.startswith(UNSAFE_PREFIXES)
        or compact in COMPACT_NAMES
        or compact.endswith(COMPACT_SUFFIXES)
        or compact.startswith(COMPACT_PREFIXES)
    )


def is_unsafe_key(key):
    return any(_unsafe_name(name) for name in comparable_keys(key))


def check_projected_context(context, *, field="projected_context"):
    """Return ``context`` if it may be handed off; raise naming the offending path."""
    if not isinstance(context, dict):
        raise InvalidProjectedContext(f"{field} must be a dict", field=field)
    check_json(
        context,
        field=field,
        max_bytes=scoria_settings.MAX_CONTEXT_BYTES,
        max_depth=min(scoria_settings.MAX_DEPTH, MAX_CONTEXT_DEPTH),
        error=InvalidProjectedContext,
    )
    path = _first_unsafe_path(context, field)
    if path is not None:
        raise UnsafeProjectedContext(
            f"{path}: key may carry conversation, session or transport state", field=field
        )
    return context


def _first_unsafe_path(value, path):
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if is_unsafe_key(key):
                return child
            found = _first_unsafe_path(item, child)
            if found:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first_unsafe_path(item, f"{path}[{index}]")
            if found:
                return found
    return None
