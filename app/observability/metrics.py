"""Prometheus metrics at `GET /metrics`.

Two sources: what this API process measures itself (HTTP request latency by route,
database errors), and what the database says at scrape time for the whole fleet (jobs
by status, queue depth and the oldest queued job's age, workers alive by device,
training throughput of running jobs, the durations of finished jobs). With several API
processes, scrape each: the database figures are the same everywhere, the HTTP ones
are per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Float, case, cast, event, func, select
from sqlalchemy.exc import SQLAlchemyError

from app.db import Database, read_connection
from app.models import Job, JobStatus, Worker, utcnow
from app.services.job_states import FINAL

log = logging.getLogger("trainforge.metrics")
DURATION_BUCKETS = (1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600,
                    3 * 86400, 7 * 86400)
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

Scope = dict[str, Any]
Message = dict[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Message]],
                    Callable[[Message], Awaitable[None]]], Awaitable[None]]


class ServiceMetrics:
    """The metrics of one API process (its own registry, not the global one)."""

    def __init__(self, db: Database, worker_alive_s: float) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.http_latency = Histogram(
            "trainforge_http_request_duration_seconds",
            "HTTP request latency by method, route template and status code.",
            ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.database_errors = Counter(
            "trainforge_database_errors_total",
            "Database errors seen by this process, by kind (disconnect or error).",
            ["kind"], registry=self.registry)
        for kind in ("error", "disconnect"):
            self.database_errors.labels(kind)  # exported as 0 until the first one
        self.registry.register(DatabaseCollector(db, worker_alive_s))
        event.listen(db.engine, "handle_error", self._on_database_error)

    def _on_database_error(self, context: Any) -> None:
        kind = "disconnect" if context.is_disconnect else "error"
        self.database_errors.labels(kind).inc()

    def render(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _duration_seconds(dialect: str) -> Any:
    if dialect == "postgresql":
        return func.extract("epoch", Job.finished_at - Job.started_at)
    return (func.julianday(Job.finished_at) - func.julianday(Job.started_at)) * 86400.0


class DatabaseCollector(Collector):
    """Fleet-wide figures, read from the database at each scrape."""

    def __init__(self, db: Database, worker_alive_s: float) -> None:
        self.db, self.worker_alive_s = db, worker_alive_s

    def collect(self) -> Iterator[Metric]:
        try:
            with read_connection(self.db.engine) as conn:
                yield from self._collect(conn)
        except SQLAlchemyError as exc:  # the scrape still answers; the error is counted
            log.warning("metrics: the database is unavailable: %s", exc)

    def _collect(self, conn: Any) -> Iterator[Metric]:
        now = utcnow()
        jobs = GaugeMetricFamily("trainforge_jobs", "Jobs by status.", labels=["status"])
        counts = dict(conn.execute(select(Job.status, func.count()).group_by(Job.status)).all())
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status.value, 0))
        yield jobs

        depth, oldest = conn.execute(select(func.count(), func.min(Job.created_at))
                                     .where(Job.status == JobStatus.QUEUED.value)).one()
        yield GaugeMetricFamily("trainforge_queue_depth", "Jobs waiting for a worker.",
                                value=depth)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("trainforge_queue_oldest_age_seconds",
                                "Age of the oldest queued job (0 when none).", value=age)

        alive = GaugeMetricFamily("trainforge_workers_alive", "Workers with a recent "
                                  "heartbeat, by device.", labels=["device"])
        since = now - timedelta(seconds=self.worker_alive_s)
        by_device = dict(conn.execute(select(Worker.device, func.count())
                                      .where(Worker.heartbeat_at >= since)
                                      .group_by(Worker.device)).all())
        for device in ("cpu", "cuda"):
            alive.add_metric([device], by_device.get(device, 0))
        yield alive

        samples = steps = 0.0
        for rate, batch in conn.execute(
                select(Job.samples_per_second, Job.spec["batch_size"].as_integer())
                .where(Job.status == JobStatus.RUNNING.value,
                       Job.samples_per_second.is_not(None))):
            samples += rate
            steps += rate / batch if batch else 0.0
        yield GaugeMetricFamily("trainforge_training_samples_per_second",
                                "Training throughput of the running jobs, summed.",
                                value=samples)
        yield GaugeMetricFamily("trainforge_training_steps_per_second",
                                "Optimizer steps per second of the running jobs, summed.",
                                value=steps)
        yield from self._durations(conn)

    def _durations(self, conn: Any) -> Iterator[Metric]:
        seconds = cast(_duration_seconds(conn.dialect.name), Float)
        columns = [func.count(), func.coalesce(func.sum(seconds), 0.0)] + [
            func.coalesce(func.sum(case((seconds <= bound, 1), else_=0)), 0)
            for bound in DURATION_BUCKETS]
        histogram = HistogramMetricFamily(
            "trainforge_job_duration_seconds", "Run time (started to finished) of the "
            "jobs that ended, by final status.", labels=["status"])
        final = [s.value for s in FINAL]
        rows = conn.execute(select(Job.status, *columns)
                            .where(Job.status.in_(final), Job.started_at.is_not(None))
                            .group_by(Job.status)).all()
        found = {row[0]: row[1:] for row in rows}
        for status in final:
            count, total, *cumulative = found.get(status, (0, 0.0) + (0,) * len(
                DURATION_BUCKETS))
            buckets = [(str(float(b)), int(c)) for b, c in zip(DURATION_BUCKETS, cumulative)]
            histogram.add_metric([status], buckets + [("+Inf", int(count))],
                                 sum_value=float(total))
        yield histogram


class HttpMetricsMiddleware:
    """Times every HTTP request into `metrics.http_latency`, labelled by the route's
    template (`/v1/jobs/{job_id}`), never the raw path."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.http_latency.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - started)
