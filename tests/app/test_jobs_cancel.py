"""Cancelling jobs, and the dataset delete guard while a queued or running job uses it."""

from __future__ import annotations

import uuid

import pytest

from app.db import Database, transaction
from app.models import JobStatus
from app.services import job_states
from app.services.jobs import load_job
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, mlp_job, submit


@pytest.fixture
def xor_id(client: TestClient, team: TeamHandle) -> str:
    return create_dataset(client, team.headers)


def move(database: ScratchDatabase, team: TeamHandle, job_id: str, *targets: JobStatus) -> None:
    """Drive a job through `targets` as a worker would, via the transition table."""
    db = Database(database.engine)
    with db.session() as session, transaction(session, write=True):
        job = load_job(session, uuid.UUID(team.id), uuid.UUID(job_id), lock=True)
        for target in targets:
            job_states.transition(session, job, target, payload={"by": "test"})


def _events(client: TestClient, team: TeamHandle, job_id: str) -> list[str]:
    page = client.get(f"/v1/jobs/{job_id}/events", headers=team.headers).json()
    return [event["type"] for event in page["items"]]


def test_a_queued_job_is_cancelled_at_once_and_idempotently(client: TestClient,
                                                            team: TeamHandle,
                                                            xor_id: str) -> None:
    job = submit(client, team.headers, mlp_job(xor_id))
    first = client.post(f"/v1/jobs/{job['id']}/cancel", headers=team.headers)
    assert first.status_code == 200
    body = first.json()
    assert (body["status"], body["cancel_requested"]) == ("cancelled", False)
    assert body["finished_at"] is not None and body["queue_position"] is None
    again = client.post(f"/v1/jobs/{job['id']}/cancel", headers=team.headers)
    assert again.status_code == 200 and again.json() == body
    assert _events(client, team, job["id"]) == ["created", "cancelled"]


def test_a_running_job_gets_cancel_requested(client: TestClient, team: TeamHandle,
                                             xor_id: str, database: ScratchDatabase) -> None:
    job = submit(client, team.headers, mlp_job(xor_id))
    move(database, team, job["id"], JobStatus.RUNNING)
    for _ in range(2):
        response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=team.headers)
        assert response.status_code == 200
        assert (response.json()["status"], response.json()["cancel_requested"]) == \
            ("running", True)
    assert _events(client, team, job["id"]) == ["created", "running", "cancel_requested"]
    move(database, team, job["id"], JobStatus.CANCELLED)  # the worker acknowledges
    response = client.post(f"/v1/jobs/{job['id']}/cancel", headers=team.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"


@pytest.mark.parametrize("final", [JobStatus.SUCCEEDED, JobStatus.FAILED])
def test_cancelling_a_finished_job_is_409(client: TestClient, team: TeamHandle, xor_id: str,
                                         database: ScratchDatabase, final: JobStatus) -> None:
    job = submit(client, team.headers, mlp_job(xor_id))
    move(database, team, job["id"], JobStatus.RUNNING, final)
    error_of(client.post(f"/v1/jobs/{job['id']}/cancel", headers=team.headers), 409,
             "job_finished")
    assert client.get(f"/v1/jobs/{job['id']}", headers=team.headers).json()["status"] == final


def test_dataset_delete_waits_for_queued_and_running_jobs(
    client: TestClient, team: TeamHandle, database: ScratchDatabase
) -> None:
    train, held_out = create_dataset(client, team.headers), create_dataset(client, team.headers)
    job = submit(client, team.headers, mlp_job(train, validation_dataset_id=held_out))
    for dataset_id in (train, held_out):
        error_of(client.delete(f"/v1/datasets/{dataset_id}", headers=team.headers), 409,
                 "dataset_in_use")
    move(database, team, job["id"], JobStatus.RUNNING)
    error_of(client.delete(f"/v1/datasets/{train}", headers=team.headers), 409,
             "dataset_in_use")
    move(database, team, job["id"], JobStatus.SUCCEEDED)
    assert client.delete(f"/v1/datasets/{train}", headers=team.headers).status_code == 204
    # The finished job keeps its history; its dataset reference is cleared.
    kept = client.get(f"/v1/jobs/{job['id']}", headers=team.headers).json()
    assert kept["dataset_id"] is None and kept["validation_dataset_id"] == held_out
    # A new job cannot use the deleted dataset.
    error_of(client.post("/v1/jobs", json=mlp_job(train), headers=team.headers), 422)
