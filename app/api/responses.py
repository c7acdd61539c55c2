"""Rendering of JSON responses that can never fail to encode, and of error bodies."""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

from app.errors import AppError


class SafeJSONResponse(JSONResponse):
    """ASCII-escaped JSON: a lone surrogate echoed in a field path still encodes."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False,
                          separators=(",", ":")).encode("ascii")


def error_body(code: str, message: str, errors: list[dict[str, Any]] | None = None
               ) -> dict[str, Any]:
    detail: dict[str, Any] = {"code": code, "message": message}
    if errors:
        detail["errors"] = errors
    return {"detail": detail}


def error_response(exc: AppError) -> SafeJSONResponse:
    return SafeJSONResponse(error_body(exc.code, exc.message, exc.errors),
                            status_code=exc.status_code, headers=exc.headers)
