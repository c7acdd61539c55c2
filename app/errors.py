"""Domain errors. Services raise these; `app.main` turns them into HTTP responses.

Every error response has the body `{"detail": {"code", "message", "errors"?}}`, where
`errors` (validation problems) is a list of `{"loc", "msg", "type"}` with the field path
in `loc`, the same items FastAPI uses for request validation errors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

Loc = tuple[str | int, ...]


class AppError(Exception):
    """Root of the domain errors: an HTTP status, a stable machine code and a message."""

    status_code: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        Exception.__init__(self, message)  # not super(): see app.middleware.BodyTooLarge
        self.message = message
        if code is not None:
            self.code = code
        self.errors = [dict(e) for e in errors] if errors else None
        self.headers = dict(headers) if headers else None


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "missing or invalid bearer token", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"


class NotFound(AppError):
    status_code = 404
    code = "not_found"


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"


class ValidationFailed(AppError):
    """A semantically invalid request: 422 with the offending field path."""

    status_code = 422
    code = "validation_failed"

    def __init__(self, loc: Loc, msg: str, *, type: str = "value_error") -> None:
        where = ".".join(str(part) for part in loc)
        super().__init__(f"{where}: {msg}", errors=[{"loc": list(loc), "msg": msg, "type": type}])


class ServiceUnavailable(AppError):
    status_code = 503
    code = "unavailable"
