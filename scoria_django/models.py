"""Storage: Run, Step, Handoff and the append-only Event timeline.

Only the verbs in ``managers.py`` (and the runtime built on them) assign ``status``.
"""

import uuid

from django.db import models
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from .managers import ApprovalQuerySet, EventManager, RunManager, StepManager
from .states import RUN_TERMINAL, STEP_TERMINAL, ApprovalStatus, OnExpiry, RunStatus, StepStatus


class Run(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session_id = models.CharField(max_length=255, null=True, blank=True)
    thread_id = models.CharField(max_length=255, null=True, blank=True)
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_runs"
    )
    actor_id = models.CharField(max_length=255, null=True, blank=True)
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    root_role_id = models.CharField(max_length=255, blank=True, default="")
    kind = models.CharField(max_length=100, default="generic")
    status = models.CharField(max_length=32, choices=RunStatus, default=RunStatus.RUNNING)
    current_step = models.ForeignKey(
        "Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    input = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    cancel_reason = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    handlers = models.JSONField(default=dict, blank=True)
    step_timeout = models.FloatField(null=True, blank=True)
    # Execution policies (docs/policies.md): the start's idempotency key and what it was
    # asked for (a repeat must match), and the run's rails.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    idempotency_fingerprint = models.CharField(max_length=64, null=True, blank=True)
    max_steps = models.PositiveIntegerField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True)
    # The sum of its steps' ``usage`` (model tokens), kept with them in one transaction.
    usage = models.JSONField(null=True, blank=True)
    # Counters kept on the locked run row: the next Event / Step sequence is one more.
    last_event_sequence = models.PositiveIntegerField(default=0)
    last_step_sequence = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = RunManager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("resume_run", "Can resume a run"),
            ("cancel_run", "Can cancel a run"),
        ]
        indexes = [
            models.Index(
                fields=["session_id", "-created_at", "-id"], name="scoria_run_session_newest"
            ),
            # Runs by status sort on (updated_at DESC, id): the index ends in the same order.
            models.Index(fields=["status", "-updated_at", "id"], name="scoria_run_status_updated"),
            models.Index(fields=["tenant_id", "-created_at"], name="scoria_run_tenant"),
            models.Index(fields=["-updated_at", "id"], name="scoria_run_updated"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=sorted(RUN_TERMINAL), completed_at__isnull=False)
                | (~Q(status__in=sorted(RUN_TERMINAL)) & Q(completed_at__isnull=True)),
                name="scoria_run_terminal_iff_completed_at",
            ),
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values), name="scoria_run_status_valid"
            ),
            # One run per idempotency key and tenant ("no tenant" counts as one tenant).
            models.UniqueConstraint(
                Coalesce("tenant_id", Value("")),
                "idempotency_key",
                condition=Q(idempotency_key__isnull=False),
                name="scoria_run_idempotency_key",
            ),
        ]

    def __str__(self):
        return f"Run {self.id} ({self.status})"

    @property
    def run_id(self):
        return self.id


class Step(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    sequence = models.PositiveIntegerField()
    session_id = models.CharField(max_length=255, null=True, blank=True)
    thread_id = models.CharField(max_length=255, null=True, blank=True)
    parent_step = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="child_steps"
    )
    kind = models.CharField(max_length=100, default="generic")
    role_id = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=32, choices=StepStatus, default=StepStatus.QUEUED)
    attempt = models.PositiveIntegerField(default=1)
    input = models.JSONField(null=True, blank=True)
    handoff_input = models.JSONField(null=True, blank=True)
    projected_context = models.JSONField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    cancel_reason = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    approval_request = models.JSONField(null=True, blank=True)
    # A queued step is never claimed before this (a retry's backoff, a timer).
    not_before = models.DateTimeField(null=True, blank=True)
    # The trace (W3C headers) of the request that queued or resumed it (docs/observability.md).
    trace_context = models.JSONField(null=True, blank=True)
    # Model tokens its handler spent (docs/agents.md#usage): input_tokens, output_tokens,
    # requests, model, and per model in "models". Written as they are spent, whatever the
    # step's outcome.
    usage = models.JSONField(null=True, blank=True)
    # An agent adapter's saved state (a message history, a RunState): evidence on the step,
    # read back when the step runs again, never part of a projected context.
    agent_state = models.JSONField(null=True, blank=True)
    # Set by resume_run: {"mode": "approval" | "retry", "actor_id", "input", "approval"?}.
    resumed_with = models.JSONField(null=True, blank=True)
    # The claim: a fresh token per claim, and a lease measured on the database clock.
    claim_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = StepManager()

    class Meta:
        ordering = ["run", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="scoria_step_run_sequence"),
            models.CheckConstraint(
                condition=Q(status__in=sorted(STEP_TERMINAL), completed_at__isnull=False)
                | (~Q(status__in=sorted(STEP_TERMINAL)) & Q(completed_at__isnull=True)),
                name="scoria_step_terminal_iff_completed_at",
            ),
            models.CheckConstraint(
                condition=Q(status__in=StepStatus.values), name="scoria_step_status_valid"
            ),
        ]
        indexes = [
            # Runnable steps: what recovery scans (queued by age, running by lease).
            models.Index(
                fields=["status", "lease_expires_at", "updated_at"],
                condition=Q(status__in=[StepStatus.QUEUED, StepStatus.RUNNING]),
                name="scoria_step_runnable",
            ),
            # Due timers: queued steps by the time they become runnable.
            models.Index(
                fields=["not_before"],
                condition=Q(status=StepStatus.QUEUED, not_before__isnull=False),
                name="scoria_step_due",
            ),
        ]

    def __str__(self):
        return f"Step {self.sequence} {self.kind} of run {self.run_id} ({self.status})"

    @property
    def step_id(self):
        return self.id


class Handoff(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="handoffs")
    # RESTRICT: a handoff (and an event) goes only with its run, never with one step.
    parent_step = models.ForeignKey(Step, on_delete=models.RESTRICT, related_name="handoffs_made")
    child_step = models.OneToOneField(
        Step, null=True, blank=True, on_delete=models.SET_NULL, related_name="handoff_received"
    )
    delegated_role_id = models.CharField(max_length=255)
    delegated_kind = models.CharField(max_length=100)
    capability_tags = models.JSONField(default=list, blank=True)
    handoff_input = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"Handoff {self.id} to {self.delegated_role_id} ({self.status})"

    @property
    def status(self):
        """A handoff has no status of its own: it follows its child step."""
        from .records import handoff_status

        return handoff_status(self.child_step)


class Event(models.Model):
    """One line of a run's evidence. Append-only: never updated, deleted only with its run."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    step = models.ForeignKey(
        Step, null=True, blank=True, on_delete=models.RESTRICT, related_name="events"
    )
    sequence = models.PositiveIntegerField()
    event_type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict, blank=True)
    actor_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField()

    objects = EventManager()

    class Meta:
        ordering = ["run", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["run", "sequence"], name="scoria_event_run_sequence"),
        ]

    def __str__(self):
        return f"Event {self.sequence} {self.event_type} of run {self.run_id}"

    def save(self, *args, **kwargs):
        from .exceptions import ScoriaError

        if not self._state.adding:
            raise ScoriaError("events are append-only", code="event_immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        from .exceptions import ScoriaError

        raise ScoriaError("events are deleted only with their run", code="event_immutable")


class Approval(models.Model):
    """One request for a person's decision, made by a step (docs/approvals.md).

    Created ``pending`` in the transaction that moves its step to ``waiting_for_approval``;
    decided once (approved, rejected, expired, or cancelled with its run), only through the
    transition layer. The step runs again when none of its approvals is pending.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="approvals")
    # RESTRICT, like events: an approval goes only with its run.
    step = models.ForeignKey(Step, on_delete=models.RESTRICT, related_name="approvals")
    # Copied from the run, so an inbox filters without a join.
    tenant_id = models.CharField(max_length=255, null=True, blank=True)
    # Position in its step's request (1, 2, ...) across every round of the step.
    position = models.PositiveIntegerField()
    call_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=16, choices=ApprovalStatus, default=ApprovalStatus.PENDING)
    tool_name = models.CharField(max_length=255)
    arguments = models.JSONField(null=True, blank=True)
    reason = models.TextField(null=True, blank=True)
    assignees = models.JSONField(default=list, blank=True)
    groups = models.JSONField(default=list, blank=True)
    requested_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    on_expiry = models.CharField(max_length=16, choices=OnExpiry, default=OnExpiry.REJECT)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=255, null=True, blank=True)
    # What the decision said: the approver's comment, a rejection's reason, its input, and
    # the arguments the approver edited (None: approved as requested).
    comment = models.TextField(null=True, blank=True)
    decision_reason = models.TextField(null=True, blank=True)
    decision_input = models.JSONField(null=True, blank=True)
    edited_arguments = models.JSONField(null=True, blank=True)

    objects = ApprovalQuerySet.as_manager()

    class Meta:
        ordering = ["requested_at", "position"]
        permissions = [("decide_approval", "Can decide an approval")]
        constraints = [
            models.UniqueConstraint(
                fields=["step", "position"], name="scoria_approval_step_position"
            ),
            models.UniqueConstraint(fields=["step", "call_id"], name="scoria_approval_call_id"),
            models.CheckConstraint(
                condition=(Q(status=ApprovalStatus.PENDING) & Q(decided_at__isnull=True))
                | (~Q(status=ApprovalStatus.PENDING) & Q(decided_at__isnull=False)),
                name="scoria_approval_decided_iff_decided_at",
            ),
            models.CheckConstraint(
                condition=Q(status__in=ApprovalStatus.values), name="scoria_approval_status_valid"
            ),
        ]
        indexes = [
            # The inbox: a tenant's pending approvals, oldest first.
            models.Index(
                fields=["tenant_id", "status", "requested_at"], name="scoria_approval_inbox"
            ),
            # Recovery: pending approvals by expiry.
            models.Index(
                fields=["expires_at"],
                condition=Q(status=ApprovalStatus.PENDING),
                name="scoria_approval_expiring",
            ),
        ]

    def __str__(self):
        return f"Approval {self.id} {self.tool_name} ({self.status})"
