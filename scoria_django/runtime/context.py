"""``ctx``: what a handler sees of its run and step.

Every method that touches the database has an awaitable twin (``aheartbeat``,
``aprogress``, ``arecord_usage``, ``asave_agent_state``) for ``async def`` handlers: the
twin runs the same code on the step's own thread (``sync_to_async``), where the step's
database connection lives.
"""

from types import MappingProxyType
from typing import Any

from asgiref.sync import sync_to_async

from .. import transitions
from ..identity import identity as make_identity
from ..payloads import check_json
from ..records import RunSummary, step_row
from ..usage import usage_entry
from .leases import retry_on_contention
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

    async def aheartbeat(self):
        """``heartbeat()`` for ``async def`` handlers."""
        return await sync_to_async(self.heartbeat)()

    @property
    def agent_state(self):
        """What an agent adapter saved on this step (``save_agent_state``), as stored JSON;
        None before the first save. It survives retries, pauses and crashes: the step reads
        it back in whichever process runs it again."""
        return self._claim.step.agent_state

    def save_agent_state(self, state) -> bool:
        """Store ``state`` (JSON) on the step, replacing what was saved before. False when
        the claim was lost (nothing written: the step's next holder keeps its own state).
        Evidence on the step, never part of a projected context."""
        state = check_json(state, field="agent_state")
        claim = self._claim
        saved = retry_on_contention(
            lambda: transitions.save_agent_state(claim.run.pk, claim.step.pk, claim.token, state)
        )
        if saved:
            claim.step.agent_state = state
        return saved

    async def asave_agent_state(self, state) -> bool:
        """``save_agent_state()`` for ``async def`` handlers."""
        return await sync_to_async(self.save_agent_state)(state)

    def record_usage(
        self,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        requests: int = 1,
        model: str | None = None,
    ) -> dict[str, Any]:
        """Add one report of model usage to the step's ``usage`` and the run's total
        (docs/agents.md#usage); returns the entry recorded. Written even when the claim
        was lost: the tokens were spent."""
        entry = usage_entry(
            input_tokens=input_tokens, output_tokens=output_tokens, requests=requests, model=model
        )
        claim = self._claim
        retry_on_contention(lambda: transitions.record_usage(claim.run.pk, claim.step.pk, entry))
        return entry

    async def arecord_usage(self, **usage: Any) -> dict[str, Any]:
        """``record_usage()`` for ``async def`` handlers."""
        return await sync_to_async(self.record_usage)(**usage)

    def progress(self, message=None, **data):
        """Append a ``progress`` event (``{"message", "data"}``) to the run's timeline, where
        the run's event stream shows it live. Throttled per step by
        ``SCORIA_PROGRESS_MIN_INTERVAL``, the latest report kept (``runtime.progress``)."""
        self._progress.report(progress_payload(message, data))

    async def aprogress(self, message=None, **data):
        """``progress()`` for ``async def`` handlers."""
        await sync_to_async(self.progress)(message, **data)
