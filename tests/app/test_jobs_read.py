"""Reading jobs: one job (progress, queue position, latest metrics, error), and the list
with its status and label filters and cursor pagination."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import update

from app.models import Job, JobMetric, utcnow
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, first_loc, mlp_job, submit


@pytest.fixture
def xor_id(client: TestClient, team: TeamHandle) -> str:
    return create_dataset(client, team.headers)


def _set(database: ScratchDatabase, job_id: str, **values: Any) -> None:
    with database.engine.begin() as conn:
        conn.execute(update(Job).where(Job.id == uuid.UUID(job_id)).values(**values))


def test_queue_position_follows_priority_then_submission_order(
    client: TestClient, team: TeamHandle, other_team: TeamHandle, xor_id: str
) -> None:
    first = submit(client, team.headers, mlp_job(xor_id))
    second = submit(client, team.headers, mlp_job(xor_id))
    theirs = submit(client, other_team.headers,
                    mlp_job(create_dataset(client, other_team.headers), priority=10))
    urgent = submit(client, team.headers, mlp_job(xor_id, priority=5))

    def position(job: dict[str, Any], who: TeamHandle = team) -> int | None:
        return client.get(f"/v1/jobs/{job['id']}", headers=who.headers).json()["queue_position"]

    # The queue is shared by all teams: another team's urgent job counts (not its details).
    assert [position(theirs, other_team), position(urgent), position(first),
            position(second)] == [1, 2, 3, 4]
    client.post(f"/v1/jobs/{first['id']}/cancel", headers=team.headers)
    assert (position(first), position(second)) == (None, 3)


def test_get_shows_progress_latest_metrics_and_error(client: TestClient, team: TeamHandle,
                                                     xor_id: str, database: ScratchDatabase
                                                     ) -> None:
    job = submit(client, team.headers, mlp_job(xor_id))
    now = utcnow()
    _set(database, job["id"], status="failed", attempts=2, step=3, epoch=1, started_at=now,
         finished_at=now, error_code="worker_crashed", error_message="the worker died twice")
    with database.engine.begin() as conn:
        conn.execute(JobMetric.__table__.insert(), [
            {"job_id": uuid.UUID(job["id"]), "name": name, "step": step, "value": value,
             "created_at": now}
            for name, step, value in [("train_loss", 1, 0.9), ("train_loss", 3, 0.4),
                                      ("train_loss", 2, 0.6), ("val_accuracy", 2, 0.75)]])
    got = client.get(f"/v1/jobs/{job['id']}", headers=team.headers).json()
    assert got["status"] == "failed" and got["queue_position"] is None
    assert got["progress"] == {"step": 3, "total_steps": 6, "epoch": 1, "fraction": 0.5,
                               "percent": 50.0, "samples_per_second": None,
                               "eta_seconds": None}
    assert got["attempts"] == 2 and got["started_at"] and got["finished_at"]
    assert got["error"] == {"code": "worker_crashed", "message": "the worker died twice"}
    assert got["latest_metrics"] == {"train_loss": {"step": 3, "value": 0.4},
                                     "val_accuracy": {"step": 2, "value": 0.75}}
    error_of(client.get(f"/v1/jobs/{uuid.uuid4()}", headers=team.headers), 404, "not_found")
    assert first_loc(client.get("/v1/jobs/nope", headers=team.headers)) == ["path", "job_id"]


def test_list_filters_by_status_and_labels(client: TestClient, team: TeamHandle, xor_id: str,
                                           database: ScratchDatabase) -> None:
    a = submit(client, team.headers, mlp_job(xor_id, labels={"project": "x", "size": "s"}))
    b = submit(client, team.headers, mlp_job(xor_id, labels={"project": "x", "size": "m"}))
    c = submit(client, team.headers, mlp_job(xor_id, labels={"project": "y.z/w", "k": ""}))
    _set(database, b["id"], status="running")

    def ids(**params: Any) -> list[str]:
        response = client.get("/v1/jobs", params=params, headers=team.headers)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [c["id"], b["id"], a["id"]]
    assert ids(status="running") == [b["id"]]
    assert ids(status=["queued", "running"]) == [c["id"], b["id"], a["id"]]
    assert ids(status="succeeded") == []
    assert ids(label="project=x") == [b["id"], a["id"]]
    assert ids(label=["project=x", "size=s"]) == [a["id"]]
    assert ids(label="project=y.z/w") == [c["id"]]
    assert ids(label="k=") == [c["id"]]
    assert ids(label="missing=x") == []
    assert ids(label="project=x", status="queued") == [a["id"]]
    assert "spec" not in client.get("/v1/jobs", headers=team.headers).json()["items"][0]


def test_cursor_pagination_walks_every_job_once(client: TestClient, team: TeamHandle,
                                                xor_id: str) -> None:
    created = [submit(client, team.headers, mlp_job(xor_id))["id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/jobs", params=params, headers=team.headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == created[::-1]


@pytest.mark.parametrize(("params", "loc"), [
    ({"limit": -1}, ["query", "limit"]), ({"limit": 0}, ["query", "limit"]),
    ({"limit": 10**30}, ["query", "limit"]), ({"status": "done"}, ["query", "status", 0]),
    ({"label": "novalue"}, ["query", "label", 0]), ({"label": "=x"}, ["query", "label", 0]),
    ({"label": "a b=c"}, ["query", "label", 0]), ({"label": "k=\u0000"}, ["query", "label", 0]),
    ({"label": ["a=b"] * 11}, ["query", "label"]), ({"cursor": "garbage"}, ["query", "cursor"]),
])
def test_bad_list_parameters(client: TestClient, team: TeamHandle, params: dict,
                             loc: list) -> None:
    response = client.get("/v1/jobs", params=params, headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc
