"""factory-boy factories: read-side fixtures (admin, API, evidence pages, reads).

Lifecycle tests reach their states through the verbs; these factories write rows
directly so a page or a read can be shown any state cheaply. They keep the run's
sequence counters in step with the rows they add, so a verb called afterwards on a
factory-built run still numbers its steps and events correctly.

    run = RunFactory(status=RunStatus.WAITING_FOR_APPROVAL)
    step = StepFactory(run=run, status=StepStatus.WAITING_FOR_APPROVAL)
    HandoffFactory(run=run, parent_step=step)
    EventFactory(run=run, step=step, event_type="step_waiting_for_approval")
    ApprovalFactory(step=step, assignees=["7"], groups=["leads"])
"""

import factory
from django.utils import timezone

from scoria_django.models import Approval, Event, Handoff, Run, Step
from scoria_django.states import (
    RUN_TERMINAL,
    STEP_TERMINAL,
    ApprovalStatus,
    RunStatus,
    StepStatus,
)


def _finished_at(statuses):
    # The Meta constraint: terminal if and only if completed_at is set.
    return factory.LazyAttribute(lambda o: o.updated_at if o.status in statuses else None)


def _next_sequence(run, counter):
    """Take the run's next ``counter`` value (step or event sequence) and store it."""
    value = getattr(run, counter) + 1
    setattr(run, counter, value)
    Run.objects.filter(pk=run.pk).update(**{counter: value})
    return value


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    session_id = factory.Sequence(lambda n: f"session-{n}")
    actor_id = factory.Sequence(lambda n: f"actor-{n}")
    tenant_id = None
    root_role_id = "executor"
    kind = "generic"
    status = RunStatus.RUNNING
    metadata = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
    started_at = factory.SelfAttribute("created_at")
    completed_at = _finished_at(RUN_TERMINAL)


class StepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Step

    run = factory.SubFactory(RunFactory)
    session_id = factory.SelfAttribute("run.session_id")
    thread_id = factory.SelfAttribute("run.thread_id")
    kind = "generic"
    role_id = factory.SelfAttribute("run.root_role_id")
    status = StepStatus.COMPLETED
    input = factory.LazyFunction(dict)
    created_at = factory.LazyFunction(timezone.now)
    updated_at = factory.SelfAttribute("created_at")
    completed_at = _finished_at(STEP_TERMINAL)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("sequence") is None:
            kwargs["sequence"] = _next_sequence(kwargs["run"], "last_step_sequence")
        return super()._create(model_class, *args, **kwargs)


class HandoffFactory(factory.django.DjangoModelFactory):
    """A handoff from ``parent_step`` to a queued child step of the same run."""

    class Meta:
        model = Handoff

    run = factory.SubFactory(RunFactory)
    parent_step = factory.SubFactory(StepFactory, run=factory.SelfAttribute("..run"))
    child_step = factory.SubFactory(
        StepFactory,
        run=factory.SelfAttribute("..run"),
        parent_step=factory.SelfAttribute("..parent_step"),
        kind=factory.SelfAttribute("..delegated_kind"),
        role_id=factory.SelfAttribute("..delegated_role_id"),
        status=StepStatus.QUEUED,
        handoff_input=factory.SelfAttribute("..handoff_input"),
        projected_context=factory.LazyFunction(lambda: {"task": "review the draft"}),
    )
    delegated_role_id = "reviewer"
    delegated_kind = "review"
    capability_tags = factory.LazyFunction(list)
    handoff_input = factory.LazyFunction(lambda: {"task": "review"})
    created_at = factory.LazyFunction(timezone.now)


class EventFactory(factory.django.DjangoModelFactory):
    """The run's next event; ``sequence`` follows the run's counter unless given."""

    class Meta:
        model = Event

    run = factory.SubFactory(RunFactory)
    step = None
    event_type = "run_started"
    payload = factory.LazyFunction(dict)
    actor_id = None
    created_at = factory.LazyFunction(timezone.now)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        if kwargs.get("sequence") is None:
            kwargs["sequence"] = _next_sequence(kwargs["run"], "last_event_sequence")
        return super()._create(model_class, *args, **kwargs)


class ApprovalFactory(factory.django.DjangoModelFactory):
    """A pending approval of ``step`` (by default a waiting step of a waiting run); the
    tenant is the run's, as the runtime copies it."""

    class Meta:
        model = Approval

    step = factory.SubFactory(
        StepFactory,
        status=StepStatus.WAITING_FOR_APPROVAL,
        run=factory.SubFactory(RunFactory, status=RunStatus.WAITING_FOR_APPROVAL),
    )
    run = factory.SelfAttribute("step.run")
    tenant_id = factory.SelfAttribute("run.tenant_id")
    position = factory.Sequence(lambda n: n + 1)
    status = ApprovalStatus.PENDING
    tool_name = "send_email"
    arguments = factory.LazyFunction(lambda: {"to": "a@example.com"})
    assignees = factory.LazyFunction(list)
    groups = factory.LazyFunction(list)
    requested_at = factory.LazyFunction(timezone.now)
    decided_at = factory.LazyAttribute(
        lambda o: None if o.status == ApprovalStatus.PENDING else o.requested_at
    )
