"""Listing (cursor pagination), getting and deleting datasets."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.db import Database, transaction
from app.models import Job
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import XOR, error_of, first_loc


def _create(client: TestClient, team: TeamHandle, name: str) -> str:
    response = client.post("/v1/datasets", json={**XOR, "name": name}, headers=team.headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_cursor_pagination_walks_every_dataset_once_newest_first(
    client: TestClient, team: TeamHandle, other_team: TeamHandle
) -> None:
    created = [_create(client, team, f"d{i}") for i in range(5)]
    _create(client, other_team, "foreign")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/v1/datasets", params=params, headers=team.headers).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == created[::-1]
    everything = client.get("/v1/datasets", params={"limit": 100}, headers=team.headers).json()
    assert [i["id"] for i in everything["items"]] == seen and everything["next_cursor"] is None


@pytest.mark.parametrize("params", [
    {"limit": 0}, {"limit": -1}, {"limit": 101}, {"limit": 10**30}, {"limit": "ten"},
    {"limit": "1.5"}, {"cursor": "not-a-cursor"}, {"cursor": "x" * 201},
    {"cursor": "WyIyMDI2LTAxLTAxIiwieCJd"}, {"cursor": "\u0000"}, {"cursor": "é"},
])
def test_bad_list_parameters_are_422_with_the_parameter(client: TestClient, team: TeamHandle,
                                                        params: dict) -> None:
    response = client.get("/v1/datasets", params=params, headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response)[:2] == ["query", next(iter(params))]


def test_get_and_delete(client: TestClient, team: TeamHandle) -> None:
    dataset_id = _create(client, team, "doomed")
    assert client.get(f"/v1/datasets/{dataset_id}", headers=team.headers).status_code == 200
    response = client.delete(f"/v1/datasets/{dataset_id}", headers=team.headers)
    assert response.status_code == 204 and response.content == b""
    error_of(client.get(f"/v1/datasets/{dataset_id}", headers=team.headers), 404, "not_found")
    error_of(client.delete(f"/v1/datasets/{dataset_id}", headers=team.headers), 404)
    response = client.get("/v1/datasets/not-a-uuid", headers=team.headers)
    assert first_loc(response) == ["path", "dataset_id"]


def _add_job(database: ScratchDatabase, team: TeamHandle, dataset_id: str, status: str,
             *, validation: bool = False) -> uuid.UUID:
    job = Job(team_id=uuid.UUID(team.id), name="j", spec={"model": "mlp"}, status=status,
              dataset_id=None if validation else uuid.UUID(dataset_id),
              validation_dataset_id=uuid.UUID(dataset_id) if validation else None)
    with Database(database.engine).session() as session, transaction(session, write=True):
        session.add(job)
    return job.id


@pytest.mark.parametrize(("status", "validation"), [
    ("queued", False), ("running", False), ("queued", True), ("running", True)])
def test_delete_is_409_while_a_queued_or_running_job_uses_the_dataset(
    client: TestClient, team: TeamHandle, database: ScratchDatabase, status: str,
    validation: bool,
) -> None:
    dataset_id = _create(client, team, "busy")
    _add_job(database, team, dataset_id, status, validation=validation)
    error_of(client.delete(f"/v1/datasets/{dataset_id}", headers=team.headers), 409,
             "dataset_in_use")
    assert client.get(f"/v1/datasets/{dataset_id}", headers=team.headers).status_code == 200


def test_finished_jobs_do_not_block_deletion_and_keep_their_rows(
    client: TestClient, team: TeamHandle, database: ScratchDatabase
) -> None:
    dataset_id = _create(client, team, "done")
    job_ids = [_add_job(database, team, dataset_id, s)
               for s in ("succeeded", "failed", "cancelled")]
    assert client.delete(f"/v1/datasets/{dataset_id}", headers=team.headers).status_code == 204
    with database.engine.connect() as conn:
        rows = conn.execute(select(Job.id, Job.dataset_id)).all()
    assert sorted(r.id for r in rows) == sorted(job_ids)
    assert all(r.dataset_id is None for r in rows)
