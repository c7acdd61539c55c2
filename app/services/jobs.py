"""Jobs: read one (with queue position and latest metrics), list, cancel.

Submission is in `app.services.job_submit`; status changes go through
`app.services.job_states`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    func,
    literal_column,
    select,
    tuple_,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session, aliased

from app.db import HotRead, transaction
from app.errors import Conflict, NotFound
from app.models import ApiKey, Job, JobMetric, JobStatus
from app.services import job_states, keys
from app.services.pagination import keyset_page

NOT_FOUND = "job not found"
# Literal 'queued' (not a bound parameter), so PostgreSQL matches the partial index
# `ix_jobs_queue` even in generic prepared plans.
QUEUED = literal_column("'queued'")


@dataclass(frozen=True)
class JobView:
    job: Any  # a Job, or a row of the jobs table (same attribute names) on the read path
    queue_position: int | None = None
    latest_metrics: dict[str, tuple[int, float]] = field(default_factory=dict)


def position_of_outer_job() -> ColumnElement[int | None]:
    """1 + the queued jobs a worker claims before the outer `jobs` row, None unless it is
    queued. Claim order is priority (high first), then submission time, then id, over
    all teams: two index range scans of `ix_jobs_queue`, each as long as the answer."""
    ahead = aliased(Job, name="ahead")

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return (select(func.count()).select_from(ahead)
                .where(ahead.status == QUEUED, condition).correlate(Job).scalar_subquery())

    higher = count(ahead.priority > Job.priority)
    earlier = count(and_(ahead.priority == Job.priority,
                         tuple_(ahead.created_at, ahead.id) < tuple_(Job.created_at, Job.id)))
    return case((Job.status == QUEUED, 1 + higher + earlier), else_=None)


def position_of_new_job() -> ColumnElement[int]:
    """The queue position of a job queued with the bound `new_priority`, `new_created_at`
    and `new_id` (not counting itself): for the RETURNING clause of its INSERT."""
    ahead = aliased(Job, name="ahead")

    def count(condition: ColumnElement[bool]) -> ColumnElement[int]:
        return (select(func.count()).select_from(ahead)
                .where(ahead.status == QUEUED, condition).scalar_subquery())

    priority = bindparam("new_priority", type_=Job.priority.type)
    higher = count(ahead.priority > priority)
    earlier = count(and_(ahead.priority == priority, tuple_(ahead.created_at, ahead.id) < tuple_(
        bindparam("new_created_at", type_=Job.created_at.type),
        bindparam("new_id", type_=Job.id.type))))
    return 1 + higher + earlier


# Statements built once, with bound parameters: the reads below run on every poll, and
# building a statement costs more than running it.
_POSITION = position_of_outer_job()
_JOB = select(Job).where(Job.id == bindparam("job_id"), Job.team_id == bindparam("team_id"))
_JOB_LOCKED = _JOB.with_for_update()
_POSITION_OF = select(_POSITION).where(Job.id == bindparam("job_id"))
_last_steps = (select(JobMetric.name, func.max(JobMetric.step).label("step"))
               .where(JobMetric.job_id == bindparam("job_id")).group_by(JobMetric.name)
               .subquery())
_LATEST_METRICS = (select(JobMetric.name, JobMetric.step, JobMetric.value)
                   .join(_last_steps, and_(JobMetric.name == _last_steps.c.name,
                                           JobMetric.step == _last_steps.c.step))
                   .where(JobMetric.job_id == bindparam("job_id")))


# The columns a job's API view reads (`app.schemas.jobs.JobOut`): fewer columns, less
# per-row work in the driver and SQLAlchemy.
_VIEW_COLUMNS = [Job.__table__.c[name] for name in (
    "id", "name", "labels", "status", "cancel_requested", "priority", "dataset_id",
    "validation_dataset_id", "step", "total_steps", "epoch", "eta_at", "samples_per_second",
    "attempts", "error_code", "error_message", "created_at", "started_at", "finished_at",
    "spec")]
# One statement per poll: the caller's key (with its team) outer-joined to the job of
# that team, with its queue position. No row: the key is unknown or revoked (401); a row
# without a job: no such job for this team (404, the same for another team's job).
_AUTH_AND_JOB = HotRead(
    select(*keys.AUTH_COLUMNS, *_VIEW_COLUMNS, _POSITION.label("queue_position"))
    .select_from(keys.AUTH_FROM.outerjoin(Job, and_(Job.id == bindparam("job_id"),
                                                    Job.team_id == ApiKey.team_id)))
    .where(keys.AUTH_WHERE))
_HOT_LATEST_METRICS = HotRead(_LATEST_METRICS)


def read_job(engine: Engine, presented: str | None, job_id: uuid.UUID, *,
             touch_interval_s: float) -> JobView:
    """`GET /v1/jobs/{id}` for the holder of API key `presented`: authentication, the job,
    its queue position and (for a job that ran) its latest metrics, in one statement or
    two. Unauthorized for a bad key, NotFound for a job the key's team does not own."""
    digest = keys.digest_of(presented)
    row = _AUTH_AND_JOB.first(engine, {"digest": digest, "job_id": job_id})
    found = row is not None and row.id is not None
    metrics: dict[str, tuple[int, float]] = {}
    if found and not _never_ran(row):
        metrics = {r.name: (r.step, r.value)
                   for r in _HOT_LATEST_METRICS.rows(engine, {"job_id": row.id})}
    keys.principal_of(engine, row, digest, touch_interval_s=touch_interval_s)
    if not found:
        raise NotFound(NOT_FOUND)
    return JobView(row, row.queue_position, metrics)


def load_job(session: Session, team_id: uuid.UUID, job_id: uuid.UUID, *,
             lock: bool = False) -> Job:
    """The team's job (call inside a transaction); NotFound for another team's."""
    job = session.scalar(_JOB_LOCKED if lock else _JOB, {"job_id": job_id, "team_id": team_id})
    if job is None:
        raise NotFound(NOT_FOUND)
    return job


def view_of(session: Session, job: Job) -> JobView:
    """The job with its queue position and latest metrics (inside a transaction)."""
    return JobView(job, queue_position(session, job), latest_metrics(session, job))


def queue_position(session: Session, job: Job) -> int | None:
    """1 for the next job a worker will claim; None unless queued."""
    if job.status != JobStatus.QUEUED:
        return None
    session.flush()
    return session.scalar(_POSITION_OF, {"job_id": job.id})


def _never_ran(job: Any) -> bool:
    return job.status == JobStatus.QUEUED and job.attempts == 0


def latest_metrics(conn: Session | Connection, job: Any) -> dict[str, tuple[int, float]]:
    """{name: (step, value)} at each metric's latest step."""
    if _never_ran(job):
        return {}  # nothing recorded yet
    rows = conn.execute(_LATEST_METRICS, {"job_id": job.id})
    return {name: (step, value) for name, step, value in rows}


def list_jobs(session: Session, team_id: uuid.UUID, *, statuses: Sequence[str],
              labels: Sequence[tuple[str, str]], limit: int, cursor: str | None
              ) -> tuple[Sequence[Job], str | None]:
    """The team's jobs, newest first, with every given label and any given status."""
    stmt = select(Job).where(Job.team_id == team_id)
    if statuses:
        stmt = stmt.where(Job.status.in_(sorted(set(statuses))))
    for key, value in labels:
        stmt = stmt.where(Job.labels[key].as_string() == value)
    with transaction(session):
        return keyset_page(session, stmt, Job.created_at, Job.id, limit=limit, cursor=cursor)


def cancel_job(session: Session, team_id: uuid.UUID, job_id: uuid.UUID) -> JobView:
    """Cancel: a queued job at once; a running one is flagged `cancel_requested` (its
    worker stops it). Idempotent; 409 `job_finished` for a succeeded or failed job."""
    with transaction(session, write=True):
        job = load_job(session, team_id, job_id, lock=True)
        if job.status == JobStatus.QUEUED:
            job_states.transition(session, job, JobStatus.CANCELLED, event="cancelled",
                                  payload={"by": "user"})
        elif job.status == JobStatus.RUNNING and not job.cancel_requested:
            job.cancel_requested = True
            session.add(job_states.event_of(job, "cancel_requested", {"by": "user"}))
        elif job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED):
            raise Conflict(f"the job already {job.status}; only a queued or running job can "
                           "be cancelled", code="job_finished")
        session.flush()
        return view_of(session, job)
