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


def run_pk(run_id: object) -> uuid.UUID:
    """The run id as a UUID, or ``invalid_run_id`` (the verbs that act on one exact run)."""
    from .exceptions import InvalidRunId

    pk = parse_uuid(run_id)
    if pk is None:
        raise InvalidRunId(f"{run_id!r} is not a run id", field="run_id")
    return pk
