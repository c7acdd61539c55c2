"""Shared schema pieces: request/response bases, safe text types, the error body."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# C0/C1 control characters (NUL included) and unpaired UTF-16 surrogates: PostgreSQL
# cannot store NUL in text, and a lone surrogate cannot be encoded as UTF-8.
_FORBIDDEN_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_FORBIDDEN_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def check_name(value: str) -> str:
    bad = _FORBIDDEN_IN_NAMES.search(value)
    if bad:
        raise ValueError(f"contains a forbidden character U+{ord(bad.group()):04X} at "
                         f"position {bad.start()} (control characters and lone surrogates)")
    if not value.strip():
        raise ValueError("must not be blank")
    return value


def check_text(value: str) -> str:
    bad = _FORBIDDEN_IN_TEXT.search(value)
    if bad:
        raise ValueError(f"contains a forbidden character U+{ord(bad.group()):04X} at "
                         f"position {bad.start()} (control characters and lone surrogates)")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(check_name)]
"""A display name: 1..200 characters, not blank, no control characters."""

Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(check_text)]
"""Free text: up to 10 000 characters; tabs and newlines allowed, other controls not."""


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are rejected (422 with their path),
    JSON types must match exactly (no "1" for 1, no 1 for true) and floats are finite.

    Under `strict=True` a UUID, datetime or enum field given as a JSON string needs
    `Field(strict=False)` (strictness is about Python types, and JSON has no UUIDs).
    """

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ResponseModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class FieldError(BaseModel):
    loc: list[str | int] = Field(description="Path to the offending field, e.g. "
                                 '`["body", "inputs", 3, 1]`.')
    msg: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. `not_found`.")
    message: str = Field(description="Human-readable explanation.")
    errors: list[FieldError] | None = Field(
        None, description="Field-level problems (validation errors only)."
    )


class ErrorResponse(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "detail": {"code": "validation_failed", "message": "body.inputs.3: expected 2 items",
                   "errors": [{"loc": ["body", "inputs", 3], "msg": "expected 2 items",
                               "type": "not_rectangular"}]}}]})

    detail: ErrorBody


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses=` entries for the given error statuses."""
    descriptions = {
        400: "Malformed request", 401: "Missing, invalid or revoked bearer token",
        403: "Forbidden", 404: "Not found (or owned by another team)",
        409: "Conflict with the current state", 413: "Request body or dataset too large",
        422: "Invalid request (the field path is in `detail.errors[].loc`)",
        503: "Not ready",
    }
    return {code: {"model": ErrorResponse, "description": descriptions[code]} for code in codes}
