"""What the API tests share: a tenant resolver and the people of the permission matrix.

``acme.alice`` belongs to tenant ``acme``: only the authenticated user's name decides
the tenant, never a header, query parameter or body field.
"""

from types import SimpleNamespace

from django.contrib.auth.models import Permission, User
from rest_framework.test import APIClient

TENANT_RESOLVER = "tests.api_support.tenant_of_user"
PASSWORD = "pw-for-tests"


def tenant_of_user(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    tenant, dot, _ = user.get_username().partition(".")
    return tenant if dot else None


def make_user(username, *, perms=(), **flags):
    user = User.objects.create_user(username, password=PASSWORD, **flags)
    if perms:
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label="scoria_django", codename__in=perms)
        )
    return User.objects.get(pk=user.pk)  # fresh: no stale permission cache


def people():
    """The matrix: a member with the run permissions, one without, another tenant, staff."""
    both = ("resume_run", "cancel_run")
    return SimpleNamespace(
        member=make_user("acme.alice", perms=both),
        no_perm=make_user("acme.bob"),
        other_tenant=make_user("globex.carol", perms=both),
        staff=make_user("root", is_staff=True),
    )


def client_for(user=None, **kwargs):
    client = APIClient(**kwargs)
    if user is not None:
        client.force_authenticate(user)
    return client
