"""Execute one step: claim it, run its handler outside any transaction, record the outcome.

The claim is one conditional UPDATE (``queued`` -> ``running`` with a fresh token and
a database-clock lease). The outcome is recorded only while that token still holds,
so duplicate deliveries, late results and zombie workers change nothing. When an
outcome queues a next step this worker can run, the same transaction claims it and
the worker continues without another round trip through the task backend. When the
task backend runs tasks inline anyway (``ImmediateBackend``), the transaction that makes
a step runnable claims it too and this process runs it right after commit
(``run_after_commit``): the same steps, one transaction fewer.
"""

import asyncio
import contextlib
import datetime
import functools
import inspect
import json
import logging
import queue
import threading
import time

from asgiref.sync import async_to_sync
from django.db import close_old_connections, connections
from django.db.models import JSONField

from .. import tracing, transitions
from ..exceptions import NotFound
from ..ids import parse_uuid
from ..policies import retry_policy_of, timeout_of
from ..states import RunStatus, StepStatus
from ..transitions import locked_run
from .backends import backend_runs_inline
from .context import StepContext
from .decisions import Completed, Failed, Retry, Waiting, clean_text, decide, exception_error
from .handlers import handler_path, import_failure, load_handler
from .handoffs import record_handoff
from .leases import Claim, lease_seconds, retry_on_contention
from .progress import ProgressReporter

logger = logging.getLogger(__name__)
# Handler failures go to the runtime's logger, with their traceback.
handler_logger = logging.getLogger("scoria_django.runtime")

TIMED_OUT = object()


class _MissingHandler:
    """The stored handler path no longer imports (not an ImportError raised by the handler)."""

    def __init__(self, path, error):
        self.path = path
        self.error = error

    def as_error(self):
        # The import failure in words: a typo in the path reads differently from a module
        # that exists but fails to import (its own exception is quoted).
        error = exception_error(self.error, reason="handler_not_found")
        detail = import_failure(self.path, self.error)
        return {**error, "path": self.path, "detail": clean_text(detail)}


def execute(run_id, step_id):
    run_claimed(claim_step(run_id, step_id))


def run_claimed(claim, worker=None):
    """Run a claimed step, then every step this worker goes on to claim (on ``worker``,
    else on a handler thread of its own)."""
    try:
        while claim is not None:
            if not _handler_loaded(claim):
                logger.info("claim lost before its handler started step=%s", claim.step.pk)
                break
            if worker is None or worker.abandoned:
                worker = _HandlerThread()
            # The step's trace (the request that queued or resumed it) continues here.
            with tracing.continued(claim.step.trace_context):
                with tracing.span("scoria.handler", **_span_attributes(claim)):
                    result = invoke(claim, worker)
                with tracing.span("scoria.outcome", **_span_attributes(claim)):
                    claim = record_outcome(claim, result)
    finally:
        if worker is not None and not worker.abandoned:
            worker.stop()


def claim_step(run_id, step_id):
    """Claim a queued step for this worker, or return None if someone else has it."""
    step_pk = parse_uuid(step_id)
    if step_pk is None:
        return None
    try:
        with locked_run(run_id) as journal:
            run = journal.run
            if run.status not in (RunStatus.RUNNING, RunStatus.WAITING_FOR_APPROVAL):
                return None
            step = transitions.step_of_run(journal, step_pk)
            if step is None or step.status != StepStatus.QUEUED:
                return None
            path = handler_path(run.handlers, step.kind)
            if path is None:
                return None
            if past_deadline(journal):
                return None
            if step.not_before is not None and step.not_before > journal.now:
                # Delivered early (clock skew, or a backend that ran it at once): wake it
                # again when due; recovery does so on backends that cannot defer.
                journal.wake(step.pk, not_before=step.not_before)
                return None
            return _claim_queued(journal, step, path)
    except NotFound:
        return None


def past_deadline(journal):
    """A run past its ``deadline`` fails (``deadline_exceeded``) instead of going on."""
    deadline = journal.run.deadline
    if deadline is None or journal.now <= deadline:
        return False
    error = {"reason": "deadline_exceeded", "deadline": deadline.isoformat()}
    transitions.fail_run_if_active(journal, error)
    return True


def run_after_commit(journal, step, path):
    """Make ``step`` (queued, or about to be inserted queued) run once this commits.

    With the inline backend and no transaction open around this one, the first such step
    is claimed here and run by this process after commit; the task round trip would
    only claim it in a transaction of its own. Otherwise its task is enqueued.
    """
    if step.not_before is not None and step.not_before > journal.now:
        journal.wake(step.pk, not_before=step.not_before)  # a timer: never claimed early
        return
    if journal.inline_claim is None and journal.outermost and backend_runs_inline():
        adding = step._state.adding
        claim = _claim_new(journal, step, path) if adding else _claim_queued(journal, step, path)
        if claim is not None:
            journal.inline_claim = claim
            journal.after_commit(lambda: _run_inline(claim))
            return
    journal.wake(step.pk)


def _run_inline(claim):
    # The caller's own objects went into this transaction; a worker would read them back.
    stored_form(claim.run)
    stored_form(claim.step)
    run_claimed(claim)


def stored_form(instance):
    """Replace each JSON value of ``instance`` by what reading it back would give (lists for
    tuples, no object shared with the code that wrote it): a handler sees the same values
    whether its step was claimed in this process or read by a worker."""
    for field in _json_fields(type(instance)):
        value = getattr(instance, field.attname)
        if value is not None:
            stored = json.dumps(value, cls=field.encoder)
            setattr(instance, field.attname, json.loads(stored, cls=field.decoder))


@functools.cache
def _json_fields(model):
    return [field for field in model._meta.concrete_fields if isinstance(field, JSONField)]


def _span_attributes(claim):
    step = claim.step
    return {"run_id": claim.run.pk, "step_id": step.pk, "kind": step.kind, "attempt": step.attempt}


def _claim_queued(journal, step, path):
    """Claim a stored queued step in this transaction, or None if it is not queued."""
    with (
        tracing.continued(step.trace_context),
        tracing.span("scoria.claim", run_id=journal.run.pk, step_id=step.pk, kind=step.kind),
    ):
        token = transitions.claim_queued_step(journal, step, lease_seconds())
    if token is None:
        return None
    return Claim(run=journal.run, step=step, token=token, handler_path=path, origin=journal)


def _claim_new(journal, step, path):
    """A step this transaction adds is inserted already claimed."""
    with tracing.span("scoria.claim", run_id=journal.run.pk, step_id=step.pk, kind=step.kind):
        token = transitions.claim_new_step(journal, step, lease_seconds())
    return Claim(run=journal.run, step=step, token=token, handler_path=path, origin=journal)


class _HandlerCall:
    """The handler running on its own thread, so a timeout can abandon it.

    An ``async def`` handler runs to completion on that thread too, in an event loop of its
    own (``async_to_sync``): ``sync_to_async`` code it awaits (``ctx.aheartbeat()``, the
    ORM) comes back to this thread and its database connection. Abandoning it (a timeout,
    a lost claim) also cancels its task, so its awaits end early; its result, if any, is
    discarded like a sync handler's.
    """

    def __init__(self, claim):
        self.claim = claim
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.abandoned = False
        self.result = None
        self._task = None
        self._loop = None
        self._cancelled = False

    def run(self, handler, ctx, trace_context=None):
        try:
            with tracing.attached(trace_context):  # spans the handler makes join its trace
                outcome = handler(ctx)
                if inspect.isawaitable(outcome):
                    outcome = self._await(outcome)
        except BaseException as exc:  # noqa: BLE001 - a handler's failure is data
            outcome = exc
        with self.lock:
            self.result = outcome
            self.done.set()
            abandoned = self.abandoned
        try:
            if abandoned:
                discard_late_result(self.claim, reason="timeout")
        except Exception:
            # Evidence only: the step's outcome (timeout) is already recorded.
            logger.exception("could not record a late result step=%s", self.claim.step.pk)

    def _await(self, awaitable):
        async def watched():
            with self.lock:
                self._task = asyncio.current_task()
                self._loop = asyncio.get_running_loop()
                if self._cancelled:
                    self._task.cancel()
            return await awaitable

        return async_to_sync(watched)()

    @property
    def cancelled(self):
        return self._cancelled

    def cancel(self):
        """Cancel an ``async def`` handler's task (a sync handler runs on: see
        ``ctx.cancelled``)."""
        with self.lock:
            self._cancelled = True
            if self._task is not None and not self.done.is_set():
                with contextlib.suppress(RuntimeError):  # its loop closed: it has ended
                    self._loop.call_soon_threadsafe(self._task.cancel)

    def abandon(self):
        """Give up waiting; False if the handler finished in the meantime."""
        with self.lock:
            if self.done.is_set():
                return False
            self.abandoned = True
        self.cancel()
        return True


class CallingThread:
    """Runs handlers on the calling thread and its database connection, without a timeout:
    for ``scoria_verify``, whose writes stay in one uncommitted transaction that a handler
    thread's own connection could not see (and on SQLite would wait on), so a handler that
    writes through ``ctx`` (an agent's state and usage) could not be verified."""

    abandoned = False

    def submit(self, call, handler, ctx):
        call.run(handler, ctx, tracing.current())

    def stop(self):
        pass


class _HandlerThread:
    """One thread running the handlers of consecutive steps, so a continuing worker does
    not start a thread per step. A handler abandoned at its timeout keeps the thread:
    it finishes there (its result discarded) and the thread ends; the caller takes a
    new one (``abandoned``)."""

    def __init__(self):
        self.abandoned = False
        self._calls = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="scoria-step")
        self._thread.start()

    def submit(self, call, handler, ctx):
        self._thread.name = f"scoria-step-{call.claim.step.pk}"
        self._calls.put((call, handler, ctx, tracing.current()))

    def stop(self):
        self._calls.put(None)

    def _loop(self):
        try:
            while (item := self._calls.get()) is not None:
                call, handler, ctx, trace_context = item
                call.run(handler, ctx, trace_context)
                if call.abandoned:
                    return
        finally:
            connections.close_all()


def _handler_loaded(claim):
    """Import the step's handler, then ask whether the claim still holds (False: lost).

    In that order because a first import can take seconds (an agent framework's), longer
    than a third of a short lease: ``held_at_start`` then renews the lease."""
    try:
        claim.extra["handler"] = load_handler(claim.handler_path)
    except Exception as exc:  # noqa: BLE001 - a module may raise anything while importing
        claim.extra["handler"] = _MissingHandler(claim.handler_path, exc)
        return True
    return claim.held_at_start()


def invoke(claim, worker=None):
    """Run the handler (on ``worker``, or a thread of its own) with its timeout, renewing
    the lease while it is alive."""
    from ..conf import scoria_settings

    if "handler" not in claim.extra:
        _handler_loaded(claim)
    handler = claim.extra["handler"]
    if isinstance(handler, _MissingHandler):
        return handler
    own = worker is None
    worker = _HandlerThread() if own else worker
    call = _HandlerCall(claim)
    timeout = step_timeout(claim)
    renew_every = max(scoria_settings.LEASE_SECONDS / 3, 0.05)
    deadline = time.monotonic() + timeout
    progress = ProgressReporter(claim)
    worker.submit(call, handler, StepContext(claim, progress))
    try:
        while not call.done.wait(max(min(renew_every, deadline - time.monotonic()), 0)):
            if time.monotonic() >= deadline:
                if call.abandon():
                    worker.abandoned = True
                    return TIMED_OUT
                break
            # The claim may be found gone here or by the handler's own heartbeat first:
            # either way its result will be discarded, so an async handler stops now.
            if not call.cancelled and (claim.lost or not claim.renew()):
                logger.info("claim lost while its handler runs step=%s", claim.step.pk)
                call.cancel()
        return call.result
    finally:
        # Before the outcome: a step's progress events come before its ending.
        progress.close()
        if own:
            worker.stop()


def step_timeout(claim):
    """The run's own timeout, else the handler's (``@scoria.handler(timeout=)``), else
    ``SCORIA_STEP_TIMEOUT``."""
    from ..conf import scoria_settings

    return (
        claim.run.step_timeout
        or timeout_of(claim.extra.get("handler"))
        or scoria_settings.STEP_TIMEOUT
    )


def record_outcome(claim, result):
    """Write the handler's outcome if the claim still holds; return the next claim, if any."""
    if result is TIMED_OUT:
        error = {"reason": "timeout", "timeout_seconds": step_timeout(claim)}
        decision = with_retry_policy(claim, Failed(error), TimeoutError())
    elif isinstance(result, _MissingHandler):
        decision = Failed(result.as_error())
    else:
        if isinstance(result, BaseException):
            handler_logger.error(
                "handler raised run=%s step=%s kind=%s attempt=%s",
                claim.run.pk,
                claim.step.pk,
                claim.step.kind,
                claim.step.attempt,
                exc_info=(type(result), result, result.__traceback__),
            )
        decision = with_retry_policy(claim, decide(result), result)
    next_claim = None
    try:
        with locked_run(claim.run.pk) as journal:
            decision = _checked_against_stored(journal, claim, decision)
            if _write_step(journal, claim, decision):
                next_claim = _advance_run(journal, claim, decision)
            else:
                journal.record(
                    "late_result_discarded",
                    step_id=claim.step.pk,
                    attempt=claim.step.attempt,
                    reason="claim_lost",
                )
    except NotFound:
        return None
    return next_claim


def with_retry_policy(claim, decision, result):
    """Apply the handler's ``RetryPolicy``: a matching exception with attempts left, or a
    ``retry_later``, becomes a ``Retry``; one past the budget fails with
    ``retries_exhausted``."""
    policy = retry_policy_of(claim.extra.get("handler"))
    attempt = claim.step.attempt
    if isinstance(decision, Retry):
        if policy is None or policy.allows_another(attempt):
            return decision
        return Failed(
            {
                "reason": "retries_exhausted",
                "retries_exhausted": True,
                "retry_reason": decision.reason,
            }
        )
    if policy is None or not isinstance(decision, Failed):
        return decision
    if not isinstance(result, BaseException) or not policy.retries(result):
        return decision
    if policy.allows_another(attempt):
        return Retry(policy.delay(attempt), reason="retry_policy", error=decision.error)
    return Failed({**decision.error, "retries_exhausted": True})


def _checked_against_stored(journal, claim, decision):
    """A pause may not reuse a ``call_id`` its step used before: the step fails instead."""
    if isinstance(decision, Waiting):
        reused = transitions.reused_call_id(journal, claim.step.pk, decision.requests)
        if reused is not None:
            detail = f"call_id {reused!r} was already used by this step"
            return Failed({"reason": "invalid_outcome", "detail": detail})
    return decision


def _write_step(journal, claim, decision):
    """The step's outcome, if the claim still holds."""
    if isinstance(decision, Retry):
        return transitions.reschedule_claimed_step(
            journal, claim.step, claim.token, decision.delay, decision.reason, decision.error
        )
    if isinstance(decision, Completed):
        name, fields = "complete", {"output": decision.output}
    elif isinstance(decision, Waiting):
        name, fields = "wait", {"approval_request": decision.approval_request}
    else:
        name, fields = "fail", {"error": decision.error}
    return transitions.settle_claimed_step(journal, claim.step, claim.token, name, **fields)


def _advance_run(journal, claim, decision):
    step = claim.step
    if isinstance(decision, Retry):
        journal.wake(step.pk, not_before=step.not_before)
        return None
    if isinstance(decision, Failed):
        transitions.fail_run_if_active(journal, decision.error)
        return None
    if isinstance(decision, Waiting):
        transitions.wait_for_approval(journal, step.pk, decision.approval_request)
        transitions.request_approvals(journal, step, decision.requests)
        return None
    adding = len(decision.next_steps) + (decision.handoff is not None)
    if adding and over_step_budget(journal.run, adding):
        budget = step_budget(journal.run)
        transitions.fail_run_if_active(
            journal, {"reason": "step_limit_exceeded", "max_steps": budget}
        )
        return None
    new_steps = [_queue_next(journal, step, spec) for spec in decision.next_steps]
    if decision.handoff is not None:
        new_steps.append(record_handoff(journal, step, decision.handoff))
    if new_steps:
        return _continue_with(journal, new_steps)
    transitions.complete_run_if_done(journal, decision.output)
    return None


def _queue_next(journal, step, spec):
    not_before = spec.get("not_before")
    if spec.get("delay"):
        not_before = journal.now + datetime.timedelta(seconds=spec["delay"])
    return transitions.queue_step(
        journal,
        kind=spec["kind"],
        role_id=spec.get("role_id") or step.role_id,
        input=spec.get("input"),
        not_before=not_before,
    )


def step_budget(run):
    """The run's ``max_steps``, else ``SCORIA_MAX_STEPS_PER_RUN`` (None: no budget)."""
    from ..conf import scoria_settings

    return run.max_steps or scoria_settings.MAX_STEPS_PER_RUN


def over_step_budget(run, adding):
    budget = step_budget(run)
    return budget is not None and run.last_step_sequence + adding > budget


def _continue_with(journal, new_steps):
    """Claim the first runnable new step for this worker; enqueue the others after commit."""
    next_claim = None
    for new in new_steps:
        path = handler_path(journal.run.handlers, new.kind)
        if path is None:
            continue
        if new.not_before is not None and new.not_before > journal.now:
            journal.wake(new.pk, not_before=new.not_before)  # a timer: not now
        elif next_claim is None:
            # Inserted already claimed: the same worker continues with it, seeing its
            # values as a worker reading the row would.
            stored_form(new)
            next_claim = _claim_new(journal, new, path)
        else:
            journal.wake(new.pk)
    return next_claim


def discard_late_result(claim, *, reason):
    """Evidence that a handler finished after its claim was given up."""
    close_old_connections()

    def record():
        try:
            with locked_run(claim.run.pk) as journal:
                journal.record(
                    "late_result_discarded",
                    step_id=claim.step.pk,
                    attempt=claim.step.attempt,
                    reason=reason,
                )
        except NotFound:
            pass  # the run is gone, and its evidence with it

    retry_on_contention(record)
