"""scoria_django: durable AI-agent runs for Django.

``import scoria_django as scoria`` gives the facade. Names load lazily, so importing
the package loads no models and can happen before Django is set up.
"""

from importlib import import_module

__version__ = "0.1.0.dev0"

_EXPORTS = {
    # identity
    "identity": "identity",
    "Identity": "identity",
    # runtime
    "start_run": "runtime.start",
    "start_handoff_run": "runtime.start",
    "get_run": "runtime.reads",
    "list_runs_for_session": "runtime.reads",
    "get_run_detail": "runtime.reads",
    "resume_run": "runtime.control",
    "cancel_run": "runtime.control",
    # handler outcomes
    "complete": "outcomes",
    "wait_for_approval": "outcomes",
    "fail": "outcomes",
    "handoff": "outcomes",
    # read values
    "RunSummary": "records",
    "RunDetail": "records",
    "RunStatus": "states",
    "StepStatus": "states",
    # errors
    "ScoriaError": "exceptions",
    "ScoriaValidationError": "exceptions",
    "ScoriaNotFound": "exceptions",
    "ScoriaConflict": "exceptions",
    "ScoriaConfigurationError": "exceptions",
}

__all__ = sorted(_EXPORTS)

# ``identity`` is both a submodule and a facade function: importing the submodule (the
# middleware does) would bind the package attribute to the module and hide the lazy
# lookup below. Importing it here (no models, safe before setup) keeps the function.
from .identity import Identity, identity  # noqa: E402, F401


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scoria_django' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
