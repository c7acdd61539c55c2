"""Prometheus metrics at /metrics (parsed with prometheus-client's own parser; the counters
move when jobs run) and structured logs (request ids in the API, worker and job ids in
the worker)."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from app.models import JobStatus
from app.observability import logs
from app.queue import claim, finish, register_worker
from tests.app.conftest import TeamHandle
from tests.app.helpers import create_dataset, mlp_job, submit
from tests.app.worker_helpers import run_worker


def scrape(client: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def test_metrics_follow_jobs_workers_and_requests(
        client: Any, team: TeamHandle, session: Session) -> None:
    before = scrape(client)
    assert before[("trainforge_queue_depth", ())] == 0
    dataset_id = create_dataset(client, team.headers)
    for seed in (1, 2):
        submit(client, team.headers, mlp_job(dataset_id, seed=seed))
    register_worker(session, "w", device="cpu")
    job = claim(session, "w", ["cpu"])
    assert job is not None
    finish(session, job.job_id, job.lease_epoch, JobStatus.SUCCEEDED)

    after = scrape(client)
    assert after[("trainforge_jobs", (("status", "queued"),))] == 1
    assert after[("trainforge_jobs", (("status", "succeeded"),))] == 1
    assert after[("trainforge_queue_depth", ())] == 1
    assert after[("trainforge_queue_oldest_age_seconds", ())] >= 0
    assert after[("trainforge_workers_alive", (("device", "cpu"),))] == 1
    assert after[("trainforge_workers_alive", (("device", "cuda"),))] == 0
    done = (("status", "succeeded"),)
    assert after[("trainforge_job_duration_seconds_count", done)] == 1
    assert after[("trainforge_job_duration_seconds_bucket", (("le", "+Inf"), *done))] == 1
    submits = ("trainforge_http_request_duration_seconds_count",
               (("method", "POST"), ("route", "/v1/jobs"), ("status", "201")))
    assert after[submits] - before.get(submits, 0) == 2
    assert ("trainforge_database_errors_total", (("kind", "error"),)) in after


@pytest.fixture
def captured_logs() -> Iterator[Callable[[], list[dict[str, Any]]]]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.configure("json", "info", stream=stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def test_every_api_log_line_carries_the_request_id(
        client: Any, team: TeamHandle,
        captured_logs: Callable[[], list[dict[str, Any]]]) -> None:
    response = client.get(f"/v1/jobs/{uuid.uuid4()}", headers={
        **team.headers, "X-Request-ID": "trace-42"})
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "trace-42"
    made = client.get("/healthz").headers["x-request-id"]
    assert len(made) == 32  # ours when the client sends none
    odd = client.get("/healthz", headers={"X-Request-ID": "a b\tc"}).headers["x-request-id"]
    assert odd != "a b\tc"  # an unsafe id is replaced
    lines = captured_logs()
    access = [line for line in lines if line["logger"] == "trainforge.access"]
    assert [line["request_id"] for line in access] == ["trace-42", made, odd]
    first = access[0]["message"]
    assert first.startswith("GET /v1/jobs/") and " 404 " in first
    assert all({"time", "level", "worker_id", "job_id"} <= line.keys() for line in lines)


def test_worker_json_logs_name_the_worker_and_the_job(
        client: Any, team: TeamHandle, database_url: str) -> None:
    job = submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))
    output = run_worker(database_url, env={"TRAINFORGE_LOG_FORMAT": "json"})
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert all({"time", "level", "request_id", "worker_id", "job_id"} <= line.keys()
               for line in lines)
    ours = [line for line in lines if line["logger"].startswith("trainforge")]
    assert ours and all(line["worker_id"] for line in ours), ours
    about_job = [line for line in lines if job["id"] in line["message"]]
    assert about_job and all(line["job_id"] == job["id"] for line in about_job)
