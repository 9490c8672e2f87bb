"""SCORIA_TENANT_RESOLVER for the benchmarks: every request belongs to the bench tenant."""

TENANT = "bench-tenant"


def tenant(request):
    return TENANT
