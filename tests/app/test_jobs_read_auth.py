"""`GET /v1/jobs/{id}` authenticates and reads in one statement, through a fast route for
canonical UUIDs and the documented route for other spellings: both answer the same, a
revoked key is refused at once, another team's job is a 404, and `last_used_at` is kept."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.models import ApiKey
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, first_loc, mlp_job, submit


@pytest.fixture
def job_id(client: TestClient, team: TeamHandle) -> str:
    return submit(client, team.headers, mlp_job(create_dataset(client, team.headers)))["id"]


def spellings(job_id: str) -> list[str]:
    """The canonical id (fast route) and spellings only the documented route accepts."""
    return [job_id, job_id.upper(), uuid.UUID(job_id).hex]


def test_every_spelling_of_the_id_gets_the_same_answer(client: TestClient, team: TeamHandle,
                                                       job_id: str) -> None:
    answers = [client.get(f"/v1/jobs/{s}", headers=team.headers) for s in spellings(job_id)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].headers["content-type"] == "application/json"
    assert answers[0].json()["id"] == job_id and answers[0].json()["queue_position"] == 1
    assert all(a.content == answers[0].content for a in answers)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer tf_nope"},
    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000},
])
def test_a_bad_key_is_401_before_anything_else(client: TestClient, job_id: str,
                                               headers: dict[str, str]) -> None:
    for path in [*spellings(job_id), str(uuid.uuid4()), "nope"]:
        response = client.get(f"/v1/jobs/{path}", headers=headers)
        error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_another_teams_job_is_404_like_a_missing_one(client: TestClient, job_id: str,
                                                     other_team: TeamHandle) -> None:
    for path in [*spellings(job_id), str(uuid.uuid4())]:
        error_of(client.get(f"/v1/jobs/{path}", headers=other_team.headers), 404, "not_found")
    assert first_loc(client.get("/v1/jobs/nope", headers=other_team.headers)) == [
        "path", "job_id"]


def test_a_revoked_key_is_refused_on_its_next_read(make_client, client: TestClient,
                                                   team: TeamHandle, job_id: str) -> None:
    second = client.post("/v1/keys", json={"name": "ci"}, headers=team.headers).json()["key"]
    other = {"Authorization": f"Bearer {second}"}
    another_process = make_client()  # a second API process on the same database
    assert another_process.get(f"/v1/jobs/{job_id}", headers=team.headers).status_code == 200
    assert client.delete(f"/v1/keys/{team.key_id}", headers=other).status_code == 204
    for api in (client, another_process):
        for path in spellings(job_id):
            error_of(api.get(f"/v1/jobs/{path}", headers=team.headers), 401, "unauthorized")
        assert api.get(f"/v1/jobs/{job_id}", headers=other).status_code == 200


def test_reads_touch_last_used_at_at_most_once_per_interval(
    make_client, team: TeamHandle, job_id: str, database: ScratchDatabase
) -> None:
    def last_used() -> object:
        with database.engine.connect() as conn:
            return conn.scalar(select(ApiKey.last_used_at)
                               .where(ApiKey.id == uuid.UUID(team.key_id)))

    throttled = make_client(key_touch_interval_s=3600)
    before = last_used()
    assert throttled.get(f"/v1/jobs/{job_id}", headers=team.headers).status_code == 200
    assert last_used() == before
    eager = make_client(key_touch_interval_s=0)
    assert eager.get(f"/v1/jobs/{job_id}", headers=team.headers).status_code == 200
    touched = last_used()
    assert touched is not None and (before is None or touched > before)
    error_of(eager.get(f"/v1/jobs/{uuid.uuid4()}", headers=team.headers), 404)
    assert last_used() > touched  # a 404 is still an authenticated use of the key


def test_the_fast_route_is_named_as_the_documented_one(client: TestClient, team: TeamHandle,
                                                       job_id: str) -> None:
    """Request metrics label it with the documented route template, not `unmatched`."""
    assert client.get(f"/v1/jobs/{job_id}", headers=team.headers).status_code == 200
    metrics = client.get("/metrics")
    if metrics.status_code != 200:
        pytest.skip("no /metrics")
    assert 'method="GET",route="/v1/jobs/{job_id}",status="200"' in metrics.text
