"""Who is asking, and which runs they may see: identity and tenant from the DRF user.

The tenant comes only from ``SCORIA_TENANT_RESOLVER``, called with the DRF request (so
token and session clients alike resolve through their authenticated user); never from
a header, query parameter or body field. A caller without a tenant sees only the runs
stored without one. Staff get no bypass: operators use the admin evidence pages.
"""

from rest_framework.authentication import SessionAuthentication

from ..conf import scoria_settings
from ..exceptions import NotFound
from ..identity import identity
from ..ids import parse_uuid
from ..middleware import session_id_for, tenant_id_for

_TENANT_ATTR = "_scoria_api_tenant"


def request_tenant(request):
    """The caller's tenant id (normalised like every identity id), resolved once per request."""
    if not hasattr(request, _TENANT_ATTR):
        # The middleware's rule, so a resolver may return an id, a pk or an object.
        setattr(request, _TENANT_ATTR, tenant_id_for(request))
    return getattr(request, _TENANT_ATTR)


def request_identity(request):
    """The identity writes are made under: actor from ``request.user``, session from the session."""
    user = request.user
    return identity(
        {
            "actor_id": user.pk if user.is_authenticated else None,
            "tenant_id": request_tenant(request),
            "session_id": request_session_id(request),
        }
    )


def request_session_id(request):
    """A browser (session-authenticated) client's conversation id, created on first use.

    Other clients (token, Basic) keep no cookie: minting an id for them would start a new
    "conversation" and store a new Django session on every request, so they only reuse
    an id their Django session already holds.
    """
    if isinstance(request.successful_authenticator, SessionAuthentication):
        return session_id_for(request)
    session = getattr(request, "session", None)
    return session.get(scoria_settings.SESSION_KEY) if session is not None else None


def visible_runs(request):
    from ..models import Run

    return Run.objects.for_tenant(request_tenant(request))


def visible_run(request, run_id):
    """The caller's run, or ``not_found``: unknown, malformed and foreign ids look the same."""
    from ..models import Run

    pk = parse_uuid(run_id)
    if pk is None:
        raise NotFound()
    try:
        # ``get()``: a primary-key lookup needs no ORDER BY (``first()`` would add one).
        return visible_runs(request).get(pk=pk)
    except Run.DoesNotExist:
        raise NotFound() from None
