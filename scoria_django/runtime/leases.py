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


@dataclass
class Claim:
    """A worker's hold on one running step: valid while ``claim_token`` matches."""

    run: object
    step: object
    token: uuid.UUID
    handler_path: str | None = None
    extra: dict = field(default_factory=dict)

    def held(self):
        from ..models import Step

        return Step.objects.filter(
            pk=self.step.pk, claim_token=self.token, status=StepStatus.RUNNING
        )

    def renew(self):
        return self.held().update(lease_expires_at=lease_expiry()) == 1
