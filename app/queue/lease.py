"""The queue: workers, claims, leases, fenced writes, release and the reaper.

Every function opens its own write transaction (`transaction(session, write=True)`), so
pass a session with no transaction in progress. Status changes go through
`app.services.job_states.transition` on rows locked by the statements in `sql.py`.

Leases are fenced by `jobs.lease_epoch`: each claim increments it, and every worker
write (`write_metrics`, `finish`, `release`; `renew_lease` likewise) first locks the
row and checks that it is still running under the worker's epoch (`fenced`). A worker
that lost its lease (reaped, re-claimed, cancelled) therefore writes nothing: it gets
`LeaseLost` and must stop.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from app.config import default_of
from app.db import transaction
from app.errors import Conflict
from app.models import Job, JobMetric, JobStatus, Worker, utcnow
from app.queue import sql
from app.queue.wakeup import notify_queued
from app.services import job_states

DEFAULT_LEASE_S: float = default_of("lease_seconds")  # type: ignore[assignment]
DEFAULT_MAX_ATTEMPTS: int = default_of("max_attempts")  # type: ignore[assignment]
REAP_BATCH = 500
WORKER_DEVICES = ("cpu", "cuda")
FINISH_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)


class LeaseLost(Conflict):
    """The worker's lease on a job is gone (another epoch holds it, or it is no longer
    running). The worker must stop working on the job without writing anything."""

    code = "lease_lost"

    def __init__(self, job_id: uuid.UUID, epoch: int) -> None:
        super().__init__(f"lease epoch {epoch} of job {job_id} is no longer held")
        self.job_id, self.epoch = job_id, epoch


class LeaseState(StrEnum):
    OK = "ok"
    LOST = "lost"
    CANCEL_REQUESTED = "cancel_requested"


@dataclass(frozen=True)
class ClaimedJob:
    job_id: uuid.UUID
    lease_epoch: int
    spec: dict[str, Any]
    attempt: int
    lease_expires_at: datetime
    resumed: bool = False  # the job ran before; continue from `checkpoint_step`
    checkpoint_step: int | None = None  # latest checkpoint's step (None: start over)


@dataclass
class ReapCounts:
    requeued: int = 0
    failed: int = 0
    cancelled: int = 0
    job_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.requeued + self.failed + self.cancelled


# --- workers -------------------------------------------------------------------------

def register_worker(session: Session, name: str, host: str | None = None,
                    device: str = "cpu") -> str:
    """Record a starting worker; returns its id (what `jobs.worker_id` will hold)."""
    if device not in WORKER_DEVICES:
        raise ValueError(f"device must be one of {WORKER_DEVICES}, not {device!r}")
    now = utcnow()
    worker = Worker(id=f"{name}-{uuid.uuid4().hex[:12]}"[:200], name=name[:200],
                    host=(host or socket.gethostname())[:255], device=device,
                    started_at=now, heartbeat_at=now)
    with transaction(session, write=True):
        session.add(worker)
    return worker.id


def worker_heartbeat(session: Session, worker_id: str, *, now: datetime | None = None
                     ) -> bool:
    """Refresh a worker's `heartbeat_at`; False when the worker row is unknown."""
    with transaction(session, write=True):
        result = session.execute(update(Worker).where(Worker.id == worker_id)
                                 .values(heartbeat_at=now or utcnow()))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- claim and lease -----------------------------------------------------------------

def claim(session: Session, worker_id: str, devices: Collection[str], *,
          lease_s: float = DEFAULT_LEASE_S, now: datetime | None = None,
          device: str | None = None) -> ClaimedJob | None:
    """Take the next queued job this worker can serve (priority DESC, then oldest), in
    one transaction: running, leased to `worker_id`, `lease_epoch` and `attempts` + 1, a
    `claimed` event. A resumed job (it ran before) loses its metrics above its latest
    checkpoint in the same transaction. `device` (where the worker trains, e.g.
    `cuda:0`) is recorded in the event. None when nothing is claimable."""
    now = now or utcnow()
    expires = now + timedelta(seconds=lease_s)
    with transaction(session, write=True):
        job = session.execute(sql.next_claimable(devices)).scalar_one_or_none()
        if job is None:
            return None
        resumed = job.started_at is not None
        checkpoint_step = None
        if resumed:
            checkpoint_step = session.execute(sql.latest_checkpoint_step(job.id)).scalar()
            session.execute(sql.delete_metrics_after(job.id, checkpoint_step))
            job.step = checkpoint_step or 0
        job.lease_epoch += 1
        job.attempts += 1
        job.worker_id = worker_id
        job.lease_expires_at = expires
        job_states.transition(session, job, JobStatus.RUNNING, event="claimed", now=now,
                              payload={"worker_id": worker_id, "device": device,
                                       "epoch": job.lease_epoch,
                                       "attempt": job.attempts, "resumed": resumed,
                                       "checkpoint_step": checkpoint_step})
        return ClaimedJob(job_id=job.id, lease_epoch=job.lease_epoch, spec=dict(job.spec),
                          attempt=job.attempts, lease_expires_at=expires, resumed=resumed,
                          checkpoint_step=checkpoint_step)


def renew_lease(session: Session, job_id: uuid.UUID, epoch: int, *,
                lease_s: float = DEFAULT_LEASE_S, now: datetime | None = None,
                progress: Mapping[str, Any] | None = None) -> LeaseState:
    """Heartbeat a held lease (fenced), recording the job's `progress` (step, epoch,
    samples_per_second, eta_at). `cancel_requested`: stop, then `finish(...,
    cancelled)`; `lost`: stop at once and write nothing."""
    expires = (now or utcnow()) + timedelta(seconds=lease_s)
    with transaction(session, write=True):
        row = session.execute(sql.renew(job_id, epoch, expires, progress)).first()
    if row is None:
        return LeaseState.LOST
    return LeaseState.CANCEL_REQUESTED if row[0] else LeaseState.OK


def fenced(session: Session, job_id: uuid.UUID, epoch: int) -> Job:
    """Inside a write transaction: lock the job row and check that `epoch` still holds
    its lease (running, same epoch); returns the row. Raises `LeaseLost` otherwise, so
    the caller's transaction rolls back and nothing it wrote is kept."""
    job = session.execute(sql.fenced_row(job_id, epoch)).scalar_one_or_none()
    if job is None:
        raise LeaseLost(job_id, epoch)
    return job


# --- fenced worker writes ------------------------------------------------------------

def metric_rows(job_id: uuid.UUID, points: Iterable[tuple[str, int, float]]
                ) -> list[dict[str, object]]:
    """`job_metrics` rows for (name, step, value) points, stamped now."""
    now = utcnow()
    return [{"job_id": job_id, "name": name, "step": int(step), "value": float(value),
             "created_at": now} for name, step, value in points]


def write_metrics(session: Session, job_id: uuid.UUID, epoch: int,
                  points: Iterable[tuple[str, int, float]]) -> int:
    """Insert a batch of (name, step, value) points under the lease (plain INSERT: a
    step is never written twice, since a resume first drops what follows its
    checkpoint). Returns the number of points written."""
    rows = metric_rows(job_id, points)
    with transaction(session, write=True):
        job = fenced(session, job_id, epoch)
        if rows:
            session.execute(insert(JobMetric.__table__), rows)
            job.step = max(job.step, max(r["step"] for r in rows))
    return len(rows)


def finish(session: Session, job_id: uuid.UUID, epoch: int, status: JobStatus | str,
           error_code: str | None = None, message: str | None = None) -> None:
    """End a leased job as succeeded, failed or cancelled (fenced; via job_states)."""
    target = JobStatus(status)
    if target not in FINISH_STATUSES:
        raise ValueError(f"a job finishes as one of {[s.value for s in FINISH_STATUSES]}")
    with transaction(session, write=True):
        job = fenced(session, job_id, epoch)
        if error_code is not None:
            job.error_code = error_code
        if message is not None:
            job.error_message = message
        payload: dict[str, Any] = {"epoch": epoch}
        if error_code:
            payload.update(error_code=error_code, message=(message or "")[:500])
        job_states.transition(session, job, target, payload=payload)


def release(session: Session, job_id: uuid.UUID, epoch: int) -> JobStatus:
    """SIGTERM path: give the lease back (fenced). The job is re-queued without counting
    the attempt (the claim's increment is undone); a job whose cancel was requested ends
    cancelled instead. Returns the job's new status."""
    with transaction(session, write=True):
        job = fenced(session, job_id, epoch)
        if job.cancel_requested:
            job_states.transition(session, job, JobStatus.CANCELLED, event="cancelled",
                                  payload={"by": "release", "epoch": epoch})
            return JobStatus.CANCELLED
        job.attempts = max(job.attempts - 1, 0)
        job_states.transition(session, job, JobStatus.QUEUED, event="released",
                              payload={"epoch": epoch})
        notify_queued(session)
        return JobStatus.QUEUED


# --- reaper --------------------------------------------------------------------------

def reap(session: Session, max_attempts: int = DEFAULT_MAX_ATTEMPTS, *,
         now: datetime | None = None, limit: int = REAP_BATCH) -> ReapCounts:
    """Rescue running jobs whose lease expired (at most `limit` per call): a job whose
    cancel was requested ends cancelled (never resurrected); one that has used
    `max_attempts` attempts fails with `worker_lost`; any other goes back to the queue
    (`lease_expired` event) to resume from its last checkpoint. Rows a live writer has
    locked are skipped (their lease is being renewed or the job finished)."""
    now = now or utcnow()
    counts = ReapCounts()
    with transaction(session, write=True):
        for job in session.execute(sql.expired_leases(now, limit)).scalars():
            payload = {"by": "reaper", "worker_id": job.worker_id, "epoch": job.lease_epoch,
                       "attempt": job.attempts}
            if job.cancel_requested:
                job_states.transition(session, job, JobStatus.CANCELLED, event="cancelled",
                                      payload=payload, now=now)
                counts.cancelled += 1
            elif job.attempts >= max_attempts:
                job.error_code = "worker_lost"
                job.error_message = (f"the job's worker was lost {job.attempts} times "
                                     f"(lease expired); giving up after {max_attempts} "
                                     "attempts")
                job_states.transition(session, job, JobStatus.FAILED, now=now,
                                      payload={**payload, "error_code": "worker_lost"})
                counts.failed += 1
            else:
                job_states.transition(session, job, JobStatus.QUEUED, event="lease_expired",
                                      payload=payload, now=now)
                counts.requeued += 1
            counts.job_ids.append(job.id)
        if counts.requeued:
            notify_queued(session)
    return counts
