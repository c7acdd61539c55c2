"""`/v1/jobs/{job_id}/...`: metrics, events, checkpoints and weights of a job."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Annotated

from fastapi import Depends, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import StringConstraints

from app.api.deps import CurrentTeam, SessionDep, SettingsDep, current_team, in_thread
from app.api.routes.jobs import json_response
from app.api.routing import api_router
from app.db import Database
from app.schemas.common import error_responses
from app.schemas.job_outputs import (
    CheckpointOut,
    CheckpointPage,
    JobEventOut,
    JobEventPage,
    MetricPoint,
    MetricSeries,
    MetricsOut,
)
from app.services import job_outputs, job_stream

router = api_router(prefix="/v1/jobs/{job_id}", tags=["jobs"], responses=error_responses(401),
                    dependencies=[Depends(current_team)])
Limit = Annotated[int, Query(ge=1, le=200, description="Page size, 1..200.")]
Cursor = Annotated[str | None, Query(max_length=200,
                                     description="`next_cursor` of the previous page.")]
Step = Annotated[int | None, Query(ge=0, le=2**62)]
CheckpointRef = Annotated[str | None, Query(
    pattern=r"^(best|[0-9]{1,18})$", examples=["best", "1200"],
    description="`best`, or the step of a kept checkpoint. Default: the final weights.")]
MetricName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_./-]{1,100}$")]


@router.get("/metrics", response_model=MetricsOut, summary="Get a job's metrics",
            responses=error_responses(404, 422),
            description="Metric series by name (`train_loss`, `val_loss`, `val_accuracy`, "
            "...), points by step. Filter by `name` (repeatable) and the step range "
            "[`min_step`, `max_step`]; a series longer than `max_points` is downsampled to "
            "`max_points` evenly spaced points, its first and last included. Empty until a "
            "worker records metrics.")
def get_metrics(
    job_id: uuid.UUID, principal: CurrentTeam, session: SessionDep,
    name: Annotated[list[MetricName], Query(max_length=20,
                                            description="Only these metrics.")] = [],  # noqa: B006
    min_step: Step = None, max_step: Step = None,
    max_points: Annotated[int, Query(ge=2, le=10_000, description="Most points per "
                                     "series.")] = 1000,
) -> Response:
    series = job_outputs.job_metrics(session, principal.team_id, job_id, names=name,
                                     min_step=min_step, max_step=max_step,
                                     max_points=max_points)
    return json_response(MetricsOut(series=[
        MetricSeries(name=s.name, total_points=s.total_points, downsampled=s.downsampled,
                     points=[MetricPoint(step=st, value=v) for st, v in s.points])
        for s in series]))


@router.get("/events", response_model=JobEventPage, summary="List a job's events",
            responses=error_responses(404, 422),
            description="Lifecycle events, oldest first: `created`, `cancelled`, "
            "`cancel_requested`, and what workers record (claims, retries, completion).")
def list_events(job_id: uuid.UUID, principal: CurrentTeam, session: SessionDep,
                limit: Limit = 50, cursor: Cursor = None) -> Response:
    items, next_cursor = job_outputs.job_events(session, principal.team_id, job_id,
                                                limit=limit, cursor=cursor)
    return json_response(JobEventPage(items=[JobEventOut.model_validate(e) for e in items],
                                      next_cursor=next_cursor))


@router.get("/checkpoints", response_model=CheckpointPage, summary="List a job's checkpoints",
            responses=error_responses(404, 422),
            description="Checkpoints written by workers, newest first (metadata only).")
def list_checkpoints(job_id: uuid.UUID, principal: CurrentTeam, session: SessionDep,
                     limit: Limit = 50, cursor: Cursor = None) -> Response:
    items, next_cursor = job_outputs.job_checkpoints(session, principal.team_id, job_id,
                                                     limit=limit, cursor=cursor)
    return json_response(CheckpointPage(items=[CheckpointOut.model_validate(c) for c in items],
                                        next_cursor=next_cursor))


@router.get(
    "/weights", response_class=Response, summary="Download a job's weights",
    responses={200: {"content": {"application/octet-stream": {
        "schema": {"type": "string", "format": "binary"}}},
        "description": "The trained model's state dict as safetensors (load it with "
        "`safetensors.torch.load_file`); its SHA-256 is in `X-Checksum-SHA256`."},
        **error_responses(404, 409, 422)},
    description="The final weights of a succeeded job (409 `weights_not_ready` until there "
    "are weights), or with `checkpoint` the model of a kept checkpoint: `best` (the best "
    "validation score) or a step listed by `GET .../checkpoints` (404 otherwise).",
)
def get_weights(job_id: uuid.UUID, principal: CurrentTeam, session: SessionDep,
                checkpoint: CheckpointRef = None) -> Response:
    weights = job_outputs.job_weights(session, principal.team_id, job_id, checkpoint)
    return Response(weights.data, media_type="application/octet-stream", headers={
        "X-Checksum-SHA256": weights.sha256, "ETag": f'"{weights.sha256}"',
        "Content-Disposition": f'attachment; filename="{job_id}.safetensors"'})


STREAM_POLL_S = 0.5  # how often an open stream looks for new rows
STREAM_KEEPALIVE_S = 15.0  # a comment line this often keeps proxies from closing it
SSE_EVENT_SCHEMA = {
    "type": "object", "required": ["id", "event", "data"],
    "properties": {
        "id": {"type": "string", "pattern": r"^e[0-9]+\.m[0-9]+$",
               "description": "Send it back as `Last-Event-ID` to resume after it."},
        "event": {"type": "string", "enum": ["status", "checkpoint", "log", "metric", "end"]},
        "data": {"type": "string", "description": "JSON: an event `{type, payload, "
                 "created_at}`, a metric point `{name, step, value}`, or `{status}` at the "
                 "end."}},
    "example": {"id": "e3.m120", "event": "metric",
                "data": "{\"name\":\"loss\",\"step\":40,\"value\":0.12}"},
}


@router.get(
    "/events/stream", summary="Follow a job live (server-sent events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {"schema": SSE_EVENT_SCHEMA}},
                     "description": "`event: status | checkpoint | log | metric`, then "
                     "`event: end` when the job has ended."},
               **error_responses(400, 404, 422)},
    description="A `text/event-stream` of the job's lifecycle events (`status` for status "
    "changes, `checkpoint` for checkpoints saved, `log` for the rest) and metric points "
    "(`metric`: name, step, value), oldest first, ending with `end` once the job has "
    "ended and everything was sent. Every message has an `id`; reconnect with "
    "`Last-Event-ID: <id>` to continue after it. Try `curl -N -H \"$AUTH\" "
    "$TF/v1/jobs/$JOB/events/stream`.",
)
async def stream_events(
        job_id: uuid.UUID, principal: CurrentTeam, request: Request, settings: SettingsDep,
        last_event_id: Annotated[str | None, Header(max_length=100)] = None,
) -> StreamingResponse:
    db = request.app.state.db
    read = partial(_read_stream, db, principal.team_id, job_id)
    first = await in_thread(settings, read, job_stream.Cursor.parse(last_event_id))

    async def messages() -> AsyncIterator[bytes]:
        batch, quiet_since = first, time.monotonic()
        while True:
            for message in batch.messages:
                yield message.encode()  # waits while the client is slow to read
            if batch.finished:
                yield job_stream.end_message(batch)
                return
            if batch.messages:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > STREAM_KEEPALIVE_S:
                quiet_since = time.monotonic()
                yield b": keep-alive\n\n"
            if not batch.more:
                if await request.is_disconnected():
                    return
                await asyncio.sleep(STREAM_POLL_S)
            batch = await in_thread(settings, read, batch.cursor)

    return StreamingResponse(messages(), media_type="text/event-stream", headers={
        "Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _read_stream(db: Database, team_id: uuid.UUID, job_id: uuid.UUID,
                 cursor: job_stream.Cursor) -> job_stream.Batch:
    with db.session() as session:
        return job_stream.read_batch(session, team_id, job_id, cursor)
