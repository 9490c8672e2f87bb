"""Run and step handles: a UUID or its string form, anything else is no id at all."""

import uuid

import pytest

from scoria_django.ids import parse_uuid

VALUE = uuid.UUID("12345678-1234-5678-1234-567812345678")


@pytest.mark.parametrize(
    "given",
    [VALUE, str(VALUE), str(VALUE).upper(), VALUE.hex, f"urn:uuid:{VALUE}", f"{{{VALUE}}}"],
)
def test_uuid_forms(given):
    assert parse_uuid(given) == VALUE


@pytest.mark.parametrize(
    "given", [None, "", "not-a-uuid", str(VALUE)[:-1], VALUE.int, VALUE.bytes, 1.5, [str(VALUE)]]
)
def test_anything_else_is_none(given):
    assert parse_uuid(given) is None
