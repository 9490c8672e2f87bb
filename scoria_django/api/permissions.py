"""Permission classes set explicitly on every view: a host default of AllowAny opens nothing."""

from rest_framework.permissions import BasePermission, IsAuthenticated

__all__ = ["CanCancelRun", "CanDecideApproval", "CanResumeRun", "IsAuthenticated"]


class HasModelPermission(BasePermission):
    """The authenticated user holds ``perm`` (superusers hold every permission)."""

    perm = ""
    code = "permission_denied"

    @property
    def message(self):
        return f"This action needs the {self.perm} permission."

    def has_permission(self, request, view):
        user = request.user
        return bool(user and user.is_authenticated and user.has_perm(self.perm))


class CanResumeRun(HasModelPermission):
    perm = "scoria_django.resume_run"


class CanCancelRun(HasModelPermission):
    perm = "scoria_django.cancel_run"


class CanDecideApproval(HasModelPermission):
    perm = "scoria_django.decide_approval"
