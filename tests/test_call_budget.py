"""The Python work of one 3-step lifecycle through the facade (inline execution), pinned.

Function calls do not depend on machine noise, unlike timings: this budget fails as soon
as the lifecycle grows past the measured figure and a tenth. It is measured
on a warm process (the first lifecycle pays imports and caches) and includes the calls
made on the handler's thread.
"""

import sys
import threading

import pytest

import scoria_django as scoria

CALL_BUDGET = 6_200
HANDLERS = {"chain": "tests.handlers.chain", "echo": "tests.handlers.echo"}
IDENTITY = {"actor_id": "budget", "tenant_id": "t-budget", "session_id": "s-budget"}


def lifecycle():
    return scoria.start_run(
        IDENTITY,
        initial_step={"kind": "chain", "role_id": "executor", "input": {"n": 1}},
        handlers=HANDLERS,
    )


def python_calls(fn):
    """(calls, result): Python-level calls made by ``fn()`` on every thread it starts."""
    calls = 0
    lock = threading.Lock()

    def profiler(frame, event, arg):
        nonlocal calls
        if event == "call":
            with lock:
                calls += 1

    threading.setprofile(profiler)
    sys.setprofile(profiler)
    try:
        result = fn()
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    return calls, result


# Measured 2026-12-06 after the one-engine change: 3,885 calls on SQLite and 4,990 on
# PostgreSQL (3,908 / 5,013 before it; 12,885 / 14,315 with the transition layer's
# statements built by the ORM; docs/performance.md). Then approvals, execution policies
# and the OpenTelemetry hooks (with opentelemetry-api installed and no provider): 4,543 /
# 5,624. The budget is PostgreSQL's figure and a tenth.
@pytest.mark.django_db(transaction=True)
def test_three_step_lifecycle_stays_within_the_call_budget():
    from scoria_django.models import Step

    lifecycle()  # warm: imports, handler resolution, Django's caches
    calls, summary = python_calls(lifecycle)

    assert summary.status == "completed"
    assert Step.objects.filter(run_id=summary.run_id, status="completed").count() == 3
    assert calls <= CALL_BUDGET, f"{calls} Python calls per 3-step lifecycle"
