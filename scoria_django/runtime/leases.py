"""Claims and leases, measured on the database clock."""

import datetime
import time
import uuid
from dataclasses import dataclass, field

from django.db import OperationalError
from django.db.models import DateTimeField, ExpressionWrapper
from django.db.models.functions import Now

from ..conf import scoria_settings
from ..states import StepStatus


def lease_expiry(seconds=None):
    """``now() + lease`` evaluated by the database, so every worker shares one clock."""
    seconds = scoria_settings.LEASE_SECONDS if seconds is None else seconds
    return ExpressionWrapper(
        Now() + datetime.timedelta(seconds=seconds), output_field=DateTimeField()
    )


def lease_seconds():
    """How long a claim holds without a renewal (``SCORIA_LEASE_SECONDS``)."""
    return scoria_settings.LEASE_SECONDS


@dataclass
class Claim:
    """A worker's hold on one running step: valid while ``claim_token`` matches."""

    run: object
    step: object
    token: uuid.UUID
    handler_path: str | None = None
    extra: dict = field(default_factory=dict)
    # When it was claimed, and the journal of the claiming transaction: code of others may
    # run after its commit and before the handler (``RunJournal.others_ran``).
    claimed_at: float = field(default_factory=time.monotonic)
    origin: object = None
    # Set once a renewal finds the claim gone (the run was cancelled, or recovery gave the
    # step to another worker): the handler's result will be discarded (``ctx.cancelled``).
    lost: bool = False

    def held_where(self):
        return {"id": self.step.pk, "claim_token": self.token, "status": StepStatus.RUNNING}

    def held(self):
        from ..models import Step

        return Step.objects.filter(**self.held_where())

    def renew(self):
        held = self.held().update(lease_expires_at=lease_expiry()) == 1
        if not held:
            self.lost = True
        return held

    def held_at_start(self):
        """Is the claim still ours as its handler is about to start?

        Asked of the database (renewing the lease) only when something may have taken it
        since the claim: code of others ran after the claiming commit (a signal receiver
        or an ``on_commit`` callback, which may have cancelled the run), or a third of the
        lease went by (recovery may have given the step to another worker). Otherwise the
        answer is yes for free.
        """
        aged = time.monotonic() - self.claimed_at >= scoria_settings.LEASE_SECONDS / 3
        if not aged and not (self.origin is not None and self.origin.others_ran):
            return True
        # A moment's contention must not cost the step an attempt.
        return retry_on_contention(self.renew)


def retry_on_contention(write, attempts=3):
    """``write()``, tried again after a moment while the database refuses it for
    contention: these writes race whatever else touches the run at that moment, and
    SQLite refuses a locked table at once (shared cache) or after its busy timeout."""
    for attempt in range(attempts):
        try:
            return write()
        except OperationalError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    return None
