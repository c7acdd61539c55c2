"""The worker process: register, then reap / claim / train until stopped.

SIGTERM or SIGINT sets the stop event: no further claim is made, and the running job's
lease is released at its next step (re-queued without counting the attempt).
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

from app.db import Database
from app.queue import (
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    claim,
    reap,
    register_worker,
    worker_heartbeat,
)
from app.worker.runner import Outcome, run_job

log = logging.getLogger("trainforge.worker")


def resolve_device(device: str) -> str:
    """`auto`: cuda when the engine has one, else cpu."""
    if device != "auto":
        return device
    import engine

    cuda = getattr(engine, "cuda", None)
    return "cuda" if cuda is not None and cuda.is_available() else "cpu"


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        log.info("signal %s: stopping after releasing the current job", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_worker(db: Database, *, name: str = "worker", device: str = "cpu",
               poll_s: float = 0.5, once: bool = False, lease_s: float = DEFAULT_LEASE_S,
               max_attempts: int = DEFAULT_MAX_ATTEMPTS,
               stop: threading.Event | None = None) -> dict[Outcome, int]:
    """Work until `stop` is set (or, with `once`, until the queue is empty). Returns how
    many jobs ended each way."""
    stop = stop or threading.Event()
    device = resolve_device(device)
    devices = ["cpu", "cuda"] if device == "cuda" else ["cpu"]
    counts: dict[Outcome, int] = {}
    session = db.session()
    try:
        worker_id = register_worker(session, name, device=device)
        log.info("worker %s on %s", worker_id, device)
        while not stop.is_set():
            reaped = reap(session, max_attempts)
            if reaped.total:
                log.info("reaped %d expired leases", reaped.total)
            worker_heartbeat(session, worker_id)
            job = claim(session, worker_id, devices, lease_s=lease_s)
            if job is None:
                if once:
                    break
                stop.wait(poll_s)
                continue
            log.info("claimed job %s (attempt %d)", job.job_id, job.attempt)
            outcome = run_job(session, job, device=device, lease_s=lease_s, stop=stop,
                              worker_id=worker_id)
            log.info("job %s: %s", job.job_id, outcome)
            counts[outcome] = counts.get(outcome, 0) + 1
    finally:
        session.close()
    return counts
