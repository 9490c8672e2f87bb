"""Redaction (docs/operators.md#redaction): the secret shapes it hides, and the look-alikes it
must leave visible. Every row of the tables is a value a user could store or a message a
handler could raise."""

import json

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from scoria_django.redaction import REDACTED, is_secret_key, redact, redact_text
from scoria_django.runtime.decisions import exception_error

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFkYSJ9"
    ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
)
PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7bq8m\nq2v0w1x\n-----END RSA PRIVATE KEY-----"
)

# (case, the value as stored or raised, the secret that must not be shown)
SECRET_SHAPES = [
    # -- by key: the whole value under the key is hidden ---------------------------------
    ("key api_key", {"api_key": "k-plain-1"}, "k-plain-1"),
    ("key api_keys (plural)", {"api_keys": ["k-one-11", "k-two-22"]}, "k-one-11"),
    ("key apiKey", {"apiKey": "k-camel-3"}, "k-camel-3"),
    ("key X-Api-Key", {"X-Api-Key": "k-header-4"}, "k-header-4"),
    ("key aws_secret_access_key", {"aws_secret_access_key": "wJalrXUtnFEMI"}, "wJalrXUtnFEMI"),
    ("key aws_access_key_id", {"aws_access_key_id": "id-value-6"}, "id-value-6"),
    ("key s3_access_key", {"s3_access_key": "ak-value-7"}, "ak-value-7"),
    ("key credentials (nested)", {"credentials": {"user": "u", "pass": "p-nest-8"}}, "p-nest-8"),
    ("key google_credentials", {"google_credentials": "gc-value-9"}, "gc-value-9"),
    ("key pwd", {"pwd": "pw-short-10"}, "pw-short-10"),
    ("key db_pwd", {"db_pwd": "pw-db-11"}, "pw-db-11"),
    ("key passwd", {"passwd": "pw-unix-12"}, "pw-unix-12"),
    ("key password", {"password": "hunter2-13"}, "hunter2-13"),
    ("key dbPassword", {"dbPassword": "pw-camel-14"}, "pw-camel-14"),
    ("key dbpassword (run together)", {"dbpassword": "pw-joined-15"}, "pw-joined-15"),
    ("key passphrase", {"ssh_passphrase": "phrase-16"}, "phrase-16"),
    ("key secret", {"secret": "s-17"}, "s-17"),
    ("key client_secret_id (*_secret_*)", {"client_secret_id": "cs-18"}, "cs-18"),
    ("key clientSecret", {"clientSecret": "cs-camel-19"}, "cs-camel-19"),
    ("key secrets", {"secrets": {"a": "s-list-20"}}, "s-list-20"),
    ("key private_key", {"private_key": "pk-value-21"}, "pk-value-21"),
    ("key signing_key", {"jwt_signing_key": "sk-value-22x"}, "sk-value-22x"),
    ("key token", {"token": "t-23"}, "t-23"),
    ("key refresh_token", {"refresh_token": "rt-24"}, "rt-24"),
    ("key access_tokens (plural)", {"access_tokens": ["at-25"]}, "at-25"),
    ("key csrftoken", {"csrftoken": "csrf-26"}, "csrf-26"),
    ("key authorization", {"Authorization": "Custom xyz-27"}, "xyz-27"),
    ("key HTTP_AUTHORIZATION", {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"}, "dXNlcjpwYXNz"),
    ("key cookie", {"cookie": "sessionid=sess-29"}, "sess-29"),
    ("key Set-Cookie", {"Set-Cookie": "id=sc-30; HttpOnly"}, "sc-30"),
    ("key jwt", {"jwt": "opaque-31"}, "opaque-31"),
    ("key with Cyrillic a (pаssword)", {"p\u0430ssword": "pw-cyr-32"}, "pw-cyr-32"),
    ("header pair list", {"headers": [["X-Api-Key", "pair-33"]]}, "pair-33"),
    # -- by value: inside any string --------------------------------------------------------
    ("postgres URL", {"dsn": "postgres://app:pg-pass-34@db:5432/prod"}, "pg-pass-34"),
    ("redis URL", "broker redis://:rd-pass-35@cache:6379/0 is down", "rd-pass-35"),
    ("amqp URL in a message", "cannot reach amqp://guest:mq-pass-36@rabbit//", "mq-pass-36"),
    ("https basic-auth URL", "GET https://bot:gh-pass-37@example.com/x failed", "gh-pass-37"),
    ("libpq DSN", "host=db user=app password=lp-pass-38 dbname=prod", "lp-pass-38"),
    ("ODBC string", "Server=db;Uid=app;Pwd=odbc-pass-39;", "odbc-pass-39"),
    ("Authorization header line", "Authorization: Bearer abc.DEF-40_x=", "abc.DEF-40_x="),
    ("Authorization Basic", "authorization: Basic dXNlcjpwYXNzNDE=", "dXNlcjpwYXNzNDE="),
    ("Authorization Token", "Authorization: Token tok-42-value", "tok-42-value"),
    ("Cookie header", "Cookie: sessionid=ck-43; csrftoken=ck-43b", "ck-43"),
    ("bearer alone", "sent bearer  t0k3n-44 to the API", "t0k3n-44"),
    ("password= in a message", "login failed for password=pw-45 user=x", "pw-45"),
    ("quoted api_key", 'config {"api_key": "qk-46"} rejected', "qk-46"),
    ("repr of a dict", "bad options {'client_secret': 'cs-47', 'n': 1}", "cs-47"),
    ("query string token", "GET /cb?code=1&access_token=qt-48&x=1", "qt-48"),
    ("JWT", f"session {JWT} expired", JWT),
    ("PEM private key", f"key file:\n{PEM}\n", "MIIEowIBAAKCAQEA7bq8m"),
    ("OpenAI key", "key sk-proj-AbCdEf123456 here", "sk-proj-AbCdEf123456"),
    ("Anthropic key", "sk-ant-api03-xyzxyzxyz", "sk-ant-api03-xyzxyzxyz"),
    ("Stripe live key", "charge failed with sk_live_51HxYzAbCdEf", "sk_live_51HxYzAbCdEf"),
    ("Stripe restricted key", "rk_test_4eC39HqLyjWDarjtT1", "rk_test_4eC39HqLyjWDarjtT1"),
    ("Stripe webhook secret", "whsec_1234567890abcdefABCD", "whsec_1234567890abcdefABCD"),
    ("AWS access key id", "AKIAIOSFODNN7EXAMPLE was denied", "AKIAIOSFODNN7EXAMPLE"),
    ("AWS session key id", "ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A"),
    ("GitHub token", "ghp_" + "a1B2c3D4e5" * 4, "ghp_" + "a1B2c3D4e5" * 4),
    ("GitHub fine-grained", "github_pat_11ABCDEFG0123456789_abcdefXYZ", "github_pat_11ABCDEFG"),
    ("GitLab token", "glpat-xxxxXXXXyyyyYYYY1234", "glpat-xxxxXXXXyyyyYYYY1234"),
    ("Slack bot token", "xoxb-123456789012-abcdefABCDEF", "xoxb-123456789012-abcdefABCDEF"),
    ("Slack user token", "xoxp-1234-5678-9012-abcdef", "xoxp-1234-5678-9012-abcdef"),
    ("Google API key", "AIza" + "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "SyA1b2C3d4E5f6G7h8I9j0"),
    ("Hugging Face token", "hf_" + "AbCdEfGhIj" * 3 + "kl", "hf_AbCdEfGhIj"),
    ("npm token", "npm_" + "a1b2c3d4e5f6" * 3, "npm_a1b2c3d4e5f6"),
    ("SendGrid key", "SG.abcdefghijklmnopqrstuv.ABCDEFGHIJKLMNOPQRSTUVWXYZ0123", "SG.abcdefghij"),
    ("secret in a capability-tag-like string", "scope:deploy token=tag-66", "tag-66"),
    ("secret deep in a list", {"steps": [{"log": ["ok", "password: lst-67"]}]}, "lst-67"),
]

# Values that look a little like secrets and must stay visible, exactly as stored.
LOOK_ALIKES = [
    {"max_tokens": 512, "prompt_tokens": 10, "completion_tokens": 7},
    {"token_count": 3, "tokenizer": "cl100k_base"},
    {"policy_key": "default", "primary_key": 7, "idempotency_key": "abc-123"},
    {"session_id": "5f3a9c1e-2b7d-4e1a-9c3f-0d2b8e7a6c41", "author": "ada"},
    {"secretary": "Grace", "keyboard": "qwerty", "monkey": "george"},
    "a risk-assessment on the desk-lamp task",
    "sk-short and AKIAFOO are not keys",
    "max_tokens=512 token_count: 3 tokens: 9",
    "see https://example.com:8443/path?page=2 and mailto:ada@example.com",
    "the password reset link was sent; the secret to success is practice",
    "eyJ alone is not a JWT, nor is a.b.c",
    {"description": "Explain how bearer bonds work", "passage": "text"},
]


@pytest.mark.parametrize(
    ("value", "secret"),
    [pytest.param(value, secret, id=case) for case, value, secret in SECRET_SHAPES],
)
def test_secret_shapes_are_hidden(value, secret):
    shown = json.dumps(redact(value), ensure_ascii=False)

    assert secret not in shown
    assert REDACTED in shown


def test_the_table_is_at_least_forty_shapes_and_ten_look_alikes():
    assert len(SECRET_SHAPES) >= 40
    assert len(LOOK_ALIKES) >= 10
    assert len({case for case, _, _ in SECRET_SHAPES}) == len(SECRET_SHAPES)


@pytest.mark.parametrize("value", LOOK_ALIKES)
def test_look_alikes_stay_visible(value):
    assert redact(value) == value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.DEF-123_x=", "Authorization: Bearer [redacted]"),
        ("postgres://app:pw@db:5432/prod", "postgres://app:[redacted]@db:5432/prod"),
        ("password=hunter2 user=ada", "password=[redacted] user=ada"),
        ("{'api_key': 'k1', 'n': 1}", "{'api_key': '[redacted]', 'n': 1}"),
        ("key sk-proj-AbCdEf123456 here", "key [redacted] here"),
        ("Cookie: a=1; b=2", "Cookie: [redacted]"),
    ],
)
def test_the_label_stays_readable(text, expected):
    assert redact_text(text) == expected


def test_redact_walks_dicts_and_lists_and_keeps_the_input_unchanged():
    value = {"a": [{"password": "p"}, {"ok": 1}], "nested": {"Token": {"deep": "x"}}, "n": 2}

    shown = redact(value)

    assert shown == {
        "a": [{"password": REDACTED}, {"ok": 1}],
        "nested": {"Token": REDACTED},
        "n": 2,
    }
    assert value["a"][0]["password"] == "p"


@pytest.mark.parametrize("key", ["ssn", "user_ssn", "SSN_last4", "stripeKeyLive"])
def test_host_keys_setting_adds_names(key):
    assert not is_secret_key(key)
    with override_settings(SCORIA_REDACTED_KEYS=["ssn", "stripe_key"]):
        assert is_secret_key(key)
        assert redact({key: "v"}) == {key: REDACTED}
        assert not is_secret_key("lesson")  # whole words only


def test_host_patterns_setting_adds_shapes():
    text = "customer acme_live_0123456789abcdefABCDEFGH paid"
    assert redact_text(text) == text
    with override_settings(SCORIA_REDACTION_PATTERNS=[r"\bacme_live_[A-Za-z0-9]{24}\b"]):
        assert redact_text(text) == "customer [redacted] paid"


def test_an_exception_message_is_redacted_when_recorded():
    exc = ConnectionError("could not connect to postgres://app:pw-77@db/prod (sk-live1234567)")

    error = exception_error(exc)

    assert error["message"] == "could not connect to postgres://app:[redacted]@db/prod ([redacted])"
    assert error["type"] == "builtins.ConnectionError"


# -- properties: any surrounding text, any JSON ------------------------------------------

_SECRETS_IN_TEXT = [
    "AKIAIOSFODNN7EXAMPLE",
    "sk-proj-AbCdEf123456",
    "sk_live_51HxYzAbCdEf",
    "ghp_" + "a1B2c3D4e5" * 4,
    "xoxb-123456789012-abcdefABCDEF",
    JWT,
]
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    before=st.text(max_size=40),
    secret=st.sampled_from(_SECRETS_IN_TEXT),
    after=st.text(max_size=40),
)
def test_a_provider_key_is_hidden_whatever_surrounds_it(before, secret, after):
    shown = redact_text(f"{before} {secret} {after}")

    assert secret not in shown


@settings(max_examples=150, deadline=None)
@given(value=_JSON)
def test_redact_is_total_and_idempotent_on_any_json(value):
    shown = redact(value)

    assert redact(shown) == shown
    assert json.loads(json.dumps(shown)) == shown
