"""The job aggregate: a training job and its metrics, events and checkpoints.

Schema only for now. Queue SQL (claim, heartbeat, reaper) belongs in `app/queue/`.
- Claim: `WHERE status = 'queued' ORDER BY priority DESC, created_at, id` is served by
  the partial index `ix_jobs_queue`; the reaper's `status = 'running' AND
  lease_expires_at < now` by `ix_jobs_status_lease_expires_at`.
- `dataset_id` is nullable with `ON DELETE SET NULL`: a dataset may be deleted once no
  queued or running job uses it (checked by the dataset service), and finished jobs
  keep their history.
- Every worker write is fenced by `lease_epoch` (incremented on each claim).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    desc,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, created_at, uuid_pk


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATUSES = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_STATUS_VALUES = ", ".join(f"'{s.value}'" for s in JobStatus)
_QUEUED = text("status = 'queued'")
# BIGINT that autoincrements on SQLite too (only INTEGER PRIMARY KEY is a rowid alias).
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUS_VALUES})", name="status"),
        UniqueConstraint("team_id", "idempotency_key"),
        Index("ix_jobs_queue", desc("priority"), "created_at", "id",
              postgresql_where=_QUEUED, sqlite_where=_QUEUED),
        Index(None, "status", "lease_expires_at"),
        Index(None, "team_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = uuid_pk()
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    dataset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True
    )
    validation_dataset_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("datasets.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    spec: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    cancel_requested: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    lease_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str | None] = mapped_column(String(64))  # SHA-256 of the request
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    step: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    total_steps: Mapped[int | None] = mapped_column(BigInteger)
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    eta_at: Mapped[datetime | None] = mapped_column()  # the worker's estimate of the end
    samples_per_second: Mapped[float | None] = mapped_column(Float)  # recent throughput
    created_at: Mapped[datetime] = created_at()
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()


class JobMetric(Base):
    """One value of one metric at one step; the key makes a replayed step idempotent."""

    __tablename__ = "job_metrics"
    __table_args__ = (UniqueConstraint("job_id", "name", "step"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    step: Mapped[int] = mapped_column(BigInteger)
    value: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = created_at()


class JobEvent(Base):
    __tablename__ = "job_events"
    __table_args__ = (Index(None, "job_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = created_at()


class JobCheckpoint(Base):
    """A checkpoint's bytes live in `data` or, for a file store, at `uri` (exactly one).

    `score` ranks checkpoints for retention (lower is better: the monitored validation
    metric, negated when higher is better); null when nothing was measured.
    """

    __tablename__ = "job_checkpoints"
    __table_args__ = (
        CheckConstraint("(data IS NULL) <> (uri IS NULL)", name="data_or_uri"),
        Index(None, "job_id", "step"),
    )

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))  # e.g. "periodic", "final"
    epoch: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))
    score: Mapped[float | None] = mapped_column(Float)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    uri: Mapped[str | None] = mapped_column(String(1024))
    created_at: Mapped[datetime] = created_at()
