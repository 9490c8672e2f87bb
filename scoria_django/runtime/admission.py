"""Who gets to start: idempotent starts, session concurrency and a run's rails.

Both checks run inside the start's own transaction, so they hold under concurrent starts:
the idempotency key is unique per tenant in the database (a racing duplicate fails its
insert and returns the first run), and a session is serialised by the transition layer's
session lock (``transitions.lock_session``: an advisory lock on PostgreSQL, SQLite's
write lock taken at ``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from .. import transitions
from ..conf import scoria_settings
from ..exceptions import IdempotencyKeyReused, InvalidOption, SessionBusy
from ..names import is_name
from ..states import RUN_ACTIVE

ON_BUSY = ("allow", "reject", "cancel_previous")
SUPERSEDED = "superseded"


@dataclass(frozen=True)
class Admission:
    """What a start asks of the admission checks, validated before any write."""

    idempotency_key: str | None
    fingerprint: str | None
    on_busy: str


def admission(idempotency_key: Any, on_busy: Any, request: dict[str, Any]) -> Admission:
    if idempotency_key is not None and not is_name(idempotency_key):
        raise InvalidOption(
            "idempotency_key must be a non-blank string of at most 255 characters",
            field="idempotency_key",
        )
    busy = scoria_settings.SESSION_CONCURRENCY if on_busy is None else on_busy
    if busy not in ON_BUSY:
        raise InvalidOption(f"on_busy must be one of {', '.join(ON_BUSY)}", field="on_busy")
    fingerprint = None
    if idempotency_key is not None:
        canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    return Admission(idempotency_key, fingerprint, busy)


def first_run_with_key(tenant_id: str | None, admitted: Admission):
    """The run an earlier start with this key created (None: none yet); a different
    request under the same key is ``idempotency_key_reused``."""
    from ..models import Run

    if admitted.idempotency_key is None:
        return None
    found = (
        Run.objects.using(transitions.db_alias())
        .filter(tenant_id=tenant_id, idempotency_key=admitted.idempotency_key)
        .values("id", "idempotency_fingerprint")
        .first()
    )
    if found is None:
        return None
    if found["idempotency_fingerprint"] != admitted.fingerprint:
        raise IdempotencyKeyReused(
            "this idempotency key started a run with a different role, kind or payload",
            field="idempotency_key",
        )
    return found["id"]


def admit_in_session(journal, admitted: Admission, *, actor_id: str | None) -> None:
    """Inside the start's transaction: apply ``on_busy`` to the session's active runs."""
    from ..models import Run

    run = journal.run
    if admitted.on_busy == "allow" or run.session_id is None:
        return
    transitions.lock_session(journal, run.tenant_id, run.session_id)
    active = list(
        Run.objects.using(journal.alias)
        .filter(
            tenant_id=run.tenant_id,
            session_id=run.session_id,
            status__in=sorted(RUN_ACTIVE),
        )
        .exclude(pk=run.pk)
        .values_list("id", flat=True)
    )
    if not active:
        return
    if admitted.on_busy == "reject":
        raise SessionBusy(
            f"session {run.session_id} has an active run ({active[0]})", field="session_id"
        )
    from .control import cancel_tree

    for previous in active:
        cancel_tree(previous, {"reason": SUPERSEDED, "by_run_id": str(run.pk)}, actor_id)


def rails(max_steps: Any, deadline: Any) -> tuple[int | None, datetime.datetime | None]:
    """``max_steps`` (a positive int) and ``deadline`` (an aware datetime, or seconds / a
    timedelta from now), checked before any write."""
    if max_steps is not None and (
        isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1
    ):
        raise InvalidOption("max_steps must be a positive integer", field="max_steps")
    if deadline is None:
        return max_steps, None
    if isinstance(deadline, datetime.timedelta):
        deadline = deadline.total_seconds()
    if isinstance(deadline, int | float) and not isinstance(deadline, bool) and deadline > 0:
        return max_steps, timezone.now() + datetime.timedelta(seconds=deadline)
    if isinstance(deadline, datetime.datetime) and timezone.is_aware(deadline):
        return max_steps, deadline
    raise InvalidOption(
        "deadline must be an aware datetime, or seconds / a timedelta from now", field="deadline"
    )
