"""JSON hygiene: every value scoria stores is checked here before any write.

SQLite and PostgreSQL disagree on NaN, NUL characters and lone surrogates, so both
get only values that round-trip identically through ``json``. The fast path is a
handful of C-level calls; the walk that names the bad path runs only on failure.
"""

import json
import math

from .conf import scoria_settings
from .exceptions import InvalidPayload
from .names import text_problem

_DUMPS = json.JSONEncoder(allow_nan=False, ensure_ascii=False, separators=(",", ":")).encode
# The encoder escapes control characters even with ensure_ascii=False, so a NUL in
# a string or key shows up as this six-character escape, never as a raw "\x00".
_NUL_ESCAPE = "\\u0000"


def encoded_size(value) -> int:
    return len(_DUMPS(value).encode("utf-8"))


def check_json(value, *, field="payload", max_bytes=None, max_depth=None, error=InvalidPayload):
    """Return ``value`` if it is storable JSON, else raise ``error`` naming the bad path."""
    max_bytes = scoria_settings.MAX_PAYLOAD_BYTES if max_bytes is None else max_bytes
    max_depth = scoria_settings.MAX_DEPTH if max_depth is None else max_depth
    if value is None or type(value) is bool:
        return value
    try:
        text = _DUMPS(value)
        encoded = text.encode("utf-8")  # raises on a lone surrogate
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        _walk(value, field, 0, max_depth, error)
        raise error(f"{field}: value is not JSON", field=field) from None
    if _NUL_ESCAPE in text or json.loads(text) != value:
        # NUL characters, non-string keys or tuples: the walk names the culprit
        # (tuples are legal JSON arrays, and an escaped backslash before "u0000" is
        # no NUL, so a clean walk accepts the value).
        _walk(value, field, 0, max_depth, error)
    elif text.count("[") + text.count("{") > max_depth:
        _walk(value, field, 0, max_depth, error)
    if len(encoded) > max_bytes:
        raise error(
            f"{field}: {len(encoded)} bytes of JSON exceeds the limit of {max_bytes}", field=field
        )
    return value


def _check_string(text, path, error, *, what="string"):
    problem = text_problem(text)
    if problem:
        raise error(f"{path}: {problem} in {what} is not allowed", field=_root(path))


def _root(path):
    return path.split(".", 1)[0].split("[", 1)[0]


def _walk(value, path, depth, max_depth, error):
    """Raise on the first bad value; ``depth`` counts the containers around ``value``.

    Types are tested with ``isinstance`` in the encoder's own order, so the walk
    accepts exactly what ``json`` encodes (str enums, dict subclasses, tuples).
    """
    container = isinstance(value, dict | list | tuple)
    if container and depth >= max_depth:
        # ``value`` would be container number max_depth + 1 on this path.
        raise error(f"{path}: nesting deeper than {max_depth} levels", field=_root(path))
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, int):
        try:
            int.__repr__(value)
        except ValueError:  # past sys.get_int_max_str_digits(): json cannot write it
            raise error(f"{path}: integer has too many digits", field=_root(path)) from None
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise error(f"{path}: NaN and Infinity are not JSON", field=_root(path))
        return
    if isinstance(value, str):
        _check_string(value, path, error)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise error(f"{path}: key {key!r} is not a string", field=_root(path))
            # The key is shown as its repr: it may hold the very character at fault.
            _check_string(key, path, error, what=f"key {key!r}")
            _walk(item, f"{path}.{key}", depth + 1, max_depth, error)
        return
    if container:
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", depth + 1, max_depth, error)
        return
    raise error(f"{path}: {type(value).__name__} is not JSON", field=_root(path))
