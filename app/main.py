"""The FastAPI application factory.

Error bodies. Every error response, whatever produced it, has one shape:

    {"detail": {"code": "not_found", "message": "dataset not found"}}

`code` is stable and machine-readable, `message` is for humans. Validation problems
(422, from FastAPI's request validation or from a service) add `errors`, a list of
`{"loc", "msg", "type"}` items whose `loc` is the field path, e.g.
`["body", "inputs", 3, 1]` or `["query", "limit"]` (the items of FastAPI's default 422
`detail`, minus the echoed input). Domain errors are `app.errors.AppError` subclasses
raised by services; the handlers below are the only place they become HTTP.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.responses import SafeJSONResponse, error_body, error_response
from app.api.routes import ROUTERS
from app.config import Settings
from app.db import Database
from app.errors import AppError
from app.middleware import BodySizeLimitMiddleware
from app.observability.logs import RequestContextMiddleware
from app.observability.metrics import HttpMetricsMiddleware, ServiceMetrics
from app.queue.reaper import Reaper

log = logging.getLogger("trainforge")

DESCRIPTION = """Training as a service: upload a dataset, submit a model spec, poll the job,
download the weights.

**Authentication.** Every route except `/healthz` and `/readyz` needs
`Authorization: Bearer <team API key>`: press **Authorize** and paste the key into
*TeamKey*. Get a first key with `trainforge team create NAME` (or `POST /v1/teams` with
the admin token). Another team's objects are invisible: they answer 404 like a missing one.

**Errors** are `{"detail": {"code", "message", "errors"?}}`; `errors[].loc` is the path of
the offending field.
"""

_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 413: "payload_too_large",
                 415: "unsupported_media_type"}


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application. The database must already be migrated (`trainforge migrate`)."""
    settings = settings or Settings()
    db = Database.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and dependencies run in this event loop's default thread pool.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        reaper = Reaper(db, settings.reap_interval_seconds, settings.max_attempts)
        reaper.start()
        try:
            yield
        finally:
            reaper.stop()
            db.dispose()

    app = FastAPI(
        title="Trainforge", version="0.1.0", description=DESCRIPTION, lifespan=lifespan,
        swagger_ui_parameters={"persistAuthorization": True},
        openapi_tags=[
            {"name": "datasets", "description": "Training data, owned by a team."},
            {"name": "jobs", "description": "Training jobs: submit a spec, follow it, read "
             "its metrics, events and checkpoints, download its weights."},
            {"name": "keys", "description": "The calling team's API keys."},
            {"name": "teams", "description": "Team creation (admin token)."},
            {"name": "health", "description": "Liveness and readiness probes (no auth)."},
        ],
    )
    app.state.settings = settings
    app.state.db = db
    install_error_handlers(app)
    app.add_middleware(BodySizeLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    if settings.metrics_enabled:
        metrics = ServiceMetrics(db, worker_alive_s=3 * settings.heartbeat_seconds
                                 + settings.poll_seconds)
        app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
        app.add_api_route("/metrics", _metrics_endpoint(metrics), methods=["GET"],
                          tags=["health"], summary="Prometheus metrics",
                          response_class=PlainTextResponse, responses={200: {
                              "content": {"text/plain": {"example": METRICS_EXAMPLE}},
                              "description": "Prometheus text exposition format."}},
                          description="Jobs by status, queue depth and oldest queued age, "
                          "workers alive by device, training throughput, job durations, "
                          "HTTP latency by route and database errors. No auth.")
    app.add_middleware(RequestContextMiddleware)  # outermost: ids every log line
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/docs")

    return app


METRICS_EXAMPLE = ('# HELP trainforge_queue_depth Jobs waiting for a worker.\n'
                   '# TYPE trainforge_queue_depth gauge\ntrainforge_queue_depth 3.0\n')


def _metrics_endpoint(metrics: ServiceMetrics) -> Any:
    def get_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(body, media_type=content_type)

    return get_metrics


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(Exception, _unhandled)


async def _app_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return error_response(exc)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [_field_error(e) for e in exc.errors()]
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return SafeJSONResponse(
        error_body("validation_failed", f"{where}: {first['msg']}{more}", errors),
        status_code=422,
    )


def _field_error(error: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's error item without the echoed input (it may be huge or unencodable)."""
    loc = [part if isinstance(part, int) else str(part)[:200] for part in error.get("loc", ())]
    msg = str(error.get("msg", ""))
    ctx = error.get("ctx") or {}
    if error.get("type") == "json_invalid" and "error" in ctx:
        msg = f"{msg}: {ctx['error']}"
    return {"loc": loc, "msg": msg[:500], "type": str(error.get("type", "value_error"))}


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return SafeJSONResponse(error_body(code, message), status_code=exc.status_code,
                            headers=exc.headers)


async def _database_unavailable(_request: Request, exc: Exception) -> Response:
    log.warning("database unavailable: %s", exc)
    return SafeJSONResponse(error_body("database_unavailable", "the database is unavailable or "
                                       "busy; retry shortly"),
                            status_code=503, headers={"Retry-After": "1"})


async def _unhandled(_request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc)
    return SafeJSONResponse(error_body("internal_error", "internal server error"),
                            status_code=500)
