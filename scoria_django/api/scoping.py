"""Who is asking, and which runs they may see: identity and tenant from the DRF user.

The tenant comes only from ``SCORIA_TENANT_RESOLVER``, called with the DRF request (so
token and session clients alike resolve through their authenticated user); never from
a header, query parameter or body field. A caller without a tenant sees only the runs
stored without one. Staff get no bypass: operators use the admin evidence pages.
"""

from ..exceptions import NotFound
from ..identity import identity
from ..ids import parse_uuid
from ..middleware import build_identity, tenant_for

_TENANT_ATTR = "_scoria_api_tenant"


def request_tenant(request):
    """The caller's tenant id (normalised like every identity id), resolved once per request."""
    if not hasattr(request, _TENANT_ATTR):
        setattr(request, _TENANT_ATTR, identity(tenant_id=tenant_for(request)).tenant_id)
    return getattr(request, _TENANT_ATTR)


def request_identity(request):
    """The identity writes are made under: actor from ``request.user``, session from the session."""
    return build_identity(request, user=request.user)


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
