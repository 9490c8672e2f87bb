"""The OpenAPI 3 schema of exactly the scoria routes, whatever else the host serves."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.views import SpectacularAPIView
from rest_framework.renderers import JSONRenderer

from .. import __version__
from .exceptions import exception_handler
from .metadata import RouteMetadata
from .permissions import IsAuthenticated
from .responses import error_responses
from .schema_shape import extend_operation


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
    metadata_class = RouteMetadata
    custom_settings = {
        "TITLE": "scoria_django API",
        "DESCRIPTION": "Durable AI-agent runs: start, inspect, resume, cancel, hand off.",
        "VERSION": __version__,
        "LICENSE": {"name": "MIT", "url": "https://opensource.org/license/mit"},
        # Relative: the host serving this document serves the paths (they carry the mount).
        "SERVERS": [{"url": "/", "description": "The host that serves this document."}],
        "PREPROCESSING_HOOKS": [f"{__name__}.scoria_endpoints_only"],
        # Not drf-spectacular's enum hook: it names components after field names, which
        # collide (three different ``status`` sets, two names for the handler kinds).
        "POSTPROCESSING_HOOKS": [f"{__package__}.schema_shape.shape_schema"],
    }

    @extend_operation(
        summary="This OpenAPI 3 document",
        description="YAML by default; JSON with ?format=json or an Accept header.",
        responses={
            **{
                (200, media_type): OpenApiTypes.OBJECT
                for media_type in (
                    "application/vnd.oai.openapi",
                    "application/yaml",
                    "application/vnd.oai.openapi+json",
                    "application/json",
                )
            },
            # An unknown ?format= is DRF's 404.
            **error_responses(401, 403, 404, media_type="application/json"),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_exception_handler(self):
        return exception_handler

    def handle_exception(self, exc):
        # Errors are JSON like everywhere else, not a YAML rendering of the error body.
        response = super().handle_exception(exc)
        self.request.accepted_renderer = JSONRenderer()
        self.request.accepted_media_type = JSONRenderer.media_type
        return response
