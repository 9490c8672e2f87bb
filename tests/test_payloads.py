"""JSON hygiene: what SQLite and PostgreSQL would store differently is refused before any write."""

import datetime
import decimal
import uuid
from collections import OrderedDict

import pytest
from django.test import override_settings

from scoria_django.exceptions import InvalidPayload
from scoria_django.models import Event, Run, Step
from scoria_django.payloads import check_json, encoded_size
from scoria_django.states import RunStatus


def nested(levels, leaf=None):
    """``levels`` lists inside each other; the innermost holds ``leaf`` if given."""
    value = [] if leaf is None else [leaf]
    for _ in range(levels - 1):
        value = [value]
    return value


# (value, the path .detail must name, a word of the reason)
BAD = [
    (float("nan"), "output", "NaN"),
    ({"score": float("inf")}, "output.score", "NaN and Infinity"),
    ({"a": [1, float("-inf")]}, "output.a[1]", "NaN and Infinity"),
    ("bad\x00string", "output", "NUL"),
    ({"text": ["ok", "nul\x00"]}, "output.text[1]", "NUL"),
    ({"k\x00": 1}, "output", "NUL character in key"),
    ({"deep": {"k\x00": 1}}, "output.deep", "NUL character in key"),
    ("lone \ud800 surrogate", "output", "lone surrogate"),
    ({"a": {"b": "\udfff"}}, "output.a.b", "lone surrogate"),
    ({"\ud800": 1}, "output", "lone surrogate in key"),
    ({1: "one"}, "output", "key 1 is not a string"),
    ({"a": {None: 1}}, "output.a", "key None is not a string"),
    ({"a": {(1, 2): 1}}, "output.a", "is not a string"),
    ({"when": datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)}, "output.when", "datetime"),
    ({"n": decimal.Decimal("1.5")}, "output.n", "Decimal"),
    ({"raw": b"bytes"}, "output.raw", "bytes"),
    ({"tags": {"a", "b"}}, "output.tags", "set"),
    ({"id": uuid.UUID(int=1)}, "output.id", "UUID"),
    ({"f": object()}, "output.f", "object"),
    ({"a": [1, 10**5000]}, "output.a[1]", "too many digits"),
    (nested(33), "output" + "[0]" * 32, "deeper than 32"),
    ({"x": nested(32)}, "output.x" + "[0]" * 31, "deeper than 32"),
]


@pytest.mark.parametrize(("value", "path", "reason"), BAD)
def test_bad_values_name_their_path(value, path, reason):
    with pytest.raises(InvalidPayload) as caught:
        check_json(value, field="output")
    error = caught.value
    assert error.code == "invalid_payload"
    assert error.detail.startswith(f"{path}: ")
    assert reason in error.detail
    assert error.field == "output"


GOOD = [
    None,
    True,
    0,
    -(2**62),
    1.5,
    "",
    "plain text, emoji \U0001f600, accents é, CJK 漢字",
    "a literal backslash-u-zero: \\u0000",
    {"": "empty key is fine"},
    {"nested": {"list": [1, "two", None, False, 3.25, {"k": []}]}},
    nested(32),
    nested(32, leaf="x"),
    "[" * 100,  # brackets inside a string are not nesting
]


@pytest.mark.parametrize("value", GOOD)
def test_good_values_pass_unchanged(value):
    assert check_json(value) is value


def test_json_compatible_python_types_are_accepted_like_json_does():
    # Tuples encode as arrays, str enums as strings, dict subclasses as objects.
    for value in [(1, 2), {"t": (1, [2, (3,)])}, OrderedDict(a=1), {"s": RunStatus.RUNNING}]:
        assert check_json(value) is value
    # ... even when something else sends the check down its slow path.
    assert check_json({"s": RunStatus.RUNNING, "t": (1,), "o": OrderedDict(b="[" * 40)})


def test_the_size_cap_counts_utf8_bytes():
    value = {"text": "é" * 10}  # 20 bytes of text, 31 bytes of JSON
    assert encoded_size(value) == 31
    assert check_json(value, max_bytes=31) is value
    with pytest.raises(InvalidPayload) as caught:
        check_json(value, field="input", max_bytes=30)
    assert caught.value.detail == "input: 31 bytes of JSON exceeds the limit of 30"


@override_settings(SCORIA_MAX_PAYLOAD_BYTES=64, SCORIA_MAX_DEPTH=3)
def test_limits_follow_the_settings():
    with pytest.raises(InvalidPayload, match="exceeds the limit of 64"):
        check_json("x" * 63)
    assert check_json(nested(3))
    with pytest.raises(InvalidPayload, match="deeper than 3"):
        check_json(nested(4))


def test_very_deep_values_are_refused_without_exhausting_the_stack():
    with pytest.raises(InvalidPayload, match="deeper than 32"):
        check_json(nested(5000))


def test_a_cycle_is_refused():
    loop = []
    loop.append(loop)
    with pytest.raises(InvalidPayload):
        check_json({"loop": loop})


# -- Through the verbs: refused before any write, on every database -------------


def _tables():
    return (
        list(Run.objects.order_by("id").values()),
        list(Step.objects.order_by("id").values()),
        list(Event.objects.order_by("id").values()),
    )


def _writes(run, step):
    """Every verb argument that ends up in a JSON column, as (call, field)."""
    return [
        (lambda v: Run.objects.start("s", input=v), "input"),
        (lambda v: Run.objects.start("s", metadata={"m": v}), "metadata"),
        (lambda v: Step.objects.start(run.pk, input=v), "input"),
        (lambda v: Step.objects.start(run.pk, metadata={"m": v}), "metadata"),
        (lambda v: Step.objects.complete(run.pk, step.pk, v), "output"),
        (lambda v: Step.objects.fail(run.pk, step.pk, v), "error"),
        (lambda v: Step.objects.cancel(run.pk, step.pk, v), "reason"),
        (lambda v: Run.objects.complete(run.pk, v), "output"),
        (lambda v: Run.objects.fail(run.pk, v), "error"),
        (lambda v: Run.objects.cancel(run.pk, v), "reason"),
    ]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "bad",
    [float("nan"), "nul\x00", "\ud800", {1: 1}, {b"k": 1}, {1, 2}, nested(33)],
    ids=["nan", "nul", "surrogate", "int-key", "bytes-key", "set", "too-deep"],
)
def test_every_verb_refuses_bad_json_and_writes_nothing(bad):
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    for call, field in _writes(run, step):
        before = _tables()
        with pytest.raises(InvalidPayload) as caught:
            call(bad)
        assert caught.value.field == field
        assert caught.value.detail.startswith(field)
        assert _tables() == before


@pytest.mark.django_db
@override_settings(SCORIA_MAX_PAYLOAD_BYTES=100)
def test_every_verb_refuses_a_payload_over_the_cap():
    run = Run.objects.start("s")
    step = Step.objects.start(run.pk)
    for call, field in _writes(run, step):
        before = _tables()
        with pytest.raises(InvalidPayload, match="exceeds the limit of 100") as caught:
            call("x" * 200)
        assert caught.value.field == field
        assert _tables() == before


@pytest.mark.django_db
def test_accepted_values_read_back_identically():
    # What passes the check must round-trip unchanged through SQLite and PostgreSQL.
    value = {
        "text": 'emoji \U0001f600 accents é CJK 漢字 tab\t newline\n quote" backslash\\',
        "escaped_nul_text": "\\u0000",
        "numbers": [0, -1, 2**53, 1.5, -0.25, 1e-7],
        "flags": [True, False, None],
        "deep": nested(29, leaf={"k": "v"}),  # 32 levels once inside metadata["copy"]
        "": "",
    }
    run = Run.objects.start("s", input=value, metadata={"copy": value})
    step = Step.objects.start(run.pk, input=value)
    Step.objects.complete(run.pk, step.pk, value)
    stored = Run.objects.get(pk=run.pk)
    assert stored.input == value
    assert stored.metadata == {"copy": value}
    assert Step.objects.get(pk=step.pk).output == value
