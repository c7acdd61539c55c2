"""The client's errors: `ApiError` and its subclasses, one per kind of failure, and
`error_from_response`, which maps an API error response to its typed error."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import httpx


class ApiError(Exception):
    """An error answered by the API (or met on the way to it): the HTTP `status` (0 when
    no response came), the API's stable `code`, its `message`, and `errors`, the field
    problems of a validation error (`[{"loc": [...], "msg": ..., "type": ...}]`)."""

    default_status = 0
    default_code = "error"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 errors: Sequence[Mapping[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = self.default_status if status is None else status
        self.code = code or self.default_code
        self.errors: list[dict[str, Any]] = [dict(e) for e in errors or ()]

    def __str__(self) -> str:
        return f"{self.message} ({self.code})"


class BadRequest(ApiError):
    default_status, default_code = 400, "bad_request"


class Unauthorized(ApiError):
    default_status, default_code = 401, "unauthorized"


class Forbidden(ApiError):
    default_status, default_code = 403, "forbidden"


class NotFound(ApiError):
    default_status, default_code = 404, "not_found"


class Conflict(ApiError):
    default_status, default_code = 409, "conflict"


class PayloadTooLarge(ApiError):
    default_status, default_code = 413, "payload_too_large"


class ValidationFailed(ApiError):
    default_status, default_code = 422, "validation_failed"


class RateLimited(ApiError):
    default_status, default_code = 429, "rate_limited"


class ServerError(ApiError):
    default_status, default_code = 500, "internal_error"


class ServiceUnavailable(ServerError):
    default_status, default_code = 503, "unavailable"


class ConnectionFailed(ApiError):
    """No answer: the server is unreachable, the connection dropped, or it timed out."""

    default_code = "connection_failed"


class ChecksumMismatch(ApiError):
    """Downloaded weights whose SHA-256 differs from the server's `X-Checksum-SHA256`."""

    default_code = "checksum_mismatch"


class WaitTimeout(ApiError, TimeoutError):
    """`Job.wait(timeout=...)` ran out before the job ended."""

    default_code = "timeout"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict,
    413: PayloadTooLarge, 422: ValidationFailed, 429: RateLimited, 503: ServiceUnavailable,
}


def error_from_response(response: httpx.Response) -> ApiError:
    """The typed error of an error response (`{"detail": {"code", "message", "errors"}}`)."""
    status = response.status_code
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    code, message, errors = None, None, None
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, dict):
        code = detail.get("code") if isinstance(detail.get("code"), str) else None
        message = detail.get("message") if isinstance(detail.get("message"), str) else None
        errors = detail.get("errors") if isinstance(detail.get("errors"), list) else None
    elif isinstance(detail, str):
        message = detail
    elif isinstance(detail, list):  # FastAPI's plain validation errors
        errors = [e for e in detail if isinstance(e, dict)]
        message = "; ".join(str(e.get("msg")) for e in errors) or None
    if message is None:
        text = response.text.strip()[:200] if response.content else ""
        message = f"HTTP {status} {response.reason_phrase}" + (f": {text}" if text else "")
    return cls(message, status=status, code=code, errors=errors)
