"""Fenced worker writes that `app.queue` lacks: checkpoints (with retention and the job's
progress), lifecycle events, and the final transaction (weights, final metrics and
`succeeded` together).

Like `app.queue.lease`, every function opens its own write transaction; pass a session
with no transaction in progress. A lost lease raises `LeaseLost` and writes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from app.config import default_of
from app.db import transaction
from app.models import JobCheckpoint, JobMetric, JobStatus, utcnow
from app.queue.lease import fenced, metric_rows
from app.services import job_states
from app.services.job_outputs import RESUMABLE_KINDS, WEIGHTS_KIND

Point = tuple[str, int, float]
DEFAULT_KEEP: int = default_of("checkpoints_kept")  # type: ignore[assignment]


def _checkpoint(job_id: uuid.UUID, step: int, epoch: int, kind: str, data: bytes,
                metrics: Mapping[str, float], score: float | None) -> JobCheckpoint:
    return JobCheckpoint(job_id=job_id, step=step, epoch=epoch, kind=kind,
                         sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data),
                         data=data, metrics=dict(metrics), score=score,
                         created_at=utcnow())


def _retain(session: Session, job_id: uuid.UUID, keep: int) -> list[int]:
    """Delete resumable checkpoints beyond the latest `keep` and the best (lowest
    score); returns the steps deleted."""
    rows = session.execute(
        select(JobCheckpoint.id, JobCheckpoint.step, JobCheckpoint.score)
        .where(JobCheckpoint.job_id == job_id, JobCheckpoint.kind.in_(RESUMABLE_KINDS))
        .order_by(JobCheckpoint.step.desc(), JobCheckpoint.id.desc())).all()
    scored = [r for r in rows if r.score is not None]
    best = min(scored, key=lambda r: (r.score, -r.step)).id if scored else None
    doomed = [r for r in rows[keep:] if r.id != best]
    if doomed:
        session.execute(delete(JobCheckpoint).where(
            JobCheckpoint.id.in_([r.id for r in doomed])))
    return sorted(r.step for r in doomed)


def save_checkpoint(session: Session, job_id: uuid.UUID, lease_epoch: int, *, step: int,
                    epoch: int, data: bytes, kind: str = "epoch",
                    metrics: Iterable[Point] = (), summary: Mapping[str, float] | None = None,
                    score: float | None = None, keep: int = DEFAULT_KEEP) -> None:
    """In one fenced transaction: store a checkpoint (bytes with their SHA-256, its
    step, epoch, `summary` metrics and retention `score`), any pending metric points,
    the job's progress and a `checkpoint_saved` event, and delete the checkpoints
    retention no longer keeps (the latest `keep` plus the best score)."""
    rows = metric_rows(job_id, metrics)
    with transaction(session, write=True):
        job = fenced(session, job_id, lease_epoch)
        if rows:
            session.execute(insert(JobMetric.__table__), rows)
        record = _checkpoint(job_id, step, epoch, kind, data, summary or {}, score)
        session.add(record)
        session.flush()
        deleted = _retain(session, job_id, keep)
        job.step = max(job.step, step)
        job.epoch = max(job.epoch, epoch)
        session.add(job_states.event_of(job, "checkpoint_saved", {
            "epoch": lease_epoch, "step": step, "training_epoch": epoch, "kind": kind,
            "sha256": record.sha256, "size_bytes": record.size_bytes,
            "deleted_steps": deleted}))


def record_event(session: Session, job_id: uuid.UUID, lease_epoch: int, type_: str,
                 payload: Mapping[str, Any]) -> None:
    """A lifecycle event of the leased job (fenced), e.g. `resumed`; its payload's
    `epoch` is the lease epoch, as in every event a worker writes."""
    with transaction(session, write=True):
        job = fenced(session, job_id, lease_epoch)
        session.add(job_states.event_of(job, type_, {**payload, "epoch": lease_epoch}))


def complete(session: Session, job_id: uuid.UUID, lease_epoch: int, *, step: int,
             epoch: int, weights: bytes, metrics: Iterable[Point] = (),
             summary: Mapping[str, float] | None = None, score: float | None = None,
             payload: Mapping[str, Any] | None = None) -> None:
    """The final transaction: the final weights (a `weights` checkpoint), the final
    metrics and the `succeeded` status commit together, or not at all. An
    `early_stopped` payload also records an `early_stopped` event."""
    rows = metric_rows(job_id, metrics)
    with transaction(session, write=True):
        job = fenced(session, job_id, lease_epoch)
        if rows:
            session.execute(insert(JobMetric.__table__), rows)
        session.add(_checkpoint(job_id, step, epoch, WEIGHTS_KIND, weights, summary or {},
                                score))
        job.step = max(job.step, step)
        job.epoch = max(job.epoch, epoch)
        job.eta_at = None
        if payload and payload.get("early_stopped"):
            session.add(job_states.event_of(job, "early_stopped",
                                            {**payload, "epoch": lease_epoch}))
        job_states.transition(session, job, JobStatus.SUCCEEDED,
                              payload={"epoch": lease_epoch, "step": step,
                                       **(payload or {})})
