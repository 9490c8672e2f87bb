"""Mount with ``path("api/scoria/", include("scoria_django.api.urls"))``."""

from django.http import JsonResponse
from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from .exceptions import NOT_FOUND
from .schema import SchemaView
from .stream import RunStreamView
from .views import ApiRootView, ApprovalViewSet, HandoffViewSet, RunViewSet, SessionRunsView


def unknown_route(request, *args, **kwargs):
    """Anything else under the mount point: the API's JSON 404, never the host's HTML page."""
    return JsonResponse(NOT_FOUND, status=404, json_dumps_params={"separators": (",", ":")})


app_name = "scoria_api"

router = SimpleRouter()
router.register("runs", RunViewSet, basename="run")
router.register("handoffs", HandoffViewSet, basename="handoff")
router.register("approvals", ApprovalViewSet, basename="approval")

urlpatterns = [
    path("", ApiRootView.as_view(), name="root"),
    path("runs/<str:run_id>/stream/", RunStreamView.as_view(), name="run-stream"),
    *router.urls,
    path("sessions/<str:session_id>/runs/", SessionRunsView.as_view(), name="session-runs"),
    path("schema/", SchemaView.as_view(), name="schema"),
    re_path(r"^.*$", unknown_route, name="unknown"),
]
