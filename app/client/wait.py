"""`Job.wait`: following a job to its end over the event stream or by polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from app.client.errors import WaitTimeout
from app.client.models import Job, JobProgress

if TYPE_CHECKING:
    from app.client.client import Client


class Waiter:
    """`Job.wait`: follows a job to its end, reporting progress (at most ~10 times a
    second, and always its last state)."""

    REFRESH_S = 1.0  # how often the stream waiter re-reads the job (epoch, server ETA)

    def __init__(self, client: Client, job_id: str, timeout: float | None,
                 on_progress: Callable[[JobProgress], object] | None) -> None:
        self.client, self.job_id, self.on_progress = client, job_id, on_progress
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.job: Job | None = None
        self.step, self.loss = 0, None
        self.rate_start: tuple[float, int] | None = None  # (time, step) seen first
        self.last_report = 0.0

    def _check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            status = self.job.status if self.job else "unknown"
            raise WaitTimeout(f"job {self.job_id} did not end in time (still {status})")

    def _update(self, job: Job) -> None:
        self.job = job
        self.step = max(self.step, job.progress.step)
        loss = job.latest_metrics.get("loss") or job.latest_metrics.get("train_loss")
        if loss is not None and (self.loss is None or loss.step >= self.step):
            self.loss = loss.value

    def _report(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is None or self.job is None:
            return
        if not force and now - self.last_report < 0.1:
            return
        self.last_report = now
        job, total = self.job, self.job.progress.total_steps
        step = min(self.step, total) if total else self.step
        percent = round(100.0 * step / total, 2) if total else job.progress.percent
        eta = job.progress.eta_seconds  # the server's, from the worker's throughput
        if job.finished:
            eta = 0.0 if job.status == "succeeded" else None
        elif eta is None and self.rate_start is not None and total and step > self.rate_start[1]:
            t0, s0 = self.rate_start
            eta = (total - step) * (now - t0) / (step - s0)  # the rate seen while waiting
        epoch = job.progress.epoch
        self.on_progress(JobProgress(job.id, job.status, epoch, step, total, percent,
                                     self.loss, eta))

    def _see_step(self, step: int) -> None:
        if self.rate_start is None:
            self.rate_start = (time.monotonic(), step)
        self.step = max(self.step, step)

    def stream(self, poll_interval: float) -> Job:
        self._update(self.client.get_job(self.job_id))
        # The stream first replays what is past: measure the rate from here on.
        self.rate_start = (time.monotonic(), self.step)
        self._report(force=True)
        if self.job is not None and self.job.finished:
            return self.job
        refreshed = time.monotonic()
        for message in self.client.stream_events(self.job_id, keepalives=True):
            self._check_deadline()
            if message.event == "end":
                break
            if message.event == "metric" and isinstance(message.data, dict):
                if message.data.get("name") == "loss":
                    self._see_step(int(message.data.get("step", 0)))
                    self.loss = message.data.get("value")
            if message.event == "status" or time.monotonic() - refreshed >= self.REFRESH_S:
                refreshed = time.monotonic()
                self._update(self.client.get_job(self.job_id))
            self._report()
        return self._finish(poll_interval)

    def poll(self, poll_interval: float) -> Job:
        while True:
            job = self.client.get_job(self.job_id)
            self._see_step(job.progress.step)
            self._update(job)
            if job.finished:
                self._report(force=True)
                return job
            self._report()
            self._check_deadline()
            time.sleep(poll_interval)

    def _finish(self, poll_interval: float) -> Job:
        job = self.client.get_job(self.job_id)
        while not job.finished:  # the stream ended first: the status commits at once
            self._check_deadline()
            time.sleep(min(poll_interval, 0.2))
            job = self.client.get_job(self.job_id)
        self._update(job)
        self._report(force=True)
        return job
