"""A handler's exception is logged with its traceback, and each attempt's error keeps a
redacted, size-capped traceback that operators see on the evidence page and in
``scoria_runs show``."""

import io
import logging

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command

import scoria_django as scoria
from scoria_django.models import Event, Step
from scoria_django.runtime.decisions import MAX_TRACEBACK
from tests import runtime_handlers

pytestmark = pytest.mark.django_db(transaction=True)
SECRETS = ("abc.def.ghi", "sk-proj-0123456789abcdef")


def fail(depth=3, pad=0):
    return scoria.start_run(
        {"actor_id": "u"},
        initial_step={"kind": "leaky", "role_id": "r", "input": {"depth": depth, "pad": pad}},
        handlers={"leaky": runtime_handlers.leaky_raiser},
    )


def test_the_exception_is_logged_with_its_traceback(caplog):
    with caplog.at_level(logging.ERROR, logger="scoria_django.runtime"):
        failed = fail()
    (record,) = [r for r in caplog.records if r.name == "scoria_django.runtime"]
    assert record.exc_info[0] is ConnectionError
    assert failed.run_id in record.getMessage()
    assert "kind=leaky attempt=1" in record.getMessage()


def test_the_stored_traceback_is_redacted_and_kept_per_attempt():
    failed = fail()
    error = Step.objects.get(run_id=failed.run_id).error
    trace = error["traceback"]
    assert "in connect" in trace and "ConnectionError" in trace
    assert not any(secret in trace or secret in error["message"] for secret in SECRETS)
    assert "[redacted]" in trace
    scoria.resume_run(failed.run_id)  # the retry fails again: attempt 2 has its own
    attempts = [
        e.payload["error"]["traceback"]
        for e in Event.objects.filter(run_id=failed.run_id, event_type="step_failed").order_by(
            "sequence"
        )
        if "traceback" in e.payload.get("error", {})
    ]
    assert len(attempts) == 2


def test_a_long_traceback_is_capped_keeping_its_end():
    failed = fail(pad=50_000)
    error = Step.objects.get(run_id=failed.run_id).error
    trace = error["traceback"]
    assert len(trace) <= MAX_TRACEBACK + 4
    assert trace.startswith("...\n")
    assert trace.rstrip().endswith("and key [redacted]")
    assert len(error["message"]) <= 1000


def test_operators_see_the_traceback_on_the_evidence_page_and_in_the_command(client):
    failed = fail()
    operator = User.objects.create_user("ops", password="pw", is_staff=True)
    operator.user_permissions.add(Permission.objects.get(codename="view_run"))
    client.force_login(operator)
    page = client.get(f"/scoria/workflows/{failed.run_id}/").content.decode()
    assert "Traceback (attempt 1)" in page
    assert "in connect" in page
    assert not any(secret in page for secret in SECRETS)
    out = io.StringIO()
    call_command("scoria_runs", "show", failed.run_id, stdout=out)
    text = out.getvalue()
    assert "traceback:" in text and "ConnectionError" in text
    assert not any(secret in text for secret in SECRETS)
