"""JSON parser whose failures come back as Lago's 400."""

from __future__ import annotations

import json
from decimal import Decimal

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class LagoJSONParser(JSONParser):
    # The API speaks JSON only; a missing or odd Content-Type is read as JSON rather than refused.
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", "utf-8")
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        try:
            # Numbers keep their exact decimal value: money and units are never floats.
            data = json.loads(raw.decode(encoding), parse_float=Decimal)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError(f"Malformed JSON: {exc}")
        return data
