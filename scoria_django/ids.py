"""Parsing of the UUID handles (run_id, step_id) callers pass around."""

import uuid


def parse_uuid(value: object) -> uuid.UUID | None:
    """Return a ``uuid.UUID`` for a UUID or its string form, else None."""
    if isinstance(value, uuid.UUID):
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            return None
    return None
