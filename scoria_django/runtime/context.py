"""``ctx``: what a handler sees of its run and step."""

from types import MappingProxyType

from ..identity import identity as make_identity
from ..records import RunSummary, step_row
from .progress import ProgressReporter, progress_payload


class StepContext:
    """Read-only view of one claimed step, plus ``heartbeat()`` and ``progress()``."""

    __slots__ = ("_claim", "_progress", "run", "step", "identity", "metadata", "attempt")

    def __init__(self, claim, progress=None):
        self._claim = claim
        # The executor keeps the reporter to close it when the handler ends.
        self._progress = progress or ProgressReporter(claim)
        run, step = claim.run, claim.step
        self.run = RunSummary.from_run(run)
        self.step = MappingProxyType(step_row(step))
        self.metadata = MappingProxyType(run.metadata or {})
        self.identity = make_identity(
            (run.metadata or {}).get("identity")
            or {
                "actor_id": run.actor_id,
                "tenant_id": run.tenant_id,
                "session_id": run.session_id,
            }
        )
        self.attempt = step.attempt

    @property
    def input(self):
        return self._claim.step.input

    @property
    def payload(self):
        return (self._claim.run.metadata or {}).get("payload")

    @property
    def handoff_input(self):
        return self._claim.step.handoff_input

    @property
    def projected_context(self):
        return self._claim.step.projected_context

    @property
    def resume_input(self):
        resumed = self._claim.step.resumed_with
        return resumed.get("input") if resumed else None

    @property
    def approval(self):
        """The decision this step waited for, once it runs again: ``decision``,
        ``decided_by``, ``arguments`` (edited, else requested), ``input``, ``reason``,
        ``comment``, ``call_id`` (and ``approved_by`` when approved); the first of
        ``approvals`` when it waited on several. Kept on a retry."""
        resumed = self._claim.step.resumed_with or {}
        approval = resumed.get("approval")
        return dict(approval) if approval else None

    @property
    def approvals(self):
        """Every decision of the step's last pause, in request order ([] before one)."""
        resumed = self._claim.step.resumed_with or {}
        if resumed.get("approvals"):
            return [dict(item) for item in resumed["approvals"]]
        approval = resumed.get("approval")
        return [dict(approval)] if approval else []

    @property
    def idempotency_key(self):
        """Stable across retries of the same step: key external side effects on it."""
        return f"{self._claim.run.pk}:{self._claim.step.pk}"

    @property
    def cancelled(self):
        """True once the step's claim is gone (its run was cancelled, or recovery gave it to
        another worker): stop, the result will be discarded. Updated at every lease
        renewal and by ``heartbeat()``."""
        return self._claim.lost

    def heartbeat(self):
        """Renew the lease; False means the claim was lost and the result will be discarded."""
        return self._claim.renew()

    def progress(self, message=None, **data):
        """Append a ``progress`` event (``{"message", "data"}``) to the run's timeline, where
        the run's event stream shows it live. Throttled per step by
        ``SCORIA_PROGRESS_MIN_INTERVAL``, the latest report kept (``runtime.progress``)."""
        self._progress.report(progress_payload(message, data))
