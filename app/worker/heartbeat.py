"""The lease heartbeat: a thread that renews a running job's lease every `interval_s`
seconds, whatever the training loop is doing (a long step, a slow checkpoint), and
publishes the job's progress (step, epoch, throughput, ETA) with each renewal.

It never stops training itself: it records what it learned in `state` (`lost`,
`cancel_requested`), and the training loop acts on it between steps. It uses its own
database session, so it never shares a connection with the training thread.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.models import utcnow
from app.observability import logs
from app.queue import LeaseState, renew_lease, worker_heartbeat

log = logging.getLogger("trainforge.worker")


@dataclass(frozen=True)
class Progress:
    step: int
    epoch: int
    total_steps: int
    samples_per_second: float | None


class Heartbeat(threading.Thread):
    """`with Heartbeat(db, job_id, epoch, ...) as beat:` renews until the block ends."""

    def __init__(self, db: Database, job_id: uuid.UUID, lease_epoch: int, *,
                 lease_s: float, interval_s: float, worker_id: str | None = None) -> None:
        super().__init__(name=f"heartbeat-{job_id}", daemon=True)
        self.db, self.job_id, self.lease_epoch = db, job_id, lease_epoch
        self.lease_s, self.interval_s, self.worker_id = lease_s, interval_s, worker_id
        self.state = LeaseState.OK
        self.beats = 0
        self._progress: Progress | None = None
        self._since = time.monotonic()
        self._start_step: int | None = None
        self._done = threading.Event()

    def report(self, progress: Progress) -> None:
        """Called by the training loop (cheap: the next beat writes it)."""
        if self._start_step is None:
            self._start_step, self._since = progress.step, time.monotonic()
        self._progress = progress

    def run(self) -> None:
        session = self.db.session()
        context = logs.bind(job_id=str(self.job_id), worker_id=self.worker_id)
        try:
            while not self._done.wait(self.interval_s):
                if not self.beat(session):
                    return
        finally:
            context.reset()
            session.close()

    def beat(self, session) -> bool:  # noqa: ANN001 - a Session
        """Renew once; False when the lease is gone (nothing more to renew)."""
        progress = self._progress
        values = self._progress_values(progress) if progress is not None else {}
        try:
            state = renew_lease(session, self.job_id, self.lease_epoch,
                                lease_s=self.lease_s, progress=values)
            if self.worker_id is not None:
                worker_heartbeat(session, self.worker_id)
        except SQLAlchemyError as exc:  # database unreachable: keep trying until expiry
            log.warning("heartbeat of job %s failed: %s", self.job_id, exc)
            session.rollback()
            return True
        self.beats += 1
        if state != LeaseState.OK:
            self.state = state
        return state != LeaseState.LOST

    def _progress_values(self, progress: Progress) -> dict[str, object]:
        values: dict[str, object] = {"step": progress.step, "epoch": progress.epoch,
                                     "samples_per_second": progress.samples_per_second}
        done = progress.step - (self._start_step or 0)
        elapsed = time.monotonic() - self._since
        if done > 0 and elapsed > 0:
            left = max(progress.total_steps - progress.step, 0)
            values["eta_at"] = utcnow() + timedelta(seconds=left * elapsed / done)
        return values

    def __enter__(self) -> Heartbeat:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self.join(timeout=max(self.interval_s, 5.0))
