"""Domain errors raised by services; one DRF exception handler renders them in Lago's envelope."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class DomainError(Exception):
    status = 400
    error = "Bad Request"


class ValidationFailed(DomainError):
    """422 validation_errors with per-field error codes: {"field": ["value_is_mandatory"]}."""

    status = 422
    error = "Unprocessable Entity"

    def __init__(
        self,
        error_details: Mapping[str, Sequence[str] | Mapping] | None = None,
        **fields: str | Sequence[str],
    ):
        details: dict = {
            k: list(v) if isinstance(v, list | tuple) else v for k, v in (error_details or {}).items()
        }
        for field, codes in fields.items():
            details.setdefault(field, []).extend([codes] if isinstance(codes, str) else codes)
        self.error_details = details
        super().__init__(f"validation_errors: {details}")


class NotFound(DomainError):
    """404 `<resource>_not_found`."""

    status = 404
    error = "Not Found"

    def __init__(self, resource: str):
        self.code = f"{resource}_not_found"
        super().__init__(self.code)


class NotAllowed(DomainError):
    """405 for business-rule refusals (`not_voidable`, `no_active_subscription`…)."""

    status = 405
    error = "Method Not Allowed"

    def __init__(self, code: str):
        self.code = code
        super().__init__(code)


class Forbidden(DomainError):
    status = 403
    error = "Forbidden"

    def __init__(self, code: str = "forbidden"):
        self.code = code
        super().__init__(code)


class BadRequest(DomainError):
    status = 400
    error = "Bad Request"

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)
