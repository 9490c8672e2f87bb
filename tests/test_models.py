"""Storage: the Meta invariants hold in the database itself, and events are append-only."""

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from scoria_django.exceptions import ScoriaError
from scoria_django.models import Event, Handoff, Run, Step
from scoria_django.states import RunStatus, StepStatus
from tests.factories import EventFactory, HandoffFactory, RunFactory, StepFactory

pytestmark = pytest.mark.django_db


def _violates(write):
    """Assert the database refuses ``write``; the savepoint keeps the test usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        write()


# -- Meta constraints -------------------------------------------------------------


def test_step_sequence_is_unique_per_run():
    step = StepFactory()
    _violates(lambda: StepFactory(run=step.run, sequence=step.sequence))
    assert StepFactory(sequence=step.sequence).sequence == step.sequence  # another run


def test_event_sequence_is_unique_per_run():
    event = EventFactory()
    _violates(lambda: EventFactory(run=event.run, sequence=event.sequence))
    assert EventFactory(sequence=event.sequence).sequence == event.sequence  # another run


@pytest.mark.parametrize("status", [RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED])
def test_a_terminal_run_needs_completed_at(status):
    _violates(lambda: RunFactory(status=status, completed_at=None))
    run = RunFactory(status=RunStatus.RUNNING)
    _violates(lambda: Run.objects.filter(pk=run.pk).update(status=status))


@pytest.mark.parametrize("status", [RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL])
def test_an_active_run_has_no_completed_at(status):
    _violates(lambda: RunFactory(status=status, completed_at=timezone.now()))


@pytest.mark.parametrize("status", [StepStatus.COMPLETED, StepStatus.FAILED, StepStatus.CANCELLED])
def test_a_terminal_step_needs_completed_at(status):
    _violates(lambda: StepFactory(status=status, completed_at=None))


@pytest.mark.parametrize(
    "status", [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING_FOR_APPROVAL]
)
def test_an_active_step_has_no_completed_at(status):
    _violates(lambda: StepFactory(status=status, completed_at=timezone.now()))


def test_status_must_be_one_of_the_choices():
    run = RunFactory()
    _violates(lambda: Run.objects.filter(pk=run.pk).update(status="paused"))
    step = StepFactory(run=run, status=StepStatus.RUNNING)
    _violates(lambda: Step.objects.filter(pk=step.pk).update(status="paused"))


# -- Events are append-only ---------------------------------------------------------


def test_an_existing_event_cannot_be_saved_or_deleted():
    run = Run.objects.start("s")
    event = Event.objects.get(run=run)
    event.event_type = "forged"
    with pytest.raises(ScoriaError) as caught:
        event.save()
    assert caught.value.code == "event_immutable"
    with pytest.raises(ScoriaError) as caught:
        event.delete()
    assert caught.value.code == "event_immutable"
    assert Event.objects.get(pk=event.pk).event_type == "run_started"


def test_event_querysets_cannot_update_or_delete():
    run = Run.objects.start("s")
    for action in (
        lambda: Event.objects.all().update(payload={}),
        lambda: Event.objects.filter(run=run).delete(),
        lambda: Event.objects.bulk_update(list(Event.objects.all()), ["payload"]),
    ):
        with pytest.raises(ScoriaError) as caught:
            action()
        assert caught.value.code == "event_immutable"
    assert Event.objects.filter(run=run).count() == 1


def test_deleting_a_run_takes_its_steps_events_and_handoffs_only():
    handoff = HandoffFactory()
    run = handoff.run
    EventFactory(run=run, step=handoff.parent_step, event_type="handoff_created")
    kept = HandoffFactory()
    child_run = Run.objects.start({"parent_run_id": run.pk})
    Run.objects.filter(pk=run.pk).update(current_step=handoff.child_step)

    run.delete()

    assert not Run.objects.filter(pk=run.pk).exists()
    assert not Step.objects.filter(run_id=run.pk).exists()
    assert not Event.objects.filter(run_id=run.pk).exists()
    assert not Handoff.objects.filter(run_id=run.pk).exists()
    assert Handoff.objects.filter(pk=kept.pk).exists()
    assert Step.objects.filter(run=kept.run).count() == 2
    # A child run is evidence of its own: it stays, without the parent link.
    child = Run.objects.get(pk=child_run.pk)
    assert child.parent_run_id is None
    assert Event.objects.filter(run=child).count() == 1


def test_a_step_cannot_be_deleted_out_from_under_its_events_or_handoffs():
    from django.db.models import RestrictedError

    handoff = HandoffFactory()
    step = handoff.parent_step
    EventFactory(run=handoff.run, step=step, event_type="handoff_created")
    evidence = Event.objects.filter(run=handoff.run).count()

    with pytest.raises(RestrictedError):
        step.delete()

    assert Step.objects.filter(pk=step.pk).exists()
    assert Event.objects.filter(run=handoff.run).count() == evidence
    assert Handoff.objects.filter(pk=handoff.pk).exists()


# -- __str__ and the read-side factories ------------------------------------------


def test_str_names_each_record():
    handoff = HandoffFactory(delegated_role_id="reviewer")
    run = handoff.run
    event = EventFactory(run=run)
    assert str(run) == f"Run {run.pk} (running)"
    assert str(handoff.parent_step) == f"Step 1 generic of run {run.pk} (completed)"
    assert str(handoff) == f"Handoff {handoff.pk} to reviewer (queued)"
    assert str(event) == f"Event 1 run_started of run {run.pk}"


def test_handoff_status_follows_its_child_step():
    handoff = HandoffFactory(child_step=None)
    assert handoff.status == "child_step_pending"
    handoff = HandoffFactory()
    assert handoff.status == StepStatus.QUEUED


def test_factories_keep_the_run_counters_so_verbs_continue_the_numbering():
    run = RunFactory()
    StepFactory(run=run)
    StepFactory(run=run)
    EventFactory(run=run)
    step = Step.objects.start(run.pk)
    assert step.sequence == 3
    assert list(Event.objects.filter(run=run).values_list("sequence", flat=True)) == [1, 2]


def test_run_and_step_ids_are_the_primary_keys():
    step = StepFactory()
    assert step.run.run_id == step.run.pk
    assert step.step_id == step.pk
