"""System checks with stable ids: see docs/checks.md.

Every ``SCORIA_*`` setting has a typed check here, and all of them run with a plain
``manage.py check`` (none needs ``--database``): a setup mistake is reported before the
first request, not as a run stranded in ``queued``.
"""

import math
import re

from django.conf import settings
from django.core import checks
from django.db import connections
from django.utils.module_loading import import_string

from .conf import DEFAULT_PROMPT_POLICY, scoria_settings

MIDDLEWARE_PATH = "scoria_django.middleware.ScoriaIdentityMiddleware"
PREREQUISITES = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
)
# Settings read as numbers: (name without SCORIA_, integer only).
NUMERIC_SETTINGS = (
    ("STEP_TIMEOUT", False),
    ("LEASE_SECONDS", False),
    ("MAX_ATTEMPTS", True),
    ("REQUEUE_AFTER", False),
    ("MAX_PAYLOAD_BYTES", True),
    ("MAX_CONTEXT_BYTES", True),
    ("MAX_DEPTH", True),
    ("API_PAGE_SIZE", True),
    ("API_MAX_PAGE_SIZE", True),
    ("MAX_STEPS_PER_RUN", True),
    ("STREAM_POLL_SECONDS", False),
    ("STREAM_HEARTBEAT_SECONDS", False),
    ("PROGRESS_MIN_INTERVAL", False),
)
# Numeric settings for which None means "no limit", and those for which 0 is allowed.
NULLABLE_SETTINGS = frozenset({"MAX_STEPS_PER_RUN"})
ZERO_ALLOWED = frozenset({"PROGRESS_MIN_INTERVAL"})
ON_BUSY = ("allow", "reject", "cancel_previous")
RUNTIME_DEFAULT_KEYS = ("provider", "model", "prompt_policy")


def _setting(name, default=None):
    return getattr(settings, f"SCORIA_{name}", default)


def _shown(value):
    return f"{value!r} ({type(value).__name__})"


@checks.register(checks.Tags.compatibility)
def check_middleware_order(app_configs=None, **kwargs):
    middleware = list(getattr(settings, "MIDDLEWARE", []) or [])
    if MIDDLEWARE_PATH not in middleware:
        return []
    position = middleware.index(MIDDLEWARE_PATH)
    errors = []
    for required in PREREQUISITES:
        if required not in middleware or middleware.index(required) > position:
            errors.append(
                checks.Error(
                    f"{MIDDLEWARE_PATH} must come after {required}.",
                    hint=f"Place {required} earlier in MIDDLEWARE.",
                    id="scoria.E001",
                )
            )
    return errors


def _routes_scoria(patterns):
    """True if any URL pattern (included ones too) serves a view of this package."""
    for pattern in patterns:
        nested = getattr(pattern, "url_patterns", None)
        if nested is not None:
            if _routes_scoria(nested):
                return True
            continue
        callback = getattr(pattern, "callback", None)
        view = getattr(callback, "cls", None) or getattr(callback, "view_class", None) or callback
        if getattr(view, "__module__", "").startswith("scoria_django."):
            return True
    return False


@checks.register(checks.Tags.urls)
def check_middleware_installed(app_configs=None, **kwargs):
    """The guide's views read ``request.scoria_identity``: routing scoria's pages without
    the middleware is a half-done installation."""
    from django.urls import get_resolver

    if MIDDLEWARE_PATH in list(getattr(settings, "MIDDLEWARE", []) or []):
        return []
    try:
        routed = _routes_scoria(get_resolver().url_patterns)
    except Exception:  # noqa: BLE001 - a broken URLconf is Django's own check to report
        return []
    if not routed:
        return []
    return [
        checks.Warning(
            f"scoria's views are routed but {MIDDLEWARE_PATH} is not in MIDDLEWARE.",
            hint="Add it after SessionMiddleware and AuthenticationMiddleware "
            "(docs/installation.md): without it request.scoria_identity does not exist and "
            "the session id of a browser is not kept.",
            id="scoria.W002",
        )
    ]


@checks.register()
def check_sqlite_transaction_mode(app_configs=None, databases=None, **kwargs):
    """Reads each database's settings only (no connection), so plain ``check`` runs it."""
    warnings = []
    for alias in databases or list(connections):
        connection = connections[alias]
        if connection.vendor != "sqlite":
            continue
        mode = (connection.settings_dict.get("OPTIONS") or {}).get("transaction_mode")
        if str(mode).upper() != "IMMEDIATE":
            warnings.append(
                checks.Warning(
                    f"Database {alias!r} is SQLite without OPTIONS['transaction_mode'] = "
                    "'IMMEDIATE'.",
                    hint="Concurrent writers then fail with 'database is locked' instead of "
                    "waiting their turn, and a start that loses the race strands its run "
                    f"until scoria_recover. Fix: DATABASES[{alias!r}]['OPTIONS'] = "
                    "{'transaction_mode': 'IMMEDIATE'}.",
                    id="scoria.W001",
                )
            )
    return warnings


@checks.register()
def check_handlers_import(app_configs=None, **kwargs):
    from .exceptions import HandlerNotFound
    from .runtime.handlers import dotted_path

    handlers = _setting("HANDLERS", {}) or {}
    if not isinstance(handlers, dict):
        return [
            checks.Error(
                f"SCORIA_HANDLERS must be a dict of kind -> dotted path, not {_shown(handlers)}.",
                id="scoria.E002",
            )
        ]
    errors = []
    for kind, path in handlers.items():
        if not isinstance(kind, str) or not kind.strip():
            errors.append(
                checks.Error(
                    f"SCORIA_HANDLERS has a key {_shown(kind)}: step kinds are non-blank strings.",
                    id="scoria.E002",
                )
            )
            continue
        try:
            dotted_path(path, kind)
        except HandlerNotFound as exc:
            errors.append(
                checks.Error(
                    f"SCORIA_HANDLERS[{kind!r}]: {exc.detail}",
                    hint="Fix the path if it is misspelt, or the error inside the module; a "
                    "handler is a module-level callable.",
                    id="scoria.E003",
                )
            )
    return errors


def _positive(value, integer):
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if integer and not isinstance(value, int):
        return False
    return math.isfinite(value) and value > 0


@checks.register()
def check_numeric_settings(app_configs=None, **kwargs):
    errors = []
    for name, integer in NUMERIC_SETTINGS:
        if not hasattr(settings, f"SCORIA_{name}"):
            continue
        value = _setting(name)
        if value is None and name in NULLABLE_SETTINGS:
            continue
        if value == 0 and name in ZERO_ALLOWED and not isinstance(value, bool):
            continue
        if not _positive(value, integer):
            kind = "integer" if integer else "number"
            errors.append(
                checks.Error(
                    f"SCORIA_{name} must be a positive {kind}, not {_shown(value)}.",
                    id="scoria.E004",
                )
            )
    return errors


def _callable_path_problem(path):
    """Why a dotted path does not give a callable, or None when it does."""
    from .runtime.handlers import import_failure

    if not isinstance(path, str) or not path.strip():
        return f"{_shown(path)} is not a dotted path"
    try:
        found = import_string(path)
    except Exception as exc:  # noqa: BLE001 - any import failure is the host's to see
        return import_failure(path, exc)
    return None if callable(found) else "it does not name a callable"


def _callable_setting(name, signature, check_id):
    """The error for a ``SCORIA_<name>`` dotted path that does not give a callable."""
    path = _setting(name)
    if not path:
        return []
    problem = _callable_path_problem(path)
    if problem is None:
        return []
    return [
        checks.Error(
            f"SCORIA_{name} {path!r} is not usable: {problem}.",
            hint=f"Use the dotted path of a module-level {signature}.",
            id=check_id,
        )
    ]


@checks.register()
def check_tenant_resolver(app_configs=None, **kwargs):
    """A resolver that does not import would turn every request that reads the identity
    (and every operator page) into a 500, so it is reported at startup instead."""
    return _callable_setting("TENANT_RESOLVER", "callable(request) -> str | None", "scoria.E005")


def _task_backend():
    """(alias, backend or None, error message or None) for ``SCORIA_TASK_BACKEND``."""
    from .compat import task_backends

    alias = _setting("TASK_BACKEND", "default")
    if not isinstance(alias, str) or not alias:
        return alias, None, f"SCORIA_TASK_BACKEND must be a TASKS alias, not {_shown(alias)}."
    configured = task_backends.settings
    if alias not in configured:
        return (
            alias,
            None,
            f"SCORIA_TASK_BACKEND {alias!r} is not an alias in TASKS "
            f"(configured: {', '.join(sorted(configured)) or 'none'}).",
        )
    try:
        return alias, task_backends[alias], None
    except Exception as exc:  # noqa: BLE001 - a backend that cannot load is the finding
        return alias, None, f"TASKS[{alias!r}] (SCORIA_TASK_BACKEND) does not load: {exc}"


@checks.register()
def check_task_backend(app_configs=None, **kwargs):
    """An unknown backend or queue would fail every enqueue after the start's commit,
    leaving each new step ``queued`` with only a log line."""
    alias, backend, problem = _task_backend()
    if problem:
        return [
            checks.Error(
                problem,
                hint="Name an alias of settings.TASKS (the default is 'default').",
                id="scoria.E006",
            )
        ]
    queue = _setting("TASK_QUEUE", "default")
    if not isinstance(queue, str) or not queue:
        return [
            checks.Error(
                f"SCORIA_TASK_QUEUE must be a non-blank string, not {_shown(queue)}.",
                id="scoria.E007",
            )
        ]
    queues = getattr(backend, "queues", None)
    if queues and queue not in queues:
        return [
            checks.Error(
                f"SCORIA_TASK_QUEUE {queue!r} is not a queue of TASKS[{alias!r}] "
                f"(QUEUES: {', '.join(sorted(queues))}).",
                hint=f"Add {queue!r} to TASKS[{alias!r}]['QUEUES'] or use one of its queues.",
                id="scoria.E007",
            )
        ]
    return []


def _runtime_defaults_problems(value):
    if not isinstance(value, dict):
        return [f"it must be a dict, not {_shown(value)}"]
    problems = [f"unknown key {key!r}" for key in value if key not in RUNTIME_DEFAULT_KEYS]
    for key in ("provider", "model"):
        if key in value and (not isinstance(value[key], str) or not value[key].strip()):
            problems.append(f"{key} must be a non-blank string")
    policy = value.get("prompt_policy")
    if policy is None:
        return problems
    if not isinstance(policy, dict):
        return [*problems, "prompt_policy must be a dict"]
    for key, item in policy.items():
        if key not in DEFAULT_PROMPT_POLICY:
            problems.append(f"unknown prompt_policy key {key!r}")
        elif isinstance(DEFAULT_PROMPT_POLICY[key], bool) and not isinstance(item, bool):
            problems.append(f"prompt_policy.{key} must be True or False")
        elif key == "metadata" and not isinstance(item, dict):
            problems.append("prompt_policy.metadata must be a dict")
    return problems


@checks.register()
def check_runtime_defaults(app_configs=None, **kwargs):
    value = _setting("RUNTIME_DEFAULTS")
    if value is None:
        return []
    problems = _runtime_defaults_problems(value)
    if not problems:
        return []
    return [
        checks.Error(
            f"SCORIA_RUNTIME_DEFAULTS: {'; '.join(problems)}.",
            hint="Keys: provider, model, prompt_policy (docs/settings.md).",
            id="scoria.E008",
        )
    ]


@checks.register()
def check_defaults_resolver(app_configs=None, **kwargs):
    return _callable_setting(
        "DEFAULTS_RESOLVER", "callable(identity) -> dict | None", "scoria.E009"
    )


@checks.register()
def check_session_key(app_configs=None, **kwargs):
    value = _setting("SESSION_KEY", "scoria_session_id")
    if isinstance(value, str) and value.strip():
        return []
    return [
        checks.Error(
            f"SCORIA_SESSION_KEY must be a non-blank string, not {_shown(value)}.",
            id="scoria.E010",
        )
    ]


def _string_list_problem(name):
    value = _setting(name, ())
    if not isinstance(value, list | tuple):
        return f"SCORIA_{name} must be a list of strings, not {_shown(value)}."
    bad = [item for item in value if not isinstance(item, str) or not item.strip()]
    if bad:
        return f"SCORIA_{name} holds {_shown(bad[0])}: every item is a non-blank string."
    return None


@checks.register()
def check_redacted_keys(app_configs=None, **kwargs):
    problem = _string_list_problem("REDACTED_KEYS")
    if problem is None:
        return []
    return [checks.Error(problem, hint='For example ["ssn", "stripe_key"].', id="scoria.E011")]


@checks.register()
def check_redaction_patterns(app_configs=None, **kwargs):
    problem = _string_list_problem("REDACTION_PATTERNS")
    if problem:
        return [checks.Error(problem, id="scoria.E012")]
    errors = []
    for pattern in scoria_settings.REDACTION_PATTERNS:
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            errors.append(
                checks.Error(
                    f"SCORIA_REDACTION_PATTERNS {pattern!r} is not a regular expression: {exc}.",
                    id="scoria.E012",
                )
            )
            continue
        if compiled.match(""):
            errors.append(
                checks.Error(
                    f"SCORIA_REDACTION_PATTERNS {pattern!r} matches the empty string.",
                    hint="It would insert [redacted] between every character.",
                    id="scoria.E012",
                )
            )
    return errors


@checks.register()
def check_approval_policy(app_configs=None, **kwargs):
    """A policy that does not import would refuse every decision at run time."""
    return _callable_setting(
        "APPROVAL_POLICY", "callable(approval, identity) -> bool", "scoria.E013"
    )


@checks.register()
def check_session_concurrency(app_configs=None, **kwargs):
    value = _setting("SESSION_CONCURRENCY")
    if value is None or value in ON_BUSY:
        return []
    return [
        checks.Error(
            f"SCORIA_SESSION_CONCURRENCY must be one of {', '.join(ON_BUSY)}, not {_shown(value)}.",
            id="scoria.E014",
        )
    ]


def _model_prices_problem(value):
    if not isinstance(value, dict):
        return f"SCORIA_MODEL_PRICES must be a dict of model name to prices, not {_shown(value)}."
    for model, price in value.items():
        if not isinstance(model, str) or not isinstance(price, dict):
            return f"SCORIA_MODEL_PRICES[{model!r}] must map a model name to a dict of prices."
        unknown = sorted(set(price) - {"input", "output"})
        if unknown:
            return f"SCORIA_MODEL_PRICES[{model!r}] has unknown keys {unknown}."
        for side, amount in price.items():
            if isinstance(amount, bool) or not isinstance(amount, int | float) or amount < 0:
                return f"SCORIA_MODEL_PRICES[{model!r}][{side!r}] must be a number >= 0."
    return None


@checks.register()
def check_model_prices(app_configs=None, **kwargs):
    """Prices per million tokens; a wrong shape would break every priced usage read."""
    value = _setting("MODEL_PRICES")
    problem = None if value is None else _model_prices_problem(value)
    if problem is None:
        return []
    hint = 'For example {"openai:gpt-4o": {"input": 2.5, "output": 10.0}} (per million tokens).'
    return [checks.Error(problem, hint=hint, id="scoria.E015")]
