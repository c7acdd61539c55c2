"""The worker aggregate: one row per running worker process (registration and liveness).

`jobs.worker_id` holds a worker's `id` (no foreign key: a job's history outlives the
worker row). `heartbeat_at` is refreshed by `app.queue.worker_heartbeat`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from app.models.base import Base, utcnow


class Worker(Base):
    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(255))
    device: Mapped[str] = mapped_column(String(16))  # "cpu" or "cuda"
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
