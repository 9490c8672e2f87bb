"""Cursor pagination with a hard cap: ``SCORIA_API_PAGE_SIZE`` / ``SCORIA_API_MAX_PAGE_SIZE``."""

from rest_framework import exceptions
from rest_framework.pagination import CursorPagination

from ..conf import scoria_settings
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
        # ASCII digits only: int() would also take " 5", "+5" and other scripts' digits, and
        # raise on thousands of them.
        digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
        value = maximum if len(digits) > 9 else int(digits or "0")
        if value <= 0:
            raise exceptions.ValidationError(
                {self.page_size_query_param: ["page_size must be a positive integer."]},
                code="invalid_page_size",
            )
        return min(value, maximum)

    def decode_cursor(self, request):
        """The client's cursor, or None (the first page) for one this API did not hand out.

        A cursor is opaque: any string is a valid value, and one that is not ours (garbage,
        or a forged position such as ``p=garbage``) starts over rather than failing, so the
        schema's "any string" is exactly what the server accepts. The position is checked
        here, before it becomes a filter the database might choke on.
        """
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            return None
        if cursor is None or cursor.position is None:
            return cursor
        position = self.clean_position(cursor.position)
        if position is None:
            return None
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
            elif parameter["name"] == self.cursor_query_param:
                parameter["description"] = (
                    "The cursor of the `next` or `previous` link. Opaque: a value this API "
                    "did not hand out starts over at the first page."
                )
        return parameters

    def get_paginated_response_schema(self, schema):
        link = {
            "type": "string",
            "format": "uri",
            "nullable": True,
            "example": "https://example.com/api/scoria/runs/?cursor=cD0yMDI2LTAxLTAx",
        }
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {"next": link, "previous": link, "results": schema},
        }


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
