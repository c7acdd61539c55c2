"""How a job's training loop learns to stop: outcomes, the control-flow exceptions, and
the loop's view of its lease (stop / lost / cancel between steps, metric points
buffered and handed to the background writer)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from sqlalchemy.orm import Session

from app.models import JobStatus
from app.queue import ClaimedJob, LeaseState, finish, release
from app.queue import write_metrics as queue_write_metrics
from app.worker.heartbeat import Heartbeat
from app.worker.writer import BackgroundWriter

METRIC_BATCH = 300  # step points buffered before a fenced write ...
METRIC_FLUSH_S = 2.0  # ... or this many seconds after the oldest one

class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # the lease went away: nothing more was written
    RELEASED = "released"  # stopped (SIGTERM): lease given back


class Stop(Exception):  # noqa: N818 - control flow out of the training loop
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class Fail(Exception):  # noqa: N818
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class TrainingLease:
    """The training thread's view of its lease: stop / lost / cancel between steps, and
    metric points buffered, then handed to the background writer."""

    session: Session
    job: ClaimedJob
    heartbeat: Heartbeat
    writer: BackgroundWriter
    stop: threading.Event
    pending: list[tuple[str, int, float]] = field(default_factory=list)
    oldest: float = 0.0

    def check(self, on_stop: Callable[[], None] | None = None) -> None:
        """Between steps: raise `Stop` on stop / lost / cancel (`on_stop` runs first
        on stop: the stop checkpoint), or the error of a background write; hand over
        metrics that waited long enough."""
        self.writer.check()
        if self.stop.is_set():
            self.writer.drain()
            if on_stop is not None:
                on_stop()
            self.flush(wait=True)
            release(self.session, self.job.job_id, self.job.lease_epoch)
            raise Stop(Outcome.RELEASED)
        state = self.heartbeat.state
        if state == LeaseState.LOST:
            raise Stop(Outcome.LOST)
        if state == LeaseState.CANCEL_REQUESTED:
            self.writer.drain()
            self.flush(wait=True)
            finish(self.session, self.job.job_id, self.job.lease_epoch, JobStatus.CANCELLED)
            raise Stop(Outcome.CANCELLED)
        if self.pending and time.monotonic() - self.oldest > METRIC_FLUSH_S:
            self.flush()

    def add(self, name: str, step: int, value: float) -> None:
        if not self.pending:
            self.oldest = time.monotonic()
        self.pending.append((name, step, value))
        if len(self.pending) >= METRIC_BATCH:
            self.flush()

    def flush(self, *, wait: bool = False) -> None:
        """Write the buffered points: in the background, or here after what the writer
        holds (`wait`)."""
        points = self.take()
        if not points:
            return
        job_id, epoch = self.job.job_id, self.job.lease_epoch
        if wait:
            self.writer.drain()
            queue_write_metrics(self.session, job_id, epoch, points)
        else:
            self.writer.submit(lambda s: queue_write_metrics(s, job_id, epoch, points))

    def take(self) -> list[tuple[str, int, float]]:
        points, self.pending = self.pending, []
        return points
