"""All queue SQL in one place: the statements behind claim, lease, fencing and reaping.

Every statement here is built for both databases. `with_for_update(...)` renders
`FOR UPDATE [SKIP LOCKED]` on PostgreSQL and nothing on SQLite, where the caller's
write transaction (`BEGIN IMMEDIATE`) already holds the database's single write lock,
which makes select-then-update atomic there.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Delete, Select, Update, delete, false, func, or_, select, update

from app.models import Job, JobCheckpoint, JobMetric, JobStatus

RUNNING = JobStatus.RUNNING.value
QUEUED = JobStatus.QUEUED.value


def servable_spec_devices(devices: Collection[str]) -> tuple[str, ...]:
    """The spec `device` values a worker with `devices` may run: `auto` and `cpu`
    always (every worker has a CPU), `cuda` only on a worker that has one."""
    allowed = {"auto", "cpu"}
    if "cuda" in devices:
        allowed.add("cuda")
    return tuple(sorted(allowed))


def next_claimable(devices: Collection[str]) -> Select[tuple[Job]]:
    """The next queued job this worker can serve, locked (PostgreSQL: SKIP LOCKED, so
    concurrent claimers take different jobs). Served by the partial `ix_jobs_queue`."""
    device = Job.spec["device"].as_string()
    return (
        select(Job)
        .where(Job.status == QUEUED, Job.cancel_requested == false(),
               or_(device.is_(None), device.in_(servable_spec_devices(devices))))
        .order_by(Job.priority.desc(), Job.created_at, Job.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def fenced_row(job_id: uuid.UUID, epoch: int) -> Select[tuple[Job]]:
    """The job row iff `epoch` still holds its lease, locked until the writer commits
    (a reaper or a new claim waits for it, and then sees a new epoch or status)."""
    return (
        select(Job)
        .where(Job.id == job_id, Job.lease_epoch == epoch, Job.status == RUNNING)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


PROGRESS_COLUMNS = frozenset({"step", "epoch", "samples_per_second", "eta_at"})


def renew(job_id: uuid.UUID, epoch: int, expires_at: datetime,
          progress: Mapping[str, Any] | None = None) -> Update:
    """Extend a held lease, with the job's `progress` (columns of PROGRESS_COLUMNS);
    RETURNING `cancel_requested` (no row: the lease is lost)."""
    values: dict[str, Any] = {"lease_expires_at": expires_at}
    for column, value in (progress or {}).items():
        if column not in PROGRESS_COLUMNS:
            raise ValueError(f"{column!r} is not a progress column")
        values[column] = value
    return (
        update(Job)
        .where(Job.id == job_id, Job.lease_epoch == epoch, Job.status == RUNNING)
        .values(**values)
        .returning(Job.cancel_requested)
    )


def expired_leases(now: datetime, limit: int) -> Select[tuple[Job]]:
    """Running jobs whose lease ran out, locked and skipping rows a live writer holds.
    Served by `ix_jobs_status_lease_expires_at`."""
    return (
        select(Job)
        .where(Job.status == RUNNING, Job.lease_expires_at < now)
        .order_by(Job.lease_expires_at, Job.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def latest_checkpoint_step(job_id: uuid.UUID) -> Select[tuple[int | None]]:
    return select(func.max(JobCheckpoint.step)).where(JobCheckpoint.job_id == job_id)


def delete_metrics_after(job_id: uuid.UUID, step: int | None) -> Delete:
    """Metrics a resumed job will record again: above its checkpoint (all of them when
    it has none), so a replayed step never collides with the (job, name, step) key."""
    stmt = delete(JobMetric).where(JobMetric.job_id == job_id)
    if step is not None:
        stmt = stmt.where(JobMetric.step > step)
    return stmt
