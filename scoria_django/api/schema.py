"""The OpenAPI 3 schema of exactly the scoria routes, whatever else the host serves."""

from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from .. import __version__
from .exceptions import exception_handler
from .permissions import IsAuthenticated


def scoria_endpoints_only(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: keep the views of this package, drop the host's."""
    return [
        endpoint
        for endpoint in endpoints
        if getattr(endpoint[3], "cls", None) is not None
        and endpoint[3].cls.__module__.startswith(__package__)
    ]


class SchemaView(SpectacularAPIView):
    permission_classes = [IsAuthenticated]
    custom_settings = {
        "TITLE": "scoria_django API",
        "DESCRIPTION": "Durable AI-agent runs: start, inspect, resume, cancel, hand off.",
        "VERSION": __version__,
        "PREPROCESSING_HOOKS": [f"{__name__}.scoria_endpoints_only"],
        # Enums stay inline: the default hook would name components per field name and
        # collide (three different ``status`` sets, two names for the handler kinds).
        "POSTPROCESSING_HOOKS": [],
    }

    def get_exception_handler(self):
        return exception_handler

    def handle_exception(self, exc):
        # Errors are JSON like everywhere else, not a YAML rendering of the error body.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
