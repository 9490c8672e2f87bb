"""Cursor pagination with a hard cap: ``SCORIA_API_PAGE_SIZE`` / ``SCORIA_API_MAX_PAGE_SIZE``."""

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

from ..conf import scoria_settings
from .exceptions import InvalidCursor
from .instants import to_utc

# Sequences are PositiveIntegerFields: larger positions cannot be stored, nor compared.
MAX_SEQUENCE = 2**31 - 1


class RunCursorPagination(CursorPagination):
    """Newest runs first. ``page_size`` above the maximum is cut to the maximum."""

    ordering: tuple[str, ...] = ("-created_at", "-id")
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size_query_description = (
        "Items per page (default SCORIA_API_PAGE_SIZE, at most SCORIA_API_MAX_PAGE_SIZE)."
    )

    def get_page_size(self, request):
        maximum = scoria_settings.API_MAX_PAGE_SIZE
        default = min(scoria_settings.API_PAGE_SIZE, maximum)
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value <= 0:
            raise exceptions.ValidationError(
                {self.page_size_query_param: ["page_size must be a positive integer."]},
                code="invalid_page_size",
            )
        return min(value, maximum)

    def decode_cursor(self, request):
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise InvalidCursor() from None
        if cursor is None or cursor.position is None:
            return cursor
        # A well-formed cursor can still carry a forged position ("p=garbage"): it is
        # checked here, before it becomes a filter the database might choke on.
        position = self.clean_position(cursor.position)
        if position is None:
            raise InvalidCursor()
        return cursor._replace(position=position)

    def clean_position(self, position):
        """The position of a ``created_at`` cursor: an instant, in UTC."""
        instant = to_utc(position)
        return None if instant is None else str(instant)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1}
        return parameters


class SequenceCursorPagination(RunCursorPagination):
    """Steps and events of one run, in sequence order."""

    ordering = ("sequence",)

    def clean_position(self, position):
        if not (position.isascii() and position.isdigit()) or int(position) > MAX_SEQUENCE:
            return None
        return position


class ApprovalCursorPagination(RunCursorPagination):
    """Oldest request first: the inbox order of ``scoria.list_approvals``."""

    ordering = ("requested_at", "position", "id")
