"""ASGI middleware bounding the request body size while it is read.

A declared `Content-Length` over the limit is answered 413 before reading anything; a
body without one (chunked) is counted as it arrives and reading stops with 413 at the
first byte over the limit, so no oversized body is ever buffered.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.responses import error_response
from app.errors import BadRequest, PayloadTooLarge


class BodyTooLarge(PayloadTooLarge, HTTPException):
    """Raised from `receive`. Also an HTTPException, so FastAPI's body parsing passes it
    through unchanged (it turns other exceptions into a 400); handled as an AppError."""

    def __init__(self, limit: int) -> None:
        PayloadTooLarge.__init__(self, f"request body larger than {limit} bytes",
                                 code="body_too_large")
        self.detail = self.message


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit() or len(declared) > 20:
                response = error_response(BadRequest("invalid Content-Length header",
                                                     code="bad_content_length"))
                await response(scope, receive, send)
                return
            if int(declared) > self.max_body_bytes:
                response = error_response(BodyTooLarge(self.max_body_bytes))
                await response(scope, receive, send)
                return
        limit, received = self.max_body_bytes, 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, limited_receive, send)
