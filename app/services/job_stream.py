"""A job's live feed as server-sent events: its lifecycle events and metric points in the
order they were stored, resumable from a cursor, ending when the job has ended.

A cursor names the last event and the last metric row sent (`e<id>.m<id>`, the SSE
`id:` of each message, which a client sends back as `Last-Event-ID`). Each read takes
at most `batch` rows of each kind, so a slow client holds back the reads (the response
is written as the client takes it) instead of growing the server's memory.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import transaction
from app.errors import BadRequest
from app.models import JobEvent, JobMetric
from app.services.job_states import FINAL
from app.services.jobs import load_job

_CURSOR = re.compile(r"^e(\d{1,18})\.m(\d{1,18})$")
FINAL_STATUSES = frozenset(s.value for s in FINAL)


@dataclass(frozen=True)
class Cursor:
    event_id: int = 0
    metric_id: int = 0

    def __str__(self) -> str:
        return f"e{self.event_id}.m{self.metric_id}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        match = _CURSOR.match(text.strip())
        if match is None:
            raise BadRequest(f"Last-Event-ID must look like 'e12.m340' (the id of a "
                             f"message of this stream), not {text[:40]!r}",
                             code="bad_cursor")
        return cls(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Message:
    """One SSE message: `event` is `status`, `checkpoint`, `log` or `metric`."""

    id: Cursor
    event: str
    data: dict[str, Any]

    def encode(self) -> bytes:
        body = json.dumps(self.data, separators=(",", ":"), default=str)
        return f"id: {self.id}\nevent: {self.event}\ndata: {body}\n\n".encode()


@dataclass(frozen=True)
class Batch:
    messages: list[Message]
    cursor: Cursor
    status: str
    more: bool  # a read hit `batch`: read again at once

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES and not self.more


def _kind(event: JobEvent) -> str:
    if event.type == "checkpoint_saved":
        return "checkpoint"
    return "status" if "to" in (event.payload or {}) else "log"


def read_batch(session: Session, team_id: uuid.UUID, job_id: uuid.UUID, cursor: Cursor,
               batch: int = 500) -> Batch:
    """What was stored after `cursor` (404 for another team's job), and the job's status
    read in the same transaction (so `finished` never misses a last row)."""
    with transaction(session):
        job = load_job(session, team_id, job_id)
        status = job.status
        events = session.execute(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.id > cursor.event_id)
            .order_by(JobEvent.id).limit(batch)).scalars().all()
        metrics = session.execute(
            select(JobMetric.id, JobMetric.name, JobMetric.step, JobMetric.value)
            .where(JobMetric.job_id == job_id, JobMetric.id > cursor.metric_id)
            .order_by(JobMetric.id).limit(batch)).all()
    messages: list[Message] = []
    event_id, metric_id = cursor.event_id, cursor.metric_id
    for event in events:
        event_id = event.id
        messages.append(Message(Cursor(event_id, metric_id), _kind(event), {
            "type": event.type, "payload": event.payload,
            "created_at": event.created_at.isoformat()}))
    for row in metrics:
        metric_id = row.id
        messages.append(Message(Cursor(event_id, metric_id), "metric",
                                {"name": row.name, "step": row.step, "value": row.value}))
    more = len(events) == batch or len(metrics) == batch
    return Batch(messages, Cursor(event_id, metric_id), status, more)


def end_message(batch: Batch) -> bytes:
    return (f"id: {batch.cursor}\nevent: end\ndata: "
            f"{json.dumps({'status': batch.status})}\n\n").encode()
