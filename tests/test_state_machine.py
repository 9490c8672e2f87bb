"""A Hypothesis state machine over both families of moves, on the same runs: the runtime
(start / step outcomes / resume / cancel) and the host's manager verbs (Run.objects and
Step.objects start / complete / fail / cancel).

After every rule, for every run it created: events are gapless, folding them gives
the stored state, the summary equals the stored row, terminal states absorb, a run
has one terminal event per attempt, completed steps never run again, and every ending
was announced by one ``run_finished`` signal, whichever family made it.
"""

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

import scoria_django as scoria
from scoria_django import signals, states
from scoria_django.models import Run, Step
from scoria_django.records import RunSummary
from scoria_django.states import RUN_TERMINAL, STEP_ACTIVE, STEP_TERMINAL, fold_events
from tests import runtime_handlers

OUTCOMES = ("ok", "wait", "fail", "raise", "next", "not_json")
ABSORBING = ("completed", "cancelled")
RUN_TERMINAL_EVENTS = ("run_completed", "run_failed", "run_cancelled")


class RunMachine(RuleBasedStateMachine):
    runs = Bundle("runs")

    def __init__(self):
        super().__init__()
        self.run_ids = []
        self.absorbed = {}  # run_id -> (status, event count) once completed or cancelled
        self.completed_steps = {}  # idempotency key -> executions when it completed
        self.finished = []  # (run_id, status) of every run_finished signal
        signals.run_finished.connect(self._on_finished)

    def teardown(self):
        signals.run_finished.disconnect(self._on_finished)

    def _on_finished(self, sender, run_id, status, **kwargs):
        self.finished.append((run_id, status))

    def status(self, run_id):
        return Run.objects.values_list("status", flat=True).get(pk=run_id)

    @rule(target=runs, script=st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=4))
    def start(self, script):
        summary = scoria.start_run(
            {"actor_id": "u", "session_id": "machine"},
            initial_step={"kind": "scripted", "role_id": "executor", "input": {"script": script}},
            handlers={"scripted": runtime_handlers.scripted},
        )
        self.run_ids.append(summary.run_id)
        return summary.run_id

    @rule(target=runs)
    def host_start(self):
        run = Run.objects.start("machine", kind="hosted")
        self.run_ids.append(str(run.pk))
        return str(run.pk)

    @rule(run_id=runs)
    def host_step_start(self, run_id):
        before = self.status(run_id)
        try:
            Step.objects.start(run_id, kind="manual")
        except scoria.ScoriaConflict as exc:
            assert exc.code == "run_not_active"
            assert before != "running"
        else:
            assert before == "running"

    @rule(run_id=runs, verb=st.sampled_from(["complete", "fail", "cancel"]), data=st.data())
    def host_step_move(self, run_id, verb, data):
        steps = list(Step.objects.filter(run_id=run_id).order_by("sequence"))
        if not steps:
            return
        step = data.draw(st.sampled_from(steps))
        payload = {"complete": {"done": True}, "fail": {"reason": "host"}, "cancel": "host"}[verb]
        allowed = states.STEP_TRANSITIONS[verb].allows(step.status)
        try:
            getattr(Step.objects, verb)(run_id, step.pk, payload)
        except scoria.ScoriaConflict as exc:
            assert exc.code == "invalid_status_transition"
            assert not allowed
        else:
            assert allowed

    @rule(run_id=runs, verb=st.sampled_from(["complete", "fail", "cancel"]))
    def host_run_move(self, run_id, verb):
        before = self.status(run_id)
        allowed = states.RUN_TRANSITIONS[verb].allows(before)
        unfinished = Step.objects.filter(run_id=run_id, status__in=STEP_ACTIVE).exists()
        try:
            getattr(Run.objects, verb)(run_id, {"by": "host"})
        except scoria.ScoriaConflict as exc:
            if exc.code == "active_steps":
                assert verb == "complete" and allowed and unfinished
            else:
                assert exc.code == "invalid_status_transition"
                assert not allowed
        else:
            assert allowed
            assert not (verb == "complete" and unfinished)

    @rule(run_id=runs, approver=st.sampled_from([None, "ops", "boss"]))
    def resume(self, run_id, approver):
        before = self.status(run_id)
        # A waiting run resumes its waiting steps, a failed one retries its failed steps; a
        # host that failed its run without failing a step left nothing to run again.
        resumable = before in ("waiting_for_approval", "failed") and (
            Step.objects.filter(run_id=run_id, status=before).exists()
        )
        try:
            after = scoria.resume_run(run_id, identity={"actor_id": approver})
        except scoria.ScoriaConflict as exc:
            assert exc.code == "not_resumable"
            assert not resumable
        else:
            assert resumable
            assert after.run_id == run_id

    @rule(run_id=runs)
    def cancel(self, run_id):
        before = self.status(run_id)
        try:
            scoria.cancel_run(run_id, reason="machine")
        except scoria.ScoriaConflict as exc:
            assert exc.code == "invalid_status_transition"
            assert before in RUN_TERMINAL
        else:
            assert before not in RUN_TERMINAL

    @invariant()
    def every_run_is_consistent(self):
        for run_id in self.run_ids:
            self.check_run(run_id)

    def check_run(self, run_id):
        run = Run.objects.get(pk=run_id)
        steps = list(Step.objects.filter(run_id=run_id))
        events = scoria.get_run_detail(run_id).events

        # Gapless evidence that folds to the stored state.
        assert [event["sequence"] for event in events] == list(range(1, len(events) + 1))
        assert run.last_event_sequence == len(events)
        assert fold_events(events) == (run.status, {str(s.pk): s.status for s in steps})

        # The summary is the stored row.
        summary = scoria.get_run(run_id)
        assert summary == RunSummary.from_run(run)
        assert summary.awaiting_approval == (run.status == "waiting_for_approval")

        # Terminal iff completed_at; a terminal run has no unfinished step.
        assert (run.status in RUN_TERMINAL) == (run.completed_at is not None)
        for step in steps:
            assert (step.status in STEP_TERMINAL) == (step.completed_at is not None)
        if run.status in RUN_TERMINAL:
            assert not [step for step in steps if step.status in STEP_ACTIVE]

        # One terminal event per attempt of the run: only a retry reopens a failed run.
        types = [event["event_type"] for event in events]
        last_retry = max((i for i, t in enumerate(types) if t == "retry_requested"), default=-1)
        terminal_since = [t for t in types[last_retry + 1 :] if t in RUN_TERMINAL_EVENTS]
        assert len(terminal_since) == (1 if run.status in RUN_TERMINAL else 0)
        if run.status in RUN_TERMINAL:
            assert terminal_since == [f"run_{run.status}"]
        assert types.count("run_completed") + types.count("run_cancelled") <= 1

        # Every ending, by the runtime or by a manager verb, went out as one signal.
        endings = [t.removeprefix("run_") for t in types if t in RUN_TERMINAL_EVENTS]
        assert [status for rid, status in self.finished if rid == run_id] == endings

        # Completed and cancelled absorb: nothing moves or records anything again.
        if run_id in self.absorbed:
            assert self.absorbed[run_id] == (run.status, len(events))
        elif run.status in ABSORBING:
            self.absorbed[run_id] = (run.status, len(events))

        # Completed steps never run again.
        for step in steps:
            key = f"{run_id}:{step.pk}"
            executions = runtime_handlers.CALLS[key]
            if key in self.completed_steps:
                assert self.completed_steps[key] == executions
            elif step.status == "completed":
                self.completed_steps[key] = executions


@pytest.mark.django_db(transaction=True)
def test_runs_keep_their_invariants_under_any_sequence_of_calls():
    runtime_handlers.reset()
    run_state_machine_as_test(
        RunMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
