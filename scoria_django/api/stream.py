"""``GET runs/<run_id>/stream/``: a run's events as Server-Sent Events.

The request is checked like every API read (authentication, the caller's tenant, the
same 404 for unknown and foreign runs), in DRF on a thread; the stream itself is
``streaming.sse``: under ASGI an async iterator that holds no thread while it waits, under
WSGI a blocking iterator that holds its worker thread for as long as the run lasts.
"""

from functools import update_wrapper

from asgiref.sync import sync_to_async
from django.db import transaction
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from ..runtime.reads import get_run
from ..streaming.sse import event_stream_response, no_content, nothing_left, parse_position
from .responses import error_responses
from .schema_shape import extend_operation
from .scoping import visible
from .serializers import EventSerializer
from .views import READ_ERRORS, RUN_ID, ScoriaAPIMixin


class StreamNegotiation(BaseContentNegotiation):
    """The stream is ``text/event-stream`` whatever the ``Accept`` header says (an
    EventSource sends ``Accept: text/event-stream``); errors are the API's JSON."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def stream_position(request) -> int:
    """The last sequence the client has (``streaming.sse.parse_position``), or a 400."""
    header = request.headers.get("Last-Event-ID")
    position = parse_position(header, request.query_params.get("after"))
    if position is None:
        field = "Last-Event-ID" if header is not None else "after"
        raise exceptions.ValidationError(
            {field: [f"{field} must be an event sequence (a non-negative integer)."]},
            code="invalid_event_id",
        )
    return position


def render_event(row) -> str:
    """The event exactly as ``runs/<run_id>/events/`` renders it."""
    return JSONRenderer().render(EventSerializer(row).data).decode()


STREAM_DESCRIPTION = """\
Server-Sent Events: one message per event of the run, in sequence order, each with
`id:` the event's sequence, `event:` its type and `data:` the event as `events/` renders
it. Starts after the `Last-Event-ID` request header (an integer; sent by an EventSource
when it reconnects, and winning over `after`) or `?after=`, so a client resuming gets every
later event once. A comment line (`: heartbeat`) is sent
while idle; the stream ends once the run is completed, failed or cancelled and its last
event is sent. 204 when the run has ended and the client already has every event.
Under WSGI each open stream holds a worker thread; serve it with an ASGI server."""


# Each message of the stream (comment lines aside), as a client's SSE parser gives it.
SSE_MESSAGE = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": "^[0-9]+$", "description": "The event's sequence."},
        "event": {"type": "string", "description": "The event's type."},
        "data": {
            "type": "string",
            "description": "The event row as a JSON document (application/json), as "
            "runs/<run_id>/events/ renders it.",
        },
    },
    "required": ["id", "event", "data"],
}


class RunStreamView(ScoriaAPIMixin, APIView):
    content_negotiation_class = StreamNegotiation

    @extend_operation(
        summary="Stream a run's events (Server-Sent Events)",
        description=STREAM_DESCRIPTION,
        parameters=[
            RUN_ID,
            OpenApiParameter(
                "after",
                OpenApiTypes.INT,
                OpenApiParameter.QUERY,
                description="Stream the events after this sequence (default 0: all).",
            ),
        ],
        responses={
            (200, "text/event-stream"): OpenApiResponse(
                SSE_MESSAGE, description="The event stream: one message per event."
            ),
            (204, "text/event-stream"): OpenApiResponse(
                description="The run has ended and every event was already received."
            ),
            **error_responses(*READ_ERRORS, media_type="application/json"),
        },
    )
    def get(self, request, run_id=None):
        run = visible(request, get_run, run_id)
        after = stream_position(request)
        if nothing_left(run.run_id, run.status, after):
            return no_content()
        return event_stream_response(request._request, run.run_id, after, render=render_event)

    @classmethod
    def as_view(cls, **initkwargs):
        """An async view: the checks above run on a thread, the stream on the event loop."""
        view = transaction.non_atomic_requests(super().as_view(**initkwargs))
        checked = sync_to_async(view)

        async def stream_view(request, *args, **kwargs):
            return await checked(request, *args, **kwargs)

        # Keeps ``cls`` and ``initkwargs`` (the schema reads them), ``csrf_exempt`` and the
        # ``non_atomic_requests`` mark: an async view cannot run in ATOMIC_REQUESTS.
        update_wrapper(stream_view, view)
        return stream_view
