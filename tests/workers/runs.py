"""Starting runs for the workers and reading their evidence back."""

import scoria_django as scoria
from scoria_django.models import Event, Step

IDENTITY = scoria.identity(actor_id="operator", tenant_id="acme", session_id="fleet")


def start(kind, handler, **step_input):
    return scoria.start_run(
        IDENTITY,
        initial_step={"kind": kind, "role_id": "worker", "input": step_input},
        handlers={kind: f"tests.workers.handlers.{handler}"},
    )


def events(step_id, event_type):
    return list(Event.objects.filter(step_id=step_id, event_type=event_type).order_by("sequence"))


def step_status(step_id, status):
    return Step.objects.get(pk=step_id).status == status
