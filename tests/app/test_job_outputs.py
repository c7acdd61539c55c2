"""What workers produce, as the API serves it: metrics (filters, downsampling), events
(pagination), checkpoints (metadata only) and weights (409 until there are some)."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from app.models import JobCheckpoint, JobEvent, JobMetric, utcnow
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, first_loc, mlp_job, submit


@pytest.fixture
def job_id(client: TestClient, team: TeamHandle) -> str:
    return submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))["id"]


def _insert(database: ScratchDatabase, model: Any, rows: list[dict[str, Any]]) -> None:
    with database.engine.begin() as conn:
        conn.execute(model.__table__.insert(), rows)


def _metrics(client: TestClient, team: TeamHandle, job_id: str, **params: Any) -> dict:
    response = client.get(f"/v1/jobs/{job_id}/metrics", params=params, headers=team.headers)
    assert response.status_code == 200, response.text
    return {s["name"]: s for s in response.json()["series"]}


def test_metrics_filter_and_downsample(client: TestClient, team: TeamHandle, job_id: str,
                                       database: ScratchDatabase) -> None:
    assert _metrics(client, team, job_id) == {}
    now, jid = utcnow(), uuid.UUID(job_id)
    _insert(database, JobMetric, [
        {"job_id": jid, "name": "train_loss", "step": s, "value": 1 / s, "created_at": now}
        for s in range(1, 101)] + [
        {"job_id": jid, "name": "val_accuracy", "step": 50, "value": 0.5, "created_at": now}])
    everything = _metrics(client, team, job_id)
    loss = everything["train_loss"]
    assert (loss["total_points"], loss["downsampled"], len(loss["points"])) == (100, False, 100)
    assert loss["points"][:2] == [{"step": 1, "value": 1.0}, {"step": 2, "value": 0.5}]
    assert everything["val_accuracy"]["points"] == [{"step": 50, "value": 0.5}]
    small = _metrics(client, team, job_id, max_points=10)["train_loss"]
    steps = [p["step"] for p in small["points"]]
    assert small["downsampled"] and len(steps) == 10 and (steps[0], steps[-1]) == (1, 100)
    assert steps == sorted(steps) and max(b - a for a, b in zip(steps, steps[1:])) <= 12
    assert [p["step"] for p in _metrics(client, team, job_id, max_points=2)["train_loss"]
            ["points"]] == [1, 100]
    window = _metrics(client, team, job_id, name="train_loss", min_step=10, max_step=19)
    assert list(window) == ["train_loss"] and window["train_loss"]["total_points"] == 10
    assert [p["step"] for p in window["train_loss"]["points"]] == list(range(10, 20))
    for params, loc in [({"max_points": 1}, ["query", "max_points"]),
                        ({"min_step": -1}, ["query", "min_step"]),
                        ({"name": "a b"}, ["query", "name", 0]),
                        ({"name": "\u0000"}, ["query", "name", 0])]:
        response = client.get(f"/v1/jobs/{job_id}/metrics", params=params, headers=team.headers)
        error_of(response, 422)
        assert first_loc(response) == loc


def test_events_paginate_oldest_first(client: TestClient, team: TeamHandle, job_id: str,
                                      database: ScratchDatabase) -> None:
    now = utcnow()
    _insert(database, JobEvent, [{"job_id": uuid.UUID(job_id), "type": f"e{i}",
                                  "payload": {"i": i}, "created_at": now} for i in range(4)])
    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/v1/jobs/{job_id}/events", params=params,
                          headers=team.headers).json()
        seen += [e["type"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["created", "e0", "e1", "e2", "e3"]
    response = client.get(f"/v1/jobs/{job_id}/events", params={"cursor": "bad"},
                          headers=team.headers)
    assert first_loc(response) == ["query", "cursor"]


def test_checkpoints_and_weights(client: TestClient, team: TeamHandle, job_id: str,
                                 database: ScratchDatabase) -> None:
    assert client.get(f"/v1/jobs/{job_id}/checkpoints", headers=team.headers).json() == {
        "items": [], "next_cursor": None}
    detail = error_of(client.get(f"/v1/jobs/{job_id}/weights", headers=team.headers), 409,
                      "weights_not_ready")
    assert "queued" in detail["message"]
    blob = b"safetensors-bytes"
    digest = hashlib.sha256(blob).hexdigest()
    now, jid = utcnow(), uuid.UUID(job_id)
    _insert(database, JobCheckpoint, [
        {"job_id": jid, "step": 10, "kind": "periodic", "sha256": "0" * 64, "size_bytes": 3,
         "data": b"abc", "uri": None, "created_at": now},
        {"job_id": jid, "step": 20, "kind": "weights", "sha256": digest,
         "size_bytes": len(blob), "data": blob, "uri": None, "created_at": now}])
    items = client.get(f"/v1/jobs/{job_id}/checkpoints", headers=team.headers).json()["items"]
    assert [(c["step"], c["kind"]) for c in items] == [(20, "weights"), (10, "periodic")]
    assert "data" not in items[0]
    weights = client.get(f"/v1/jobs/{job_id}/weights", headers=team.headers)
    assert weights.status_code == 200 and weights.content == blob
    assert weights.headers["content-type"] == "application/octet-stream"
    assert weights.headers["x-checksum-sha256"] == digest
