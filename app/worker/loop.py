"""The worker process: register, then claim / train until stopped.

Idle, it waits for a job with LISTEN/NOTIFY on PostgreSQL (polling as the fallback,
and on SQLite). A background reaper returns jobs whose lease expired to the queue.
SIGTERM or SIGINT sets the stop event: no further claim is made, and the running job
is checkpointed and its lease released at its next step (re-queued without counting
the attempt). A second signal exits at once.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from app.config import Settings, default_of
from app.db import Database
from app.observability import logs
from app.queue import (
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    claim,
    register_worker,
    worker_heartbeat,
)
from app.queue.reaper import Reaper
from app.queue.wakeup import Waiter
from app.worker.runner import Outcome, RunSettings, run_job

log = logging.getLogger("trainforge.worker")
DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:[0-9]{1,3})?)$")


@dataclass(frozen=True)
class WorkerSettings:
    """A worker's configuration; `from_settings` reads the service's `Settings`."""

    name: str = "worker"
    device: str = "cpu"  # "auto", "cpu", "cuda" or "cuda:K"
    poll_s: float = default_of("poll_seconds")  # type: ignore[assignment]
    lease_s: float = DEFAULT_LEASE_S
    heartbeat_s: float = default_of("heartbeat_seconds")  # type: ignore[assignment]
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    reap_interval_s: float = default_of("reap_interval_seconds")  # type: ignore[assignment]
    checkpoints_kept: int = default_of("checkpoints_kept")  # type: ignore[assignment]
    epoch_checkpoint_min_interval_s: float = default_of(  # type: ignore[assignment]
        "epoch_checkpoint_min_interval_seconds")
    once: bool = False  # stop when the queue is empty

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> WorkerSettings:
        return cls(**{
            "poll_s": settings.poll_seconds, "lease_s": settings.lease_seconds,
            "heartbeat_s": settings.heartbeat_seconds, "max_attempts": settings.max_attempts,
            "reap_interval_s": settings.reap_interval_seconds,
            "checkpoints_kept": settings.checkpoints_kept,
            "epoch_checkpoint_min_interval_s": settings.epoch_checkpoint_min_interval_seconds,
            **overrides})


def resolve_device(device: str) -> str:
    """`auto`: `cuda` when the engine sees a GPU, else `cpu`. `cuda:K` selects GPU K
    (checked to exist)."""
    import engine

    if not DEVICE_PATTERN.match(device):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:K, not {device!r}")
    if device == "auto":
        return "cuda" if engine.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        count = engine.cuda.device_count()
        index = int(device.partition(":")[2] or 0)
        if index >= count:
            raise ValueError(f"{device} requested but {count} CUDA device(s) are visible")
        engine.cuda.set_device(index)
    return device


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum: int, _frame: Any) -> None:
        if stop.is_set():
            log.warning("second signal %s: exiting now", signum)
            os._exit(128 + signum)
        log.info("signal %s: stopping (a running job is checkpointed and queued again)", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_worker(db: Database, settings: WorkerSettings | None = None, *,
               stop: threading.Event | None = None) -> dict[Outcome, int]:
    """Work until `stop` is set (or, with `once`, until the queue is empty). Returns how
    many jobs ended each way."""
    settings = settings or WorkerSettings()
    stop = stop or threading.Event()
    device = resolve_device(settings.device)
    kind = "cuda" if device.startswith("cuda") else "cpu"
    devices = ["cpu", "cuda"] if kind == "cuda" else ["cpu"]
    run_settings = RunSettings(device=device, lease_s=settings.lease_s,
                               heartbeat_s=settings.heartbeat_s,
                               checkpoints_kept=settings.checkpoints_kept,
                               epoch_checkpoint_min_interval_s=(
                                   settings.epoch_checkpoint_min_interval_s))
    counts: dict[Outcome, int] = {}
    session = db.session()
    waiter = Waiter(db.engine.url.render_as_string(hide_password=False), stop)
    reaper = Reaper(db, settings.reap_interval_s, settings.max_attempts)
    try:
        worker_id = register_worker(session, settings.name, device=kind)
        with logs.bind(worker_id=worker_id):
            log.info("worker %s on %s (%s)", worker_id, device,
                     "LISTEN/NOTIFY" if waiter.listens else f"polling every {settings.poll_s}s")
            reaper.reap_once()
            reaper.start()
            beat_at = time.monotonic()
            while not stop.is_set():
                job = claim(session, worker_id, devices, lease_s=settings.lease_s, device=device)
                if job is None:
                    if settings.once:
                        break
                    if time.monotonic() - beat_at >= settings.heartbeat_s:  # idle, but alive
                        worker_heartbeat(session, worker_id)
                        beat_at = time.monotonic()
                    waiter.wait(settings.poll_s)
                    continue
                with logs.bind(job_id=str(job.job_id)):
                    log.info("claimed job %s (attempt %d%s)", job.job_id, job.attempt,
                             f", resuming from step {job.checkpoint_step}" if job.resumed else "")
                    outcome = run_job(db, job, run_settings, stop=stop, worker_id=worker_id)
                    log.info("job %s: %s", job.job_id, outcome)
                counts[outcome] = counts.get(outcome, 0) + 1
                beat_at = time.monotonic()
    finally:
        reaper.stop()
        waiter.close()
        session.close()
    return counts
