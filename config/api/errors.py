"""One exception handler renders every API error in Lago's envelope: {status, error, code, error_details}."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf
from rest_framework.response import Response

from config import errors

logger = logging.getLogger(__name__)

# DRF's own validation codes → Lago's snake_case error codes.
_DRF_CODE_TO_LAGO = {
    "required": "value_is_mandatory",
    "null": "value_is_mandatory",
    "blank": "value_is_mandatory",
    "empty": "value_is_mandatory",
    "invalid_choice": "value_is_invalid",
    "invalid": "value_is_invalid",
    "not_a_list": "value_is_invalid",
    "not_a_dict": "value_is_invalid",
    "max_value": "value_is_out_of_range",
    "min_value": "value_is_out_of_range",
    "max_length": "value_is_too_long",
    "min_length": "value_is_too_short",
    "max_digits": "value_is_out_of_range",
    "max_decimal_places": "value_is_invalid",
    "max_whole_digits": "value_is_out_of_range",
    "date": "invalid_format",
    "datetime": "invalid_format",
    "make_aware": "invalid_format",
    "overflow": "invalid_format",
    "unique": "value_already_exist",
}


def lago_error_codes(codes):
    """Turn DRF `get_codes()` output into Lago's error_details (lists of codes, nested dicts by field/index)."""
    if isinstance(codes, dict):
        return {str(k): lago_error_codes(v) for k, v in codes.items()}
    if isinstance(codes, list):
        if all(isinstance(c, str) for c in codes):
            return [_DRF_CODE_TO_LAGO.get(c, c) for c in codes]
        # A list of nested errors (e.g. one per array item): key by index, skip the items that passed.
        return {str(i): lago_error_codes(c) for i, c in enumerate(codes) if c}
    return [_DRF_CODE_TO_LAGO.get(str(codes), str(codes))]


def error_body(status: int, error: str, code: str | None = None, error_details=None) -> dict:
    body: dict = {"status": status, "error": error}
    if code is not None:
        body["code"] = code
    if error_details is not None:
        body["error_details"] = error_details
    return body


def lago_exception_handler(exc, context):
    if isinstance(exc, errors.ValidationFailed):
        return Response(error_body(422, exc.error, "validation_errors", exc.error_details), status=422)
    if isinstance(exc, errors.NotFound | errors.NotAllowed | errors.Forbidden):
        return Response(error_body(exc.status, exc.error, exc.code), status=exc.status)
    if isinstance(exc, errors.BadRequest):
        return Response(error_body(400, f"BadRequest: {exc.message}", "bad_request"), status=400)
    if isinstance(exc, drf.ValidationError):
        details = lago_error_codes(exc.get_codes())
        if not isinstance(details, dict):
            details = {"base": details}
        return Response(error_body(422, "Unprocessable Entity", "validation_errors", details), status=422)
    if isinstance(exc, drf.ParseError):
        return Response(error_body(400, f"BadRequest: {exc.detail}", "bad_request"), status=400)
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return Response(error_body(401, "Unauthorized"), status=401, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, drf.MethodNotAllowed):
        return Response(error_body(405, "Method Not Allowed", "method_not_allowed"), status=405)
    if isinstance(exc, Http404 | drf.NotFound):
        return Response(error_body(404, "Not Found", "not_found"), status=404)
    if isinstance(exc, PermissionDenied | drf.PermissionDenied):
        return Response(error_body(403, "Forbidden", "forbidden"), status=403)
    if isinstance(exc, drf.UnsupportedMediaType):
        return Response(error_body(400, "BadRequest: unsupported media type", "bad_request"), status=400)
    if isinstance(exc, drf.APIException):
        return Response(
            error_body(exc.status_code, str(exc.detail), exc.default_code), status=exc.status_code
        )
    logger.exception("Unhandled API error", exc_info=exc)
    return Response(error_body(500, "Internal Server Error", "internal_error"), status=500)
