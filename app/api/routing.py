"""Route class for every API router: strict JSON parsing of request bodies.

Python's `json` accepts `NaN`/`Infinity`, recurses without bound and is slow on large
bodies. Bodies are parsed instead by pydantic-core (Rust): NaN/Infinity, lone
surrogates, invalid UTF-8 and nesting deeper than 200 levels are refused; every parse
error becomes FastAPI's 422 `json_invalid` with the body position.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute
from pydantic_core import from_json

_POSITION = re.compile(r"at line (\d+) column (\d+)")
INLINE_PARSE_BYTES = 1 << 20  # larger bodies are parsed in a worker thread


def parse_json(body: bytes) -> Any:
    """Parse a JSON document strictly; raises `json.JSONDecodeError` on any problem."""
    try:
        return from_json(body, allow_inf_nan=False)
    except ValueError as exc:
        message = str(exc)
        raise json.JSONDecodeError(message, "", _offset(body, message)) from None


def _offset(body: bytes, message: str) -> int:
    match = _POSITION.search(message)
    if not match:
        return 0
    line, column = int(match.group(1)), int(match.group(2))
    start = 0
    for _ in range(line - 1):
        start = body.find(b"\n", start) + 1
    return start + max(column - 1, 0)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            if len(body) > INLINE_PARSE_BYTES:  # keep the event loop responsive
                self._json = await anyio.to_thread.run_sync(parse_json, body)
            else:
                self._json = parse_json(body)
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def api_router(**kwargs: Any) -> APIRouter:
    """An APIRouter using `StrictJSONRoute`; use it for every router."""
    return APIRouter(route_class=StrictJSONRoute, **kwargs)
