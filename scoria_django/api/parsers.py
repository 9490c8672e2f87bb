"""A JSON parser that honours ``DATA_UPLOAD_MAX_MEMORY_SIZE`` and survives hostile nesting.

DRF's JSONParser reads the raw stream, so Django's upload limit never applies to it,
and ``json`` raises ``RecursionError`` (a 500) on deeply nested input.
"""

import json

from django.conf import settings
from rest_framework import exceptions
from rest_framework.parsers import JSONParser
from rest_framework.utils.json import strict_constant

from .exceptions import RequestTooLarge


def _declared_length(request):
    meta = request.META
    try:
        return int(meta.get("CONTENT_LENGTH") or meta.get("HTTP_CONTENT_LENGTH") or 0)
    except (TypeError, ValueError):
        return 0


class BoundedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = parser_context.get("request")
        if limit is not None and request is not None and _declared_length(request) > limit:
            raise RequestTooLarge()
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise exceptions.ParseError(
                f"The body is not valid {encoding}.", code="malformed_json"
            ) from None
        try:
            # NaN and Infinity are rejected whatever STRICT_JSON says: scoria cannot store them.
            return json.loads(text, parse_constant=strict_constant)
        except RecursionError:
            raise exceptions.ParseError(
                "The JSON body is nested too deeply.", code="json_too_deep"
            ) from None
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error: {exc}", code="malformed_json") from None
