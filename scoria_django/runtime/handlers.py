"""Handler mappings: resolved to dotted paths before any write, imported when a step runs."""

import sys

from django.utils.module_loading import import_string

from ..conf import scoria_settings
from ..exceptions import HandlerNotFound, InvalidOption
from ..names import MAX_KIND_LENGTH, check_text, is_name
from ..redaction import redact_text


def import_failure(path, exc):
    """Why ``import_string(path)`` failed, in words that tell a typo from a broken module.

    A module that is not there (``myapp.handlerz``) is a typo in the path; a module that is
    there but raises while importing (a missing dependency, a ``NameError``) is a bug in
    that module, and its own error is quoted.
    """
    module, _, attribute = path.rpartition(".")
    if not module:
        return f"{path!r} is not a dotted path (module.attribute)"
    if isinstance(exc, ModuleNotFoundError) and exc.name is not None:
        if module == exc.name or module.startswith(f"{exc.name}."):
            return f"no module named {exc.name!r} (is the path {path!r} spelled right?)"
        return f"module {module!r} fails to import: ModuleNotFoundError: {redact_text(str(exc))}"
    if isinstance(exc, ImportError) and str(exc).startswith(f'Module "{module}" does not define'):
        return f"module {module!r} has no attribute {attribute!r}"
    # The module's own message may quote a connection string or a key: shown redacted.
    return f"module {module!r} fails to import: {type(exc).__name__}: {redact_text(str(exc))}"


def dotted_path(handler, kind):
    """The importable dotted path of ``handler`` (a callable or a path), checked now."""
    if isinstance(handler, str):
        path = check_text(handler, field=f"handlers.{kind}", error=InvalidOption)
    elif callable(handler):
        path = _path_of(handler)
    else:
        raise HandlerNotFound(
            f"handler for kind {kind!r} is neither callable nor a path", field=f"handlers.{kind}"
        )
    try:
        imported = import_string(path)
    except Exception as exc:  # noqa: BLE001 - a module may raise anything while importing
        reason = import_failure(path, exc)
        if not isinstance(handler, str):
            reason += (
                "; a worker process must be able to import the handler, so lambdas and "
                "closures cannot be handlers"
            )
        raise HandlerNotFound(
            f"handler for kind {kind!r} does not import from {path!r}: {reason}",
            field=f"handlers.{kind}",
        ) from None
    if not callable(imported) or (callable(handler) and imported is not handler):
        raise HandlerNotFound(
            f"{path!r} does not name the handler for kind {kind!r}", field=f"handlers.{kind}"
        )
    return path


def _path_of(handler):
    """``module.qualname``; for a handler a factory made (``agent_handler(...)``: a closure,
    or an object without a qualname), the module-level name it is assigned to in the module
    it names as its ``__module__``."""
    module = getattr(handler, "__module__", None) or ""
    qualname = getattr(handler, "__qualname__", None) or ""
    if qualname and "<locals>" not in qualname:
        return f"{module}.{qualname}"
    namespace = getattr(sys.modules.get(module), "__dict__", {})
    for name, value in namespace.items():
        if value is handler:
            return f"{module}.{name}"
    return f"{module}.{qualname}"


def resolve_handlers(handlers):
    """Validate a ``{kind: callable | dotted path}`` mapping into ``{kind: dotted path}``."""
    if handlers is None:
        return {}
    if not isinstance(handlers, dict):
        raise InvalidOption("handlers must be a mapping of step kind to handler", field="handlers")
    resolved = {}
    for kind, handler in handlers.items():
        if not is_name(kind, MAX_KIND_LENGTH):
            raise InvalidOption(
                f"handler kinds must be non-blank strings of at most {MAX_KIND_LENGTH} "
                "characters, without NUL or lone surrogates",
                field="handlers",
            )
        resolved[kind] = dotted_path(handler, kind)
    return resolved


def handler_path(run_handlers, kind):
    """The handler path for ``kind``: the run's own mapping first, then ``SCORIA_HANDLERS``."""
    return (run_handlers or {}).get(kind) or scoria_settings.HANDLERS.get(kind)


def load_handler(path):
    return import_string(path)
