"""Live event streams of runs (Server-Sent Events), for the API and the operator pages.

``sse`` turns a run's timeline into ``text/event-stream`` messages (an async iterator
under ASGI, a blocking one under WSGI), ``reads`` reads pages of events for async streams
on a few threads of its own, and ``notifications`` holds the process's one PostgreSQL
``LISTEN`` connection that wakes waiting streams; other databases poll
(``SCORIA_STREAM_POLL_SECONDS``). The surfaces (``api.stream``, ``views``) only check who
may read the run, then return ``sse.event_stream_response``.
"""

from .sse import ENDING_TYPES, EVENT_TYPES

__all__ = ["ENDING_TYPES", "EVENT_TYPES"]
