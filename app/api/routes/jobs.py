"""`/v1/jobs`: submit (with dry run and Idempotency-Key), list, get and cancel jobs."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request, Response
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Engine
from starlette.types import Receive, Scope, Send

from app.api.deps import Bearer, CurrentTeam, SessionDep, in_thread
from app.api.routing import api_router
from app.config import Settings
from app.db import Database
from app.errors import Unauthorized, ValidationFailed
from app.schemas.common import error_responses
from app.schemas.jobs import (
    JobCreate,
    JobOut,
    JobPage,
    JobStatusName,
    JobSubmitResult,
    JobSummary,
    JobValidation,
    label_filter,
)
from app.services import job_submit, jobs, keys

# No router-wide `Depends(current_team)`: every route authenticates through its own
# parameters (`CurrentTeam`, or `_read_job`, which reads the job in the same statement).
router = api_router(prefix="/v1/jobs", tags=["jobs"], responses=error_responses(401))

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$",
    description="Makes the submission safe to retry: the same key and body return the job "
    "first created (200), the same key with another body is a 409. Printable ASCII, up to "
    "200 characters, scoped to the team; a dry run neither uses nor consumes it.")]


def json_response(model: BaseModel, status_code: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    """Serialize with pydantic-core directly (the route's response model documents it)."""
    return Response(model.model_dump_json(), status_code=status_code, headers=headers,
                    media_type="application/json")


@router.post(
    "", status_code=201, response_model=None, summary="Submit a job",
    responses={201: {"model": JobOut, "description": "Queued"},
               200: {"model": JobSubmitResult, "description": "The dry-run report "
                     "(`dry_run=true`), or the job first created with this Idempotency-Key"},
               **error_responses(409, 413, 422)},
    description="Validates the spec against its dataset (the model is built and a batch "
    "run through it on the CPU: shapes, classes, parameter count and memory), then queues "
    "the job. A 422 names the offending field, e.g. `model.layers[2].in_features: "
    "expected 128 to match the output of layer 1, got 64`. `dry_run=true` returns the "
    "report (parameters, output shape, estimated memory, steps) without queuing.",
)
async def submit_job(body: JobCreate, principal: CurrentTeam, request: Request,
                     idempotency_key: IdempotencyKey = None,
                     dry_run: Annotated[bool, Query(description="Validate and report; "
                                                    "queue nothing.")] = False) -> Response:
    settings: Settings = request.app.state.settings
    return await in_thread(settings, _submit, request.app.state.db, settings,
                           principal.team_id, body, idempotency_key, dry_run)


def _submit(db: Database, settings: Settings, team_id: uuid.UUID, body: JobCreate,
            idempotency_key: str | None, dry_run: bool) -> Response:
    with db.session() as session:
        result = job_submit.submit_job(session, team_id, body, settings,
                                       idempotency_key=idempotency_key, dry_run=dry_run)
    if result.report is not None:
        return json_response(JobValidation.of(result.report))
    assert result.view is not None
    out = JobOut.of_view(result.view)
    if result.created:
        return json_response(out, 201, {"Location": f"/v1/jobs/{out.id}"})
    return json_response(out, 200, {"Idempotent-Replayed": "true"})


@router.get("", response_model=JobPage, summary="List jobs", responses=error_responses(422),
            description="The team's jobs, newest first, `limit` per page. Filter by "
            "`status` (repeatable: any of them) and `label=key=value` (repeatable: all of "
            "them). Pass `next_cursor` back as `cursor` for the next page.")
def list_jobs(
    principal: CurrentTeam, session: SessionDep,
    status: Annotated[list[JobStatusName], Query(max_length=5,
                                                 description="Any of these.")] = [],  # noqa: B006
    label: Annotated[list[str], Query(max_length=10, description="`key=value`; all of "
                                      "them.")] = [],  # noqa: B006
    limit: Annotated[int, Query(ge=1, le=100, description="Page size, 1..100.")] = 20,
    cursor: Annotated[str | None, Query(max_length=200,
                                        description="`next_cursor` of the previous page.")] = None,
) -> Response:
    labels = []
    for i, item in enumerate(label):
        parsed = label_filter(item)
        if parsed is None:
            raise ValidationFailed(("query", "label", i), "expected key=value (a label key: "
                                   "letters, digits and ._/-, up to 63 characters)",
                                   type="label_filter")
        labels.append(parsed)
    items, next_cursor = jobs.list_jobs(session, principal.team_id, statuses=status,
                                        labels=labels, limit=limit, cursor=cursor)
    return json_response(JobPage(items=[JobSummary.of(j) for j in items],
                                 next_cursor=next_cursor))


_UUID = TypeAdapter(uuid.UUID)


async def _read_job(request: Request, credentials: Bearer) -> bytes | None:
    """`GET /v1/jobs/{job_id}`'s JSON: the key and the job in one statement, one trip to
    the thread pool. A dependency, so it runs before FastAPI validates the path: a bad
    key is a 401 whatever the path, as on every route. None when the id is not a UUID
    (the path's validation then answers 422)."""
    if credentials is None:
        raise Unauthorized()
    settings: Settings = request.app.state.settings
    engine = request.app.state.db.engine
    try:
        job_id = _UUID.validate_python(request.path_params["job_id"])
    except ValidationError:
        await in_thread(settings, partial(keys.authenticate, engine, credentials.credentials,
                                         touch_interval_s=settings.key_touch_interval_s))
        return None
    return await in_thread(settings, _job_json, engine, credentials.credentials, job_id,
                           settings.key_touch_interval_s)


def _job_json(engine: Engine, presented: str, job_id: uuid.UUID, touch_interval_s: float
              ) -> bytes:
    view = jobs.read_job(engine, presented, job_id, touch_interval_s=touch_interval_s)
    return JobOut.of_view(view).model_dump_json().encode()


# The hot path of `GET /v1/jobs/{job_id}` (clients poll it): a plain ASGI endpoint for a
# canonical UUID, matched before the API routers, without FastAPI's parameter and
# dependency machinery or Starlette's request and response objects (which together cost
# more than the read itself). It answers exactly as the documented route below, which
# serves every other spelling of the id (and 422s). Its errors (AppError, database
# errors) go to the application's exception handlers like any route's.
fast_router = api_router()


class _GetJobFast:
    documented: Any = None  # the route below, set after it (it names the request: metrics)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self.documented
        authorization = next((value for name, value in scope["headers"]
                              if name == b"authorization"), b"")
        scheme, presented = get_authorization_scheme_param(authorization.decode("latin-1"))
        if scheme.lower() != "bearer" or not presented:  # as `Bearer` (HTTPBearer) decides
            raise Unauthorized()
        state = scope["app"].state
        settings: Settings = state.settings
        body = await in_thread(settings, _job_json, state.db.engine, presented,
                               scope["path_params"]["job_id"], settings.key_touch_interval_s)
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(body)).encode()),
            (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


fast_router.add_route("/v1/jobs/{job_id:uuid}", _GetJobFast(),  # type: ignore[arg-type]
                      methods=["GET"], include_in_schema=False)


@router.get("/{job_id}", response_model=JobOut, summary="Get a job",
            responses=error_responses(404, 422),
            description="Status, progress, queue position, attempts, timestamps, the latest "
            "value of each metric, the error (code and message) of a failed job, and the "
            "stored spec.")
async def get_job(job_id: uuid.UUID,
                  body: Annotated[bytes | None, Depends(_read_job)]) -> Response:
    assert body is not None  # the id was validated the same way
    return Response(body, media_type="application/json")


_GetJobFast.documented = next(route for route in router.routes
                              if getattr(route, "name", None) == "get_job")


@router.post("/{job_id}/cancel", response_model=JobOut, summary="Cancel a job",
             responses=error_responses(404, 409, 422),
             description="A queued job is cancelled at once; a running one gets "
             "`cancel_requested` and its worker stops it within two heartbeats. Idempotent: "
             "cancelling again returns the job unchanged. 409 `job_finished` for a job that "
             "already succeeded or failed.")
def cancel_job(job_id: uuid.UUID, principal: CurrentTeam, session: SessionDep) -> Response:
    return json_response(JobOut.of_view(jobs.cancel_job(session, principal.team_id, job_id)))
