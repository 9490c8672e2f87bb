"""System checks with stable ids: see docs/checks.md."""

from django.conf import settings
from django.core import checks
from django.db import connections

from .conf import scoria_settings

MIDDLEWARE_PATH = "scoria_django.middleware.ScoriaIdentityMiddleware"
PREREQUISITES = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
)


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


@checks.register(checks.Tags.database)
def check_sqlite_transaction_mode(app_configs=None, databases=None, **kwargs):
    warnings = []
    for alias in databases or []:
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
                    "waiting their turn. Set OPTIONS={'transaction_mode': 'IMMEDIATE'}.",
                    id="scoria.W001",
                )
            )
    return warnings


@checks.register()
def check_handlers_import(app_configs=None, **kwargs):
    from .exceptions import HandlerNotFound
    from .runtime.handlers import dotted_path

    handlers = getattr(settings, "SCORIA_HANDLERS", {}) or {}
    if not isinstance(handlers, dict):
        return [
            checks.Error("SCORIA_HANDLERS must be a dict of kind -> dotted path.", id="scoria.E002")
        ]
    errors = []
    for kind, path in handlers.items():
        try:
            dotted_path(path, kind)
        except HandlerNotFound as exc:
            errors.append(
                checks.Error(
                    f"SCORIA_HANDLERS[{kind!r}]: {exc.detail}",
                    hint="Use the dotted path of a module-level callable.",
                    id="scoria.E003",
                )
            )
    return errors


@checks.register()
def check_numeric_settings(app_configs=None, **kwargs):
    errors = []
    names = (
        "STEP_TIMEOUT",
        "LEASE_SECONDS",
        "MAX_ATTEMPTS",
        "REQUEUE_AFTER",
        "STREAM_POLL_SECONDS",
        "STREAM_HEARTBEAT_SECONDS",
    )
    for name in names:
        try:
            value = getattr(scoria_settings, name)
        except (TypeError, ValueError):
            value = None
        if value is None or value <= 0:
            errors.append(
                checks.Error(f"SCORIA_{name} must be a positive number.", id="scoria.E004")
            )
    return errors


@checks.register()
def check_tenant_resolver(app_configs=None, **kwargs):
    """A resolver that does not import would turn every request that reads the identity
    (and every operator page) into a 500, so it is reported at startup instead."""
    from django.utils.module_loading import import_string

    path = scoria_settings.TENANT_RESOLVER
    if not path:
        return []
    try:
        resolver = import_string(path) if isinstance(path, str) else None
    except ImportError as exc:
        resolver, reason = None, str(exc)
    else:
        reason = "it does not name a callable"
    if callable(resolver):
        return []
    return [
        checks.Error(
            f"SCORIA_TENANT_RESOLVER {path!r} is not usable: {reason}.",
            hint="Use the dotted path of a module-level callable(request) -> str | None.",
            id="scoria.E005",
        )
    ]
