"""The transition tables, proven without a database (no test here has db access)."""

import itertools

import pytest

from scoria_django import states
from scoria_django.states import RunStatus, StepStatus

R = RunStatus
S = StepStatus

# The whole table, written out: every pair not listed here must be refused.
RUN_ALLOWED = {
    (R.RUNNING, R.WAITING_FOR_APPROVAL),
    (R.RUNNING, R.COMPLETED),
    (R.RUNNING, R.FAILED),
    (R.RUNNING, R.CANCELLED),
    (R.WAITING_FOR_APPROVAL, R.RUNNING),
    (R.WAITING_FOR_APPROVAL, R.COMPLETED),
    (R.WAITING_FOR_APPROVAL, R.FAILED),
    (R.WAITING_FOR_APPROVAL, R.CANCELLED),
}
STEP_ALLOWED = {
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.FAILED),
    (S.QUEUED, S.CANCELLED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.WAITING_FOR_APPROVAL),
    (S.RUNNING, S.QUEUED),
    (S.WAITING_FOR_APPROVAL, S.QUEUED),
    (S.WAITING_FOR_APPROVAL, S.FAILED),
    (S.WAITING_FOR_APPROVAL, S.CANCELLED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(R, R)))
def test_run_table(current, target):
    assert states.run_can_move(current, target) is ((current, target) in RUN_ALLOWED)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_step_table(current, target):
    assert states.step_can_move(current, target) is ((current, target) in STEP_ALLOWED)


@pytest.mark.parametrize("status", [R.COMPLETED, R.FAILED, R.CANCELLED])
def test_terminal_runs_absorb(status):
    assert states.is_run_terminal(status)
    assert not any(states.run_can_move(status, target) for target in R)


@pytest.mark.parametrize("status", [S.COMPLETED, S.FAILED, S.CANCELLED])
def test_terminal_steps_absorb(status):
    assert states.is_step_terminal(status)
    assert not any(states.step_can_move(status, target) for target in S)


def test_plain_strings_work_like_members():
    # Rows hold plain strings; the tables must answer for them too.
    assert states.run_can_move("running", "completed")
    assert not states.run_can_move("completed", "running")
    assert states.step_can_move("queued", "running")
    assert states.is_run_terminal("cancelled")
    assert not states.is_step_terminal("waiting_for_approval")


def test_only_a_failed_run_or_step_may_be_retried():
    # The one documented exception to "terminal absorbs": resume_run's retry.
    assert [status for status in R if states.run_can_retry(status)] == [R.FAILED]
    assert [status for status in S if states.step_can_retry(status)] == [S.FAILED]


def test_active_and_terminal_sets_partition_the_statuses():
    assert set(R) == states.RUN_ACTIVE | states.RUN_TERMINAL
    assert not states.RUN_ACTIVE & states.RUN_TERMINAL
    assert set(S) == states.STEP_ACTIVE | states.STEP_TERMINAL
    assert not states.STEP_ACTIVE & states.STEP_TERMINAL


def test_statuses_a_conditional_update_may_start_from():
    assert set(states.run_statuses_from(R.CANCELLED)) == {R.RUNNING, R.WAITING_FOR_APPROVAL}
    assert states.run_statuses_from(R.WAITING_FOR_APPROVAL) == [R.RUNNING]
    assert set(states.step_statuses_from(S.QUEUED)) == {S.RUNNING, S.WAITING_FOR_APPROVAL}
    assert states.step_statuses_from(S.COMPLETED) == [S.RUNNING]


def test_status_values_are_stable_lowercase_strings():
    assert R.values == ["running", "waiting_for_approval", "completed", "failed", "cancelled"]
    assert S.values == [
        "queued",
        "running",
        "waiting_for_approval",
        "completed",
        "failed",
        "cancelled",
    ]


def test_fold_events_rebuilds_the_last_status_of_the_run_and_each_step():
    events = [
        {"step_id": None, "payload": {"run_status": "running"}},
        {"step_id": "a", "payload": {"step_status": "running"}},
        {"step_id": "a", "payload": {"step_status": "completed", "note": 1}},
        {"step_id": "b", "payload": {"step_status": "running"}},
        {"step_id": None, "payload": {}},
        {"step_id": "b", "payload": None},
        {"step_id": "b", "payload": {"step_status": "failed", "run_status": "failed"}},
    ]
    assert states.fold_events(events) == ("failed", {"a": "completed", "b": "failed"})


def test_fold_events_ignores_a_step_status_without_a_step():
    assert states.fold_events([{"step_id": None, "payload": {"step_status": "running"}}]) == (
        None,
        {},
    )
