"""Redaction for operator surfaces: secrets recorded in runs are never shown back.

Run payloads are host data, and hosts sometimes store credentials in them. The evidence
page and the admin pass every JSON value through ``redact`` before display. Redaction is
for display only: stored values are never changed.
"""

import re

from .projection import normalise_key

REDACTED = "[redacted]"

# A key is secret-looking when its normalised form ends with one of these, so
# ``x_api_key``, ``HTTP_AUTHORIZATION``, ``dbPassword`` and ``csrftoken`` are caught.
# Plural ``tokens`` is deliberately absent: ``max_tokens`` and ``prompt_tokens`` are
# model parameters and usage counts, not credentials.
SECRET_KEY_ENDINGS = (
    "api_key",
    "apikey",
    "authorization",
    "password",
    "passwd",
    "secret",
    "secrets",
    "secret_key",
    "private_key",
    "token",
    "cookie",
    "cookies",
)

_BEARER = re.compile(r"\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
_SK_KEY = re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{7,}")


def is_secret_key(key):
    return normalise_key(str(key)).endswith(SECRET_KEY_ENDINGS)


def redact_text(text):
    """``Bearer abc`` -> ``Bearer [redacted]``; ``sk-...`` keys -> ``[redacted]``."""
    text = _BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    return _SK_KEY.sub(REDACTED, text)


def redact(value):
    """A copy of a JSON value with secret-looking keys and token-like strings hidden."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
