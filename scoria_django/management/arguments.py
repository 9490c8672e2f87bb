"""Typed argparse validators and error translation shared by the ``scoria_*`` commands."""

import argparse
import json

from django.core.management.base import CommandError

from ..ids import parse_uuid
from ..states import RUN_TERMINAL


def run_id(value):
    """A run UUID, as text; anything else is a usage error before any query."""
    if parse_uuid(value) is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a run id (a UUID)")
    return str(parse_uuid(value))


def approval_id(value):
    """An approval UUID, as text."""
    if parse_uuid(value) is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not an approval id (a UUID)")
    return str(parse_uuid(value))


def non_negative_int(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number


def positive_int(value):
    number = non_negative_int(value)
    if number == 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


def positive_float(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be greater than 0")
    return number


MAX_DAYS = 3660  # ten years: a window wider than any retention, and no date overflow


def day_count(value):
    """A number of days, 1 to ``MAX_DAYS``."""
    number = positive_int(value)
    if number > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"at most {MAX_DAYS} days")
    return number


def tenant_id(value):
    """A tenant id as the API accepts it: non-blank, storable, at most 255 characters."""
    from ..names import MAX_ID_LENGTH, is_name

    if not is_name(value, MAX_ID_LENGTH):
        raise argparse.ArgumentTypeError(
            f"not a tenant id (non-blank text of at most {MAX_ID_LENGTH} characters, no NUL)"
        )
    return value


def json_value(value):
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc.msg}") from None


def approval_status(value):
    """An approval status, or ``any``."""
    from ..states import ApprovalStatus

    allowed = [*ApprovalStatus.values, "any"]
    if value not in allowed:
        shown = ", ".join(allowed)
        raise argparse.ArgumentTypeError(f"{value!r} is not an approval status ({shown})")
    return value


def terminal_status(value):
    if value not in {str(status) for status in RUN_TERMINAL}:
        allowed = ", ".join(sorted(str(status) for status in RUN_TERMINAL))
        raise argparse.ArgumentTypeError(f"{value!r} is not a terminal status ({allowed})")
    return value


def command_error(exc):
    """A ``ScoriaError`` as the ``CommandError`` a user sees: the stable code, then the detail."""
    field = f" (field: {exc.field})" if getattr(exc, "field", None) else ""
    return CommandError(f"{exc.code}: {exc.detail}{field}")
