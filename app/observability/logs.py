"""Structured logs: every line carries the request id (API), the worker id and the job id
(workers) from context variables; `TRAINFORGE_LOG_FORMAT=json` prints one JSON object a
line, `text` (the default) a readable line.

    >>> import logging
    >>> from app.observability import logs
    >>> with logs.bind(job_id="j-1"):
    ...     logs.context()["job_id"]
    'j-1'
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = ("request_id", "worker_id", "job_id")
_vars: dict[str, ContextVar[str | None]] = {name: ContextVar(name, default=None)
                                            for name in FIELDS}


def context() -> dict[str, str | None]:
    return {name: var.get() for name, var in _vars.items()}


def bind(**values: str | None) -> _Bound:
    """Set context fields for a `with` block (or until `.reset()`)."""
    return _Bound({name: _vars[name].set(value) for name, value in values.items()})


class _Bound:
    def __init__(self, tokens: dict[str, Any]) -> None:
        self.tokens = tokens

    def __enter__(self) -> _Bound:
        return self

    def __exit__(self, *exc: object) -> None:
        self.reset()

    def reset(self) -> None:
        for name, token in self.tokens.items():
            _vars[name].reset(token)


class ContextFilter(logging.Filter):
    """Copies the context fields onto every record (so any formatter may use them)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in context().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name,
            "message": record.getMessage(),
            **{name: getattr(record, name, None) for name in FIELDS},
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = [f"{name}={getattr(record, name)}" for name in FIELDS
                  if getattr(record, name, None)]
        record.context = f" [{' '.join(fields)}]" if fields else ""
        return super().format(record)


def configure(log_format: str = "text", level: str = "info",
              stream: TextIO | None = None) -> None:
    """Route every logger (uvicorn's included) through one handler on `stream` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


access_log = logging.getLogger("trainforge.access")
_REQUEST_ID_OK = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class RequestContextMiddleware:
    """Gives each HTTP request an id (the client's `X-Request-ID` when it is short and
    plain, else a new one), binds it to every log line of the request, returns it in
    the `X-Request-ID` response header, and writes one access line per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", request_id.encode())]
            await send(message)

        with bind(request_id=request_id):
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                access_log.info("%s %s %d %.1fms", scope["method"], scope["path"], status,
                                (time.perf_counter() - started) * 1000)


def _request_id(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if 0 < len(text) <= 64 and set(text) <= _REQUEST_ID_OK:
                return text
            break
    return uuid.uuid4().hex
