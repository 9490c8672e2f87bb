"""``start_run`` and ``start_handoff_run``: validate everything, then write one transaction."""

import datetime
import inspect
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError

from .. import tracing, transitions
from ..exceptions import InvalidInitialStep, InvalidOption
from ..identity import Identity
from ..identity import identity as make_identity
from ..names import MAX_ID_LENGTH, MAX_KIND_LENGTH, check_name
from ..payloads import check_json
from ..records import RunSummary
from .admission import admission, admit_in_session, first_run_with_key, rails
from .executor import run_after_commit
from .handlers import handler_path, resolve_handlers
from .handoffs import check_root_role_id, record_handoff, validate_handoff
from .reads import get_run
from .snapshot import SNAPSHOT_KEYS, resolve_snapshot

START_OPTIONS = (
    "root_role_id",
    "initial_step",
    "metadata",
    "payload",
    "input",
    "handlers",
    "timeout",
    *SNAPSHOT_KEYS,
)


def _runtime_options(runtime):
    if runtime is None:
        return {}
    if isinstance(runtime, list | tuple):
        try:
            runtime = dict(runtime)  # the keyword-list form: [(option, value), ...]
        except (TypeError, ValueError):
            raise InvalidOption(
                "runtime must be a dict or a list of (option, value) pairs", field="runtime"
            ) from None
    if not isinstance(runtime, dict):
        raise InvalidOption("runtime must be a dict", field="runtime")
    for key in runtime:
        if key not in START_OPTIONS:
            raise InvalidOption(f"unsupported runtime option {key!r}", field=f"runtime.{key}")
    return runtime


INITIAL_STEP_KEYS = ("kind", "role_id", "sequence", "status", "input")


def _initial_step(spec):
    if spec is None:
        return None
    if not isinstance(spec, dict):
        raise InvalidInitialStep("initial_step must be a dict", field="initial_step")
    for key in spec:
        if key not in INITIAL_STEP_KEYS:
            raise InvalidInitialStep(
                f"unsupported initial_step key {key!r}", field=f"initial_step.{key}"
            )
    for key, limit in (("kind", MAX_KIND_LENGTH), ("role_id", MAX_ID_LENGTH)):
        check_name(
            spec.get(key),
            field=f"initial_step.{key}",
            error=InvalidInitialStep,
            max_length=limit,
        )
    if spec.get("status", "queued") != "queued":
        raise InvalidInitialStep("an initial step starts queued", field="initial_step.status")
    sequence = spec.get("sequence", 1)
    if type(sequence) is not int or sequence != 1:
        raise InvalidInitialStep("an initial step has sequence 1", field="initial_step.sequence")
    check_json(spec.get("input"), field="initial_step.input")
    return spec


def _timeout(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidOption("timeout must be a positive number of seconds", field="timeout")
    return float(value)


@dataclass(frozen=True, slots=True)
class Started:
    summary: RunSummary
    created: bool
    """False when an earlier start with the same idempotency key is returned."""


def _summary_only[**P](start: Callable[P, Started], name: str, doc: str) -> Callable[P, RunSummary]:
    """The facade's form of a reporting start: the same arguments, just the summary."""

    def facade(*args: P.args, **kwargs: P.kwargs) -> RunSummary:
        return start(*args, **kwargs).summary

    facade.__name__ = facade.__qualname__ = name
    facade.__doc__ = doc
    facade.__module__ = start.__module__
    facade.__signature__ = inspect.signature(start).replace(  # type: ignore[attr-defined]
        return_annotation=RunSummary
    )
    return facade


def start_run_reporting(
    identity: Identity | Mapping[str, Any] | None,
    *,
    root_role_id: str = "executor",
    initial_step: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    payload: Any = None,
    input: Any = None,
    runtime: dict[str, Any] | Sequence[tuple[str, Any]] | None = None,
    handlers: dict[str, Any] | None = None,
    timeout: float | None = None,
    provider: str | None = None,
    model: str | None = None,
    prompt_policy: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    on_busy: str | None = None,
    max_steps: int | None = None,
    deadline: datetime.datetime | datetime.timedelta | float | None = None,
) -> Started:
    """``start_run``, also telling whether this call created the run."""
    ident = make_identity(identity)
    top = {
        "root_role_id": root_role_id,
        "initial_step": initial_step,
        "metadata": metadata,
        "payload": payload,
        "input": input,
        "handlers": handlers,
        "timeout": timeout,
        "provider": provider,
        "model": model,
        "prompt_policy": prompt_policy,
    }
    nested = _runtime_options(runtime)
    options = _merge_options(top, nested)
    root_role = check_root_role_id(options["root_role_id"])
    step_spec = _initial_step(options["initial_step"])
    resolved = resolve_handlers(options["handlers"])
    snapshot = resolve_snapshot(
        ident,
        {key: top[key] for key in SNAPSHOT_KEYS},
        {key: value for key, value in nested.items() if key in SNAPSHOT_KEYS},
    )
    run_metadata = _compose_metadata(ident, options, snapshot)
    run_input = options["input"] if options["input"] is not None else options["payload"]
    check_json(run_input, field="input" if options["input"] is not None else "payload")
    step_budget, run_deadline = rails(max_steps, deadline)
    admitted = admission(
        idempotency_key,
        on_busy,
        {
            "kind": "agent",
            "root_role_id": root_role,
            "initial_step": step_spec,
            "input": run_input,
            "metadata": options["metadata"],
        },
    )
    run = _new_run(
        ident, root_role, "agent", run_metadata, resolved, run_input, _timeout(options["timeout"])
    )
    run.max_steps, run.deadline = step_budget, run_deadline

    def write(journal):
        if step_spec is not None:
            step = transitions.queue_step(
                journal,
                kind=step_spec["kind"],
                role_id=step_spec["role_id"],
                # Without its own input the first step works on the run's input.
                input=step_spec.get("input", run_input),
            )
            journal.set_run(current_step_id=step.pk)
            if path := handler_path(resolved, step.kind):
                run_after_commit(journal, step, path)

    kind = step_spec["kind"] if step_spec else None
    with tracing.span("scoria.start", run_id=run.pk, kind=kind):
        return _admitted_start(run, admitted, ident, write)


start_run = _summary_only(
    start_run_reporting,
    "start_run",
    """Start a durable run for ``identity``; the summary already shows inline outcomes.

    With ``idempotency_key``, a repeat of the same start returns the first run's summary
    and writes nothing (``start_run_reporting`` also says which happened).
    """,
)


def _admitted_start(run, admitted, ident, write) -> Started:
    """Write a new run through ``write(journal)`` unless its idempotency key was used:
    then return that run (the same request) or refuse (a different one)."""
    earlier = first_run_with_key(run.tenant_id, admitted)
    if earlier is not None:
        return Started(get_run(earlier), created=False)
    run.idempotency_key, run.idempotency_fingerprint = (
        admitted.idempotency_key,
        admitted.fingerprint,
    )
    try:
        with transitions.begin_run(run) as journal:
            admit_in_session(journal, admitted, actor_id=ident.actor_id)
            write(journal)
    except IntegrityError:
        # A concurrent start with the same key committed first.
        earlier = first_run_with_key(run.tenant_id, admitted)
        if earlier is None:
            raise
        return Started(get_run(earlier), created=False)
    return Started(get_run(run.pk), created=True)


# Dict-valued options merge key by key (the nested key wins); every other option is replaced.
_MERGED_OPTIONS = ("metadata", "handlers")


def _merge_options(top, nested):
    """Top-level options overlaid by ``runtime=``: the nested value wins."""
    options = {**top, **nested}
    for key in _MERGED_OPTIONS:
        if isinstance(top.get(key), dict) and isinstance(nested.get(key), dict):
            options[key] = {**top[key], **nested[key]}
    return options


def _compose_metadata(ident, options, snapshot):
    given = options["metadata"]
    if given is not None and not isinstance(given, dict):
        raise InvalidOption("metadata must be a dict", field="metadata")
    metadata = dict(given or {})
    if options["payload"] is not None:
        metadata["payload"] = options["payload"]
    elif options["input"] is not None and "payload" not in metadata:
        metadata["payload"] = options["input"]
    metadata["identity"] = ident.as_dict()
    metadata["runtime"] = snapshot
    return check_json(metadata, field="metadata")


def _new_run(ident, root_role, kind, metadata, handlers, run_input, timeout):
    from ..models import Run

    return Run(
        session_id=ident.session_id,
        actor_id=ident.actor_id,
        tenant_id=ident.tenant_id,
        root_role_id=root_role,
        kind=kind,
        metadata=metadata,
        handlers=handlers,
        input=run_input,
        step_timeout=timeout,
    )


def start_handoff_run_reporting(
    identity: Identity | Mapping[str, Any] | None,
    delegated_role_id: str | None = None,
    *,
    root_role_id: str | None = None,
    delegated_kind: str | None = None,
    handoff_input: dict[str, Any] | None = None,
    projected_context: dict[str, Any] | None = None,
    scoped_context: dict[str, Any] | None = None,
    capability_tags: Collection[str | int] | None = (),
    metadata: dict[str, Any] | None = None,
    payload: Any = None,
    handlers: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    on_busy: str | None = None,
) -> Started:
    """``start_handoff_run``, also telling whether this call created the run."""
    ident = make_identity(identity)
    handoff = validate_handoff(
        delegated_role_id,
        root_role_id,
        delegated_kind,
        handoff_input,
        projected_context,
        scoped_context,
        capability_tags,
    )
    resolved = resolve_handlers(handlers)
    snapshot = resolve_snapshot(ident, None, None)
    run_metadata = _compose_metadata(
        ident, {"metadata": metadata, "payload": payload, "input": None}, snapshot
    )
    admitted = admission(
        idempotency_key,
        on_busy,
        {
            "kind": "handoff",
            "root_role_id": root_role_id,
            "handoff": handoff,
            "payload": payload,
            "metadata": metadata,
        },
    )
    run = _new_run(ident, root_role_id, "handoff", run_metadata, resolved, payload, None)

    def write(journal):
        parent = transitions.add_completed_step(
            journal,
            kind="handoff",
            role_id=root_role_id,
            output={"handoff": handoff["delegated_role_id"]},
        )
        child = record_handoff(journal, parent, handoff)
        journal.set_run(current_step_id=child.pk)
        if path := handler_path(resolved, child.kind):
            run_after_commit(journal, child, path)

    with tracing.span("scoria.start", run_id=run.pk, kind=handoff["delegated_kind"]):
        return _admitted_start(run, admitted, ident, write)


start_handoff_run = _summary_only(
    start_handoff_run_reporting,
    "start_handoff_run",
    """Start a run whose first step hands a bounded, validated context to another role.""",
)
