"""Redaction for operator surfaces: secrets recorded in runs are never shown back.

This module is the one place the secret shapes live (docs/operators.md#redaction lists
them). Run payloads are host data, and hosts sometimes store credentials in them; handlers
raise exceptions whose messages quote connection strings and headers. The evidence page,
the admin and the commands pass every JSON value, capability tag and message through
``redact`` or ``redact_text`` before display. Redaction is for display only: stored
payloads are never changed (an exception's message is redacted once, when the runtime
records it, because scoria wrote that text, not the host).

Two rules, each extended by a setting:

- **by key**: a dict value whose key names a secret (``password``, ``db_pwd``,
  ``aws_secret_access_key``, ``api_keys``, ``Set-Cookie``...) is hidden whole, whatever it
  holds. ``SCORIA_REDACTED_KEYS`` adds names.
- **by value**: secret-shaped text inside any string (a password in a URL or DSN, an
  ``Authorization:`` or ``Cookie:`` header value, ``password=...`` pairs, JWTs, provider
  keys such as ``sk-...``, ``AKIA...``, ``ghp_...``, ``xoxb-...``, PEM private keys) is
  replaced, the rest of the text stays readable. ``SCORIA_REDACTION_PATTERNS`` adds regular
  expressions.
"""

import re
from functools import lru_cache

from .conf import scoria_settings
from .projection import comparable_keys

REDACTED = "[redacted]"

# -- by key ----------------------------------------------------------------------------

# A key is secret when one of its words is one of these (``db_password``, ``pwd``,
# ``client_secret_id``, ``credentials``, ``Set-Cookie``), or when its words run together
# end with one (``dbpassword``, ``adminpwd``).
SECRET_KEY_WORDS = frozenset(
    {
        "password",
        "passwords",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "creds",
        "authorization",
        "cookie",
        "cookies",
        "jwt",
        "bearer",
    }
)
# ... or when its words run together end with one of these: ``api_keys``, ``X-Api-Key``,
# ``aws_access_key_id``, ``private_key``, ``csrftoken``, ``refresh_token``. A lone ``key``
# or plural ``tokens`` is not enough: ``policy_key``, ``primary_key``, ``max_tokens`` and
# ``prompt_tokens`` are ordinary values.
SECRET_KEY_ENDINGS = (
    "apikey",
    "apikeys",
    "accesskey",
    "accesskeys",
    "accesskeyid",
    "privatekey",
    "privatekeys",
    "secretkey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "sessionkey",
    "token",
    "accesstokens",
    "refreshtokens",
    "apitokens",
    "authtokens",
    "idtokens",
    "bearertokens",
    "sessiontokens",
)


def _readings(key):
    """The key's words, per reading of its confusable skeleton: ``pаssword`` with a
    Cyrillic ``а`` is still a password."""
    return [tuple(word for word in name.split("_") if word) for name in comparable_keys(str(key))]


def _words(key):
    return next(iter(_readings(key)), ())


@lru_cache(maxsize=64)
def _host_keys(names):
    return tuple(words for words in (_words(name) for name in names) if words)


def _contains(words, part):
    size = len(part)
    return any(words[i : i + size] == part for i in range(len(words) - size + 1))


def _secret_words(words, extra):
    if not words:
        return False
    joined = "".join(words)
    if any(word in SECRET_KEY_WORDS for word in words):
        return True
    if joined.endswith((*SECRET_KEY_WORDS, *SECRET_KEY_ENDINGS)):
        return True
    return any(_contains(words, part) for part in extra)


def is_secret_key(key):
    """True when the value under ``key`` must be hidden whole."""
    extra = _host_keys(tuple(scoria_settings.REDACTED_KEYS))
    return any(_secret_words(words, extra) for words in _readings(key))


# -- by value --------------------------------------------------------------------------

# Repetitions are bounded throughout: these run over every displayed string (payloads are
# up to SCORIA_MAX_PAYLOAD_BYTES), so no pattern may backtrack quadratically.
# The match starts at the secret word itself (``db_password=`` keeps ``db_``): a pattern
# that also matched the key's prefix would retry at every word boundary.
_KEY_NAMES = (
    r"(?:password|passwd|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credentials?)"
)

# (name, pattern, replacement). Replacements keep the label (the scheme, the key, the
# header name) so an operator still sees what kind of value was there.
VALUE_PATTERNS = (
    (
        "pem_private_key",
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
        REDACTED,
    ),
    (
        # scheme://user:PASSWORD@host (database URLs, DSNs, broker URLs, git remotes).
        "url_password",
        re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]{0,30}://[^\s:/@?#]{0,256}:)[^\s/@?#]{1,256}(?=@)"),
        rf"\1{REDACTED}",
    ),
    (
        # An Authorization or Cookie header, as a header line, a dict repr or a kwarg:
        # everything after the scheme up to the end of the value.
        "auth_header",
        re.compile(
            r"(\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|aws4-hmac-sha256)\s+)?)"
            r"[^\s\"',;}\]][^\r\n\"'}\]]*",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    (
        "cookie_header",
        re.compile(
            r"(\b(?:set-)?cookie[\"']?\s*[:=]\s*[\"']?)[^\s\"'}\]][^\r\n\"'}\]]*", re.IGNORECASE
        ),
        rf"\1{REDACTED}",
    ),
    (
        # A token has a digit or a symbol, or is long: "bearer bonds" is prose.
        "bearer",
        re.compile(
            r"\b(bearer)\s+(?:(?=[A-Za-z]*[0-9\-._~+/])[A-Za-z0-9\-._~+/]+|[A-Za-z]{20,})=*",
            re.IGNORECASE,
        ),
        rf"\1 {REDACTED}",
    ),
    (
        # password=..., "api_key": "...", token: ..., ?access_token=... (DSNs, query
        # strings, reprs). ``max_tokens=5`` and ``token_count: 3`` do not match.
        "secret_assignment",
        re.compile(
            rf"({_KEY_NAMES}[\"']?\s*[:=]\s*[\"']?)(?![\"'\s]|{re.escape(REDACTED)})"
            r"[^\s\"'&;,}\])]+",
            re.IGNORECASE,
        ),
        rf"\1{REDACTED}",
    ),
    (
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
        REDACTED,
    ),
    # Provider key prefixes.
    ("openai_anthropic_key", re.compile(r"\bsk-[A-Za-z0-9][A-Za-z0-9_\-]{7,}"), REDACTED),
    ("stripe_key", re.compile(r"\b(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), REDACTED),
    ("stripe_webhook_secret", re.compile(r"\bwhsec_[A-Za-z0-9]{16,}"), REDACTED),
    ("aws_access_key_id", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"), REDACTED),
    ("github_token", re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{30,}"), REDACTED),
    ("github_fine_grained_token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{22,}"), REDACTED),
    ("gitlab_token", re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), REDACTED),
    ("slack_token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
    ("google_api_key", re.compile(r"\bAIza[0-9A-Za-z_\-]{35}"), REDACTED),
    ("huggingface_token", re.compile(r"\bhf_[A-Za-z0-9]{30,}"), REDACTED),
    ("npm_token", re.compile(r"\bnpm_[A-Za-z0-9]{36}"), REDACTED),
    ("sendgrid_key", re.compile(r"\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"), REDACTED),
)


@lru_cache(maxsize=16)
def _host_patterns(patterns):
    return tuple(re.compile(pattern) for pattern in patterns)


def redact_text(text):
    """``text`` with every secret-shaped part replaced by ``[redacted]``."""
    for _name, pattern, replacement in VALUE_PATTERNS:
        text = pattern.sub(replacement, text)
    for pattern in _host_patterns(tuple(scoria_settings.REDACTION_PATTERNS)):
        text = pattern.sub(REDACTED, text)
    return text


def _is_header_pair(value):
    """``["Authorization", "Basic ..."]``: a (name, value) pair as HTTP libraries keep them."""
    return (
        len(value) == 2
        and isinstance(value[0], str)
        and not isinstance(value[1], dict | list | tuple)
        and is_secret_key(value[0])
    )


def redact(value):
    """A copy of a JSON value with secret-keyed values and secret-shaped text hidden."""
    if isinstance(value, dict):
        return {
            key: REDACTED if is_secret_key(key) else redact(item) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        if _is_header_pair(value):
            return [redact_text(value[0]), REDACTED]
        return [redact(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value
