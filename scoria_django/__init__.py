"""scoria_django: durable AI-agent runs for Django.

``import scoria_django as scoria`` gives the facade. Names load lazily, so importing
the package loads no models and can happen before Django is set up.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

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
    # approvals
    "approve": "runtime.approvals",
    "reject": "runtime.approvals",
    "list_approvals": "runtime.approvals",
    "get_approval": "runtime.approvals",
    # handler outcomes
    "complete": "outcomes",
    "wait_for_approval": "outcomes",
    "wait_for_approvals": "outcomes",
    "approval_request": "outcomes",
    "fail": "outcomes",
    "retry_later": "outcomes",
    # execution policies
    "RetryPolicy": "policies",
    "handler": "policies",
    "handoff": "outcomes",
    # read values
    "RunSummary": "records",
    "RunDetail": "records",
    "ApprovalSummary": "records",
    "RunStatus": "states",
    "ApprovalStatus": "states",
    "StepStatus": "states",
    # errors
    "ScoriaError": "exceptions",
    "ScoriaValidationError": "exceptions",
    "ScoriaNotFound": "exceptions",
    "ScoriaConflict": "exceptions",
    "ScoriaConfigurationError": "exceptions",
    "ScoriaPermissionDenied": "exceptions",
}

__all__ = sorted(_EXPORTS)

# ``identity`` is both a submodule and a facade function: importing the submodule (the
# middleware does) would bind the package attribute to the module and hide the lazy
# lookup below. Importing it here (no models, safe before setup) keeps the function.
from .identity import Identity as Identity  # noqa: E402
from .identity import identity as identity  # noqa: E402

if TYPE_CHECKING:
    # What the lazy lookup returns, spelled out for type checkers (never imported at runtime);
    # "name as name" marks each as re-exported.
    from .exceptions import ScoriaConfigurationError as ScoriaConfigurationError
    from .exceptions import ScoriaConflict as ScoriaConflict
    from .exceptions import ScoriaError as ScoriaError
    from .exceptions import ScoriaNotFound as ScoriaNotFound
    from .exceptions import ScoriaPermissionDenied as ScoriaPermissionDenied
    from .exceptions import ScoriaValidationError as ScoriaValidationError
    from .outcomes import approval_request as approval_request
    from .outcomes import complete as complete
    from .outcomes import fail as fail
    from .outcomes import handoff as handoff
    from .outcomes import retry_later as retry_later
    from .outcomes import wait_for_approval as wait_for_approval
    from .outcomes import wait_for_approvals as wait_for_approvals
    from .policies import RetryPolicy as RetryPolicy
    from .policies import handler as handler
    from .records import ApprovalSummary as ApprovalSummary
    from .records import RunDetail as RunDetail
    from .records import RunSummary as RunSummary
    from .runtime.approvals import approve as approve
    from .runtime.approvals import get_approval as get_approval
    from .runtime.approvals import list_approvals as list_approvals
    from .runtime.approvals import reject as reject
    from .runtime.control import cancel_run as cancel_run
    from .runtime.control import resume_run as resume_run
    from .runtime.reads import get_run as get_run
    from .runtime.reads import get_run_detail as get_run_detail
    from .runtime.reads import list_runs_for_session as list_runs_for_session
    from .runtime.start import start_handoff_run as start_handoff_run
    from .runtime.start import start_run as start_run
    from .states import ApprovalStatus as ApprovalStatus
    from .states import RunStatus as RunStatus
    from .states import StepStatus as StepStatus


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'scoria_django' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
