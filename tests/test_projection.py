"""The projected-context safety check (docs/handoffs.md): names, normalisation, paths and limits."""

import json

import pytest
from django.test import override_settings
from hypothesis import given, settings
from hypothesis import strategies as st

from scoria_django.exceptions import InvalidProjectedContext, UnsafeProjectedContext
from scoria_django.projection import (
    UNSAFE_NAMES,
    UNSAFE_PREFIXES,
    UNSAFE_SUFFIXES,
    check_projected_context,
    is_unsafe_key,
    normalise_key,
)

DOCUMENTED_UNSAFE_NAMES = [
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
]
DOCUMENTED_UNSAFE_SUFFIXES = [
    "_transcript",
    "_history",
    "_messages",
    "_cookies",
    "_headers",
    "_secrets",
    "_provider_session",
    "_socket",
]


def test_the_lists_are_exactly_the_contracts():
    assert set(DOCUMENTED_UNSAFE_NAMES) == UNSAFE_NAMES
    assert set(DOCUMENTED_UNSAFE_SUFFIXES) == set(UNSAFE_SUFFIXES)
    assert set(UNSAFE_PREFIXES) == {"provider_session_", "socket_"}


@pytest.mark.parametrize(
    ("key", "normalised"),
    [
        ("RequestHeaders", "request_headers"),
        ("HTTPHeaders", "http_headers"),
        ("chat-history", "chat_history"),
        ("chatHistory", "chat_history"),
        ("getHTTPResponseHeaders", "get_http_response_headers"),
        ("__Private__", "private"),
        ("X-Request Headers!", "x_request_headers"),
        ("provider.session.id", "provider_session_id"),
        ("draft_answer", "draft_answer"),
        ("OAuth2Token", "o_auth2_token"),
        ("ＨＥＡＤＥＲＳ", "headers"),  # full-width letters
        ("", ""),
    ],
)
def test_normalise_key(key, normalised):
    assert normalise_key(key) == normalised


@pytest.mark.parametrize("name", DOCUMENTED_UNSAFE_NAMES)
def test_every_exact_name_is_unsafe_in_any_spelling(name):
    camel = "".join(part.capitalize() for part in name.split("_"))
    for spelling in (name, name.upper(), name.replace("_", "-"), camel, f"_{name}_"):
        assert is_unsafe_key(spelling), spelling


@pytest.mark.parametrize("suffix", DOCUMENTED_UNSAFE_SUFFIXES)
def test_every_suffix_is_unsafe(suffix):
    assert is_unsafe_key(f"support{suffix}")
    assert is_unsafe_key(f"Support{suffix.title().replace('_', '')}")


@pytest.mark.parametrize("prefix", ["provider_session_", "socket_"])
def test_every_prefix_is_unsafe(prefix):
    assert is_unsafe_key(f"{prefix}id")


@pytest.mark.parametrize(
    "key",
    [
        "RequestHeaders",
        "HTTPHeaders",
        "chat-history",
        "socket_id",
        "socketId",
        "providerSessionToken",
        "web_socket",
        "Cookies",
        "session",
    ],
)
def test_rejected_key_examples(key):
    assert is_unsafe_key(key)


@pytest.mark.parametrize(
    "key",
    [
        "task",
        "draft_answer",
        "session_id",
        "secret",
        "token",
        "message",
        "websocket",
        "headline",
        "historyless_summary",
        "socketed",
        "privacy_note",
    ],
)
def test_accepted_key_examples(key):
    assert not is_unsafe_key(key)


@pytest.mark.parametrize(
    ("context", "path"),
    [
        ({"RequestHeaders": {}}, "projected_context.RequestHeaders"),
        ({"task": "t", "HTTPHeaders": {"Accept": "x"}}, "projected_context.HTTPHeaders"),
        ({"chat-history": []}, "projected_context.chat-history"),
        ({"socket_id": "abc"}, "projected_context.socket_id"),
        (
            {"task": {"meta": {"provider_session": {"id": 1}}}},
            "projected_context.task.meta.provider_session",
        ),
        ({"items": [{"messages": []}]}, "projected_context.items[0].messages"),
        ({"items": [{"ok": 1}, [{"assigns": {}}]]}, "projected_context.items[1][0].assigns"),
        ({"items": ({"cookies": ""},)}, "projected_context.items[0].cookies"),
    ],
)
def test_unsafe_context_names_the_offending_path(context, path):
    with pytest.raises(UnsafeProjectedContext) as caught:
        check_projected_context(context)
    assert caught.value.code == "unsafe_projected_context"
    assert caught.value.field == "projected_context"
    assert caught.value.detail.startswith(f"{path}:")


def test_field_name_prefixes_the_path():
    with pytest.raises(UnsafeProjectedContext) as caught:
        check_projected_context({"a": {"history": []}}, field="scoped_context")
    assert caught.value.field == "scoped_context"
    assert caught.value.detail.startswith("scoped_context.a.history:")


def test_safe_context_is_returned_unchanged():
    context = {
        "task": "review",
        "draft_answer": "x",
        "session_id": "s-1",
        "secret": "kept: the host chose to project it",
        "token": "t",
        "message": "m",
        "websocket": False,
        "sources": [{"title": "a", "message": "b"}],
    }
    assert check_projected_context(context) is context


def test_unsafe_value_is_not_a_key():
    """Only keys are names: a string value ``"messages"`` is content, not a slot."""
    assert check_projected_context({"task": "summarise messages", "tags": ["history"]})


@pytest.mark.parametrize("context", [None, [], ["a"], "text", 3, ({"task": 1},)])
def test_context_must_be_a_dict(context):
    with pytest.raises(InvalidProjectedContext) as caught:
        check_projected_context(context)
    assert caught.value.code == "invalid_projected_context"
    assert caught.value.field == "projected_context"


@pytest.mark.parametrize(
    ("context", "path"),
    [
        ({"score": float("nan")}, "projected_context.score"),
        ({"nested": {"raw": b"bytes"}}, "projected_context.nested.raw"),
        ({"ids": {1, 2}}, "projected_context.ids"),
        ({"list": [1, {"x": "\x00"}]}, "projected_context.list[1].x"),
        ({"items": {3: "non-string key"}}, "projected_context.items"),
    ],
)
def test_context_must_be_json(context, path):
    with pytest.raises(InvalidProjectedContext) as caught:
        check_projected_context(context)
    assert caught.value.detail.startswith(f"{path}:")


def _nested(levels):
    """``levels`` dicts nested inside each other, the innermost holding a scalar."""
    context = {"leaf": 1}
    for _ in range(levels - 1):
        context = {"level": context}
    return context


def test_context_depth_limit_is_32_levels():
    assert check_projected_context(_nested(32))
    with pytest.raises(InvalidProjectedContext) as caught:
        check_projected_context(_nested(33))
    assert "nesting deeper than 32 levels" in caught.value.detail
    assert caught.value.detail.startswith("projected_context.level.level")


@override_settings(SCORIA_MAX_DEPTH=64)
def test_context_depth_stays_32_when_payloads_may_nest_deeper():
    with pytest.raises(InvalidProjectedContext):
        check_projected_context(_nested(33))


def test_context_size_limit_defaults_to_64_kib():
    overhead = len(json.dumps({"text": ""}, separators=(",", ":")))
    assert check_projected_context({"text": "x" * (64 * 1024 - overhead)})
    with pytest.raises(InvalidProjectedContext) as caught:
        check_projected_context({"text": "x" * (64 * 1024 - overhead + 1)})
    assert "exceeds the limit of 65536" in caught.value.detail


@override_settings(SCORIA_MAX_CONTEXT_BYTES=100)
def test_context_size_limit_follows_the_setting():
    with pytest.raises(InvalidProjectedContext) as caught:
        check_projected_context({"text": "é" * 50})  # 100 bytes of UTF-8 plus the braces
    assert caught.value.detail.startswith("projected_context:")


SAFE_KEYS = st.sampled_from(["task", "draft", "sources", "notes", "session_id", "message"])


@settings(max_examples=60, deadline=None)
@given(
    path=st.lists(st.tuples(SAFE_KEYS, st.booleans()), min_size=0, max_size=6),
    unsafe=st.sampled_from(DOCUMENTED_UNSAFE_NAMES + ["chat-history", "HTTPHeaders", "socket_id"]),
)
def test_an_unsafe_key_is_found_at_any_depth(path, unsafe):
    """Wherever the unsafe key sits (under dicts and lists), the detail names its path."""
    context = {unsafe: "x"}
    expected = unsafe
    for key, in_list in reversed(path):
        if in_list:
            context, expected = {key: [context]}, f"{key}[0].{expected}"
        else:
            context, expected = {key: context}, f"{key}.{expected}"
    with pytest.raises(UnsafeProjectedContext) as caught:
        check_projected_context(context)
    assert caught.value.detail.startswith(f"projected_context.{expected}:")


# -- look-alike letters and separator-free spellings (docs/handoffs.md) --------------------


@pytest.mark.parametrize(
    "key",
    [
        "h\u0435aders",  # Cyrillic е
        "\u041deaders",  # Cyrillic Н
        "\u1e23eaders",  # ḣ (dotted h)
        "h\u00e8aders",  # è
        "he\u0301aders",  # e + combining acute
        "\u0397eaders",  # Greek capital eta
        "chat_h\u0131story",  # dotless ı
        "m\u0435ss\u0430g\u0435s",  # three Cyrillic letters
        "c\u043e\u043ekies",  # Cyrillic о twice
        "tr\u0430nscript",
        "chathistory",
        "ChatHistory",
        "chat.history",
        "he\u200baders",  # zero-width space
        "requestheaders",
        "supporttranscript",
        "providersessionid",
        "sessionstate",
        "messagehistory",
    ],
)
def test_look_alike_and_run_together_keys_are_unsafe(key):
    assert is_unsafe_key(key)
    with pytest.raises(UnsafeProjectedContext):
        check_projected_context({"task": "t", key: []})


@pytest.mark.parametrize(
    "key",
    ["websocket", "socketed", "historyless_summary", "headline", "hist0ry", "session_id", "tâche"],
)
def test_look_alike_rules_leave_ordinary_keys_alone(key):
    assert not is_unsafe_key(key)
