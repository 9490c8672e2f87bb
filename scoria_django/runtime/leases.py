"""Claims and leases, measured on the database clock."""

import datetime
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

    def held_where(self):
        return {"id": self.step.pk, "claim_token": self.token, "status": StepStatus.RUNNING}

    def held(self):
        from ..models import Step

        return Step.objects.filter(**self.held_where())

    def renew(self):
        return self.held().update(lease_expires_at=lease_expiry()) == 1
