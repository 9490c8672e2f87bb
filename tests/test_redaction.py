import pytest

from scoria_django.redaction import REDACTED, is_secret_key, redact, redact_text


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "API_KEY",
        "apiKey",
        "x_api_key",
        "X-Api-Key",
        "Authorization",
        "HTTP_AUTHORIZATION",
        "password",
        "dbPassword",
        "secret",
        "client_secret",
        "clientSecret",
        "secrets",
        "token",
        "access_token",
        "csrftoken",
        "cookie",
        "Set-Cookie",
        "cookies",
        "private_key",
    ],
)
def test_secret_looking_keys(key):
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["task", "draft_answer", "max_tokens", "prompt_tokens", "session_id", "token_count"]
)
def test_ordinary_keys_stay_visible(key):
    assert not is_secret_key(key)


def test_redact_walks_dicts_and_lists_and_keeps_the_input_unchanged():
    value = {"a": [{"password": "p"}, {"ok": 1}], "nested": {"Token": {"deep": "x"}}, "n": 2}

    shown = redact(value)

    assert shown == {
        "a": [{"password": REDACTED}, {"ok": 1}],
        "nested": {"Token": REDACTED},
        "n": 2,
    }
    assert value["a"][0]["password"] == "p"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Authorization: Bearer abc.DEF-123_x=", "Authorization: Bearer [redacted]"),
        ("bearer  t0k3n", "bearer [redacted]"),
        ("key sk-proj-AbCdEf123456 here", "key [redacted] here"),
        ("sk-ant-api03-xyzxyzxyz", "[redacted]"),
        ("a risk-assessment and a desk-lamp", "a risk-assessment and a desk-lamp"),
        ("sk-short", "sk-short"),
    ],
)
def test_token_like_strings(text, expected):
    assert redact_text(text) == expected
