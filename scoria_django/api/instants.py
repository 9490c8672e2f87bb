"""Client-supplied instants, normalised to UTC before they reach a query.

Python accepts UTC offsets up to ±23:59 and PostgreSQL only up to ±15:59, so
``2026-01-01T00:00:00+18:09`` would be a database error (a 500) instead of a filter.
Every RFC 3339 date-time the schema promises is accepted, including year 1 and 9999 with
any offset.
"""

import datetime

from django.utils import timezone
from django.utils.dateparse import parse_datetime


def to_utc(value):
    """An aware datetime in UTC, or None when ``value`` is not a date-time (naive is read as
    UTC; an instant beyond the calendar's ends is clamped to them)."""
    if isinstance(value, str):
        try:
            value = parse_datetime(value)
        except ValueError:
            return None
    if not isinstance(value, datetime.datetime):
        return None
    if timezone.is_naive(value):
        value = value.replace(tzinfo=datetime.UTC)
    try:
        return value.astimezone(datetime.UTC)
    except OverflowError:
        # Year 1 or 9999 pushed over the edge by its offset: the instant is before (or
        # after) any that can be stored, so the nearest storable one filters the same way.
        ahead = value.utcoffset() > datetime.timedelta(0)
        return (datetime.datetime.min if ahead else datetime.datetime.max).replace(
            tzinfo=datetime.UTC
        )
