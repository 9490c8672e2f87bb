"""Claims and leases, measured on the database clock."""

import datetime
import time
import uuid
from dataclasses import dataclass, field

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


def ready_lease_expiry(seconds=None):
    """The same expiry for the ready-SQL writers of ``sql.py`` (compiled once)."""
    from ..sql import DbNowPlus

    return DbNowPlus(scoria_settings.LEASE_SECONDS if seconds is None else seconds)


@dataclass
class Claim:
    """A worker's hold on one running step: valid while ``claim_token`` matches."""

    run: object
    step: object
    token: uuid.UUID
    handler_path: str | None = None
    extra: dict = field(default_factory=dict)
    # When it was claimed, and the signals the claiming transaction sends on commit: their
    # receivers run after the commit and before the handler.
    claimed_at: float = field(default_factory=time.monotonic)
    signals: list = field(default_factory=list)

    def held_where(self):
        return {"id": self.step.pk, "claim_token": self.token, "status": StepStatus.RUNNING}

    def held(self):
        from ..models import Step

        return Step.objects.filter(**self.held_where())

    def renew(self):
        return self.held().update(lease_expires_at=lease_expiry()) == 1

    def held_at_start(self):
        """Is the claim still ours as its handler is about to start?

        Asked of the database (renewing the lease) only when something may have taken it
        since the claim: a receiver of the claiming transaction's signals ran in between
        (it may have cancelled the run), or a third of the lease went by (recovery may
        have given the step to another worker). Otherwise the answer is yes for free.
        """
        from ..models import Run

        aged = time.monotonic() - self.claimed_at >= scoria_settings.LEASE_SECONDS / 3
        if not aged and not any(signal.has_listeners(Run) for signal in self.signals):
            return True
        return self.renew()
