"""A ``SCORIA_TENANT_RESOLVER`` for the operator tests: ``ops@acme`` belongs to ``acme``.

Only the authenticated user decides the tenant; headers, query strings and bodies are
deliberately ignored, as a host resolver should.
"""


def tenant_from_username(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or "@" not in user.username:
        return None
    return user.username.split("@", 1)[1]
