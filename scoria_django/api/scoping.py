"""Who is asking, and which runs they may see: identity and tenant from the DRF user.

The tenant comes only from ``SCORIA_TENANT_RESOLVER``, called with the DRF request (so
token and session clients alike resolve through their authenticated user); never from
a header, query parameter or body field. A caller without a tenant sees only the runs
stored without one. Staff get no bypass: operators use the admin evidence pages.
"""

from collections.abc import Callable

from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request

from ..exceptions import NotFound
from ..identity import Identity, session_id_for, tenant_id_for
from ..records import ApprovalSummary, RunDetail, RunSummary

_TENANT_ATTR = "_scoria_api_tenant"


def request_tenant(request):
    """The caller's tenant id (normalised like every identity id), resolved once per request."""
    if not hasattr(request, _TENANT_ATTR):
        # The identity rule, so a resolver may return an id, a pk or an object.
        setattr(request, _TENANT_ATTR, tenant_id_for(request))
    return getattr(request, _TENANT_ATTR)


def request_identity(request: Request) -> Identity:
    """The identity writes are made under: actor from DRF's ``request.user``.

    Not ``Identity.from_request``: the middleware's identity is built from the Django
    request's user, which is anonymous for a token client.
    """
    return Identity.from_user(
        request.user,
        tenant_id=request_tenant(request),
        session_id=request_session_id(request),
    )


def request_session_id(request: Request) -> str | None:
    """A browser (session-authenticated) client's conversation id, created on first use.

    Other clients (token, Basic) keep no cookie: minting an id for them would start a new
    "conversation" and store a new Django session on every request, so they only reuse
    an id their Django session already holds.
    """
    browser = isinstance(request.successful_authenticator, SessionAuthentication)
    return session_id_for(request, create=browser)


def visible_runs(request):
    from ..models import Run

    return Run.objects.for_tenant(request_tenant(request))


def visible_approvals(request):
    from ..models import Approval

    return Approval.objects.for_tenant(request_tenant(request))


def visible[Read: (RunSummary, RunDetail, ApprovalSummary)](
    request, read: Callable[[str], Read], run_id: str
) -> Read:
    """``read(run_id)``, a facade read, if the run (or approval) is the caller's tenant's;
    ``not_found`` otherwise: unknown, malformed and foreign ids look the same."""
    value = read(run_id)
    summary = value.summary if isinstance(value, RunDetail) else value
    if summary.tenant_id != request_tenant(request):
        raise NotFound()
    return value
