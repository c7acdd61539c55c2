"""Fenced worker writes that `app.queue` lacks: checkpoints (with the job's progress) and
the final transaction (weights, final metrics and `succeeded` together).

Like `app.queue.lease`, every function opens its own write transaction; pass a session
with no transaction in progress. A lost lease raises `LeaseLost` and writes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from app.db import transaction
from app.models import JobCheckpoint, JobMetric, JobStatus, utcnow
from app.queue.lease import fenced
from app.services import job_states
from app.services.job_outputs import WEIGHTS_KIND

Point = tuple[str, int, float]


def _metric_rows(job_id: uuid.UUID, points: Iterable[Point]) -> list[dict[str, object]]:
    now = utcnow()
    return [{"job_id": job_id, "name": name, "step": int(step), "value": float(value),
             "created_at": now} for name, step, value in points]


def _checkpoint(job_id: uuid.UUID, step: int, kind: str, data: bytes) -> JobCheckpoint:
    return JobCheckpoint(job_id=job_id, step=step, kind=kind,
                         sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                         data=data, created_at=utcnow())


def save_checkpoint(session: Session, job_id: uuid.UUID, lease_epoch: int, *, step: int,
                    epoch: int, data: bytes, kind: str = "epoch",
                    metrics: Iterable[Point] = ()) -> None:
    """Store a checkpoint (bytes in the row, with their SHA-256) and the job's progress
    (`step`, `epoch`), with any pending metrics, in one fenced transaction."""
    rows = _metric_rows(job_id, metrics)
    with transaction(session, write=True):
        job = fenced(session, job_id, lease_epoch)
        if rows:
            session.execute(insert(JobMetric), rows)
        session.add(_checkpoint(job_id, step, kind, data))
        job.step = max(job.step, step)
        job.epoch = max(job.epoch, epoch)


def complete(session: Session, job_id: uuid.UUID, lease_epoch: int, *, step: int,
             epoch: int, weights: bytes, metrics: Iterable[Point] = (),
             payload: Mapping[str, Any] | None = None) -> None:
    """The final transaction: the final weights (a `weights` checkpoint), the final
    metrics and the `succeeded` status commit together, or not at all."""
    rows = _metric_rows(job_id, metrics)
    with transaction(session, write=True):
        job = fenced(session, job_id, lease_epoch)
        if rows:
            session.execute(insert(JobMetric), rows)
        session.add(_checkpoint(job_id, step, WEIGHTS_KIND, weights))
        job.step = max(job.step, step)
        job.epoch = max(job.epoch, epoch)
        job_states.transition(session, job, JobStatus.SUCCEEDED,
                              payload={"epoch": lease_epoch, "step": step,
                                       **(payload or {})})
