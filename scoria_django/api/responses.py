"""The documented error responses: every one is ``ErrorSerializer`` JSON."""

from drf_spectacular.utils import OpenApiResponse

from .serializers import ErrorSerializer

DESCRIPTIONS = {
    400: "Invalid input, filter, cursor or JSON body (code names the problem).",
    401: "Not authenticated, with a challenge (when the first authentication class sends one).",
    403: (
        "Not authenticated (no challenge), without the permission, CSRF failed, or the "
        "approval policy refused the decision (approval_not_allowed)."
    ),
    404: (
        "No such run or approval visible to the caller (unknown and other-tenant ids look alike)."
    ),
    409: "The run's current status does not allow this (not_resumable, ...).",
    413: "The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE.",
    415: "The body is not application/json.",
}


def error_responses(*codes, media_type=None):
    """``extend_schema`` responses for ``codes``; keyed by (code, media type) when given."""
    response = {
        code: OpenApiResponse(ErrorSerializer, description=DESCRIPTIONS[code]) for code in codes
    }
    if media_type is None:
        return response
    return {(code, media_type): value for code, value in response.items()}
