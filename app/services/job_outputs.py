"""What workers produce for a job, as the API reads it: metric series (downsampled in
SQL), lifecycle events, checkpoints and the final weights. Every read first checks that
the job belongs to the team (404 otherwise)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from app.db import transaction
from app.errors import BadRequest, Conflict, NotFound
from app.models import Job, JobCheckpoint, JobEvent, JobMetric, JobStatus
from app.services.jobs import load_job
from app.services.pagination import id_page

WEIGHTS_KIND = "weights"  # the checkpoint kind holding the final model's state dict
# Kinds a worker resumes from: {"model", "optimizer", "scheduler", "rng", "data"} state.
RESUMABLE_KINDS = ("periodic", "epoch", "stop")
BEST = "best"


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[int, float]]
    total_points: int

    @property
    def downsampled(self) -> bool:
        return len(self.points) < self.total_points


@dataclass(frozen=True)
class Weights:
    data: bytes
    sha256: str
    step: int


def job_metrics(session: Session, team_id: uuid.UUID, job_id: uuid.UUID, *,
                names: Sequence[str], min_step: int | None, max_step: int | None,
                max_points: int) -> list[Series]:
    """Each metric's points within [min_step, max_step], at most `max_points` per series:
    a longer series keeps `max_points` evenly spaced points, the first and last included."""
    with transaction(session):
        load_job(session, team_id, job_id)
        filters = [JobMetric.job_id == job_id]
        if names:
            filters.append(JobMetric.name.in_(sorted(set(names))))
        if min_step is not None:
            filters.append(JobMetric.step >= min_step)
        if max_step is not None:
            filters.append(JobMetric.step <= max_step)
        ranked = select(
            JobMetric.name, JobMetric.step, JobMetric.value,
            func.row_number().over(partition_by=JobMetric.name, order_by=JobMetric.step)
            .label("rn"),
            func.count().over(partition_by=JobMetric.name).label("n"),
        ).where(*filters).subquery()
        # Row i (0-based) of n is kept when floor(i * (N-1) / (n-1)) starts a new value:
        # exactly N rows, spread evenly. nullif keeps n = 1 from dividing by zero.
        keep = ((ranked.c.rn - 1) * (max_points - 1)) % func.nullif(ranked.c.n - 1, 0) \
            < max_points - 1
        rows = session.execute(
            select(ranked.c.name, ranked.c.step, ranked.c.value, ranked.c.n)
            .where(or_(ranked.c.n <= max_points, keep))
            .order_by(ranked.c.name, ranked.c.step)
        ).all()
    series: dict[str, Series] = {}
    for name, step, value, total in rows:
        series.setdefault(name, Series(name, [], int(total))).points.append((step, value))
    return list(series.values())


def job_events(session: Session, team_id: uuid.UUID, job_id: uuid.UUID, *, limit: int,
               cursor: str | None) -> tuple[Sequence[JobEvent], str | None]:
    with transaction(session):
        load_job(session, team_id, job_id)
        return id_page(session, select(JobEvent).where(JobEvent.job_id == job_id), JobEvent.id,
                       limit=limit, cursor=cursor)


def job_checkpoints(session: Session, team_id: uuid.UUID, job_id: uuid.UUID, *, limit: int,
                    cursor: str | None) -> tuple[Sequence[JobCheckpoint], str | None]:
    with transaction(session):
        load_job(session, team_id, job_id)
        stmt = select(JobCheckpoint).where(JobCheckpoint.job_id == job_id) \
            .options(defer(JobCheckpoint.data))
        return id_page(session, stmt, JobCheckpoint.id, limit=limit, cursor=cursor,
                       descending=True)


def job_weights(session: Session, team_id: uuid.UUID, job_id: uuid.UUID,
                checkpoint: str | None = None) -> Weights:
    """A model state dict as safetensors: the final weights (409 `weights_not_ready`
    until the job succeeded), or with `checkpoint` the best-scoring checkpoint (`best`)
    or the one at a step (`"1200"`); 404 when retention did not keep it."""
    with transaction(session):
        job: Job = load_job(session, team_id, job_id)
        stmt = (select(JobCheckpoint.data, JobCheckpoint.sha256, JobCheckpoint.step,
                       JobCheckpoint.kind)
                .where(JobCheckpoint.job_id == job_id, JobCheckpoint.data.is_not(None)))
        if checkpoint is None:
            stmt = stmt.where(JobCheckpoint.kind == WEIGHTS_KIND).order_by(
                JobCheckpoint.step.desc(), JobCheckpoint.id.desc())
        elif checkpoint == BEST:
            stmt = stmt.where(JobCheckpoint.score.is_not(None)).order_by(
                JobCheckpoint.score, JobCheckpoint.step.desc(),
                (JobCheckpoint.kind == WEIGHTS_KIND).desc())
        else:
            stmt = stmt.where(JobCheckpoint.step == _step_of(checkpoint)).order_by(
                (JobCheckpoint.kind == WEIGHTS_KIND).desc(), JobCheckpoint.id.desc())
        row = session.execute(stmt.limit(1)).first()
    if row is None:
        if checkpoint == BEST:
            raise NotFound("no checkpoint of this job has a validation score (it measures "
                           "no validation metric, or has not finished an epoch)",
                           code="checkpoint_not_found")
        if checkpoint is not None:
            raise NotFound(f"the job has no checkpoint at step {checkpoint} (retention keeps "
                           "the latest ones and the best; GET .../checkpoints lists them)",
                           code="checkpoint_not_found")
        hint = ("it failed" if job.status == JobStatus.FAILED else
                "it was cancelled" if job.status == JobStatus.CANCELLED else
                f"it is {job.status}: they are available once it succeeds")
        raise Conflict(f"the job has no weights yet: {hint}", code="weights_not_ready")
    data, sha256, step, kind = row
    if kind != WEIGHTS_KIND:  # a training checkpoint: keep only the model's state dict
        data = model_weights_of(data)
        sha256 = hashlib.sha256(data).hexdigest()
    return Weights(data=data, sha256=sha256, step=step)


def _step_of(checkpoint: str) -> int:
    if not checkpoint.isdigit() or len(checkpoint) > 18:
        raise BadRequest(f"checkpoint must be 'best' or a step number, not {checkpoint!r}",
                         code="bad_checkpoint")
    return int(checkpoint)


def model_weights_of(training_checkpoint: bytes) -> bytes:
    """The model state dict inside a training checkpoint, as its own safetensors file."""
    import engine

    state = engine.load(training_checkpoint)["model"]
    return engine.serialization.to_bytes(dict(state))
