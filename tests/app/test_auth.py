"""Teams and API keys: admin-only team creation, hashed keys, revocation, 401s."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from app.models import ApiKey
from tests.app.conftest import ADMIN_TOKEN, ScratchDatabase, TeamHandle, TestClient, create_team
from tests.app.helpers import api_operations, error_of

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_team_creation_returns_a_working_key_once(client: TestClient) -> None:
    response = client.post("/v1/teams", json={"name": "vision"}, headers=ADMIN)
    assert response.status_code == 201
    key = response.json()["key"]
    assert key["key"].startswith("tf_") and len(key["key"]) >= 3 + 43
    assert key["prefix"] == key["key"][:7] and key["last_four"] == key["key"][-4:]
    listed = client.get("/v1/keys", headers={"Authorization": f"Bearer {key['key']}"})
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    assert item["id"] == key["id"] and item["current"] is True
    assert "key" not in item and key["key"] not in listed.text
    assert item["last_used_at"] is not None


def test_keys_are_stored_only_as_sha256(client: TestClient, team: TeamHandle,
                                        database: ScratchDatabase) -> None:
    with database.engine.connect() as conn:
        row = conn.execute(select(ApiKey.__table__)).one()
    assert row.key_hash == hashlib.sha256(team.key.encode()).hexdigest()
    assert all(team.key not in str(value) for value in row)


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer tf_nope"},
    {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000},
    {"Authorization": f"Bearer {ADMIN_TOKEN}"},  # the admin token is not a team key
])
def test_missing_or_bad_key_is_401_with_www_authenticate(client: TestClient,
                                                        headers: dict[str, str]) -> None:
    response = client.get("/v1/datasets", headers=headers)
    error_of(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_every_route_but_health_and_docs_needs_a_key(client: TestClient) -> None:
    # /v1/teams takes the admin token instead; /metrics is unauthenticated like /healthz.
    public = {"/healthz", "/readyz", "/metrics", "/v1/teams"}
    operations = [(m, p) for m, p in api_operations(client.app) if p not in public]
    assert len(operations) >= 8
    for method, path in operations:
        url = path.replace("{", "").replace("}", "")  # any value: auth comes first
        response = client.request(method, url, headers={"Authorization": "Bearer tf_bad"})
        error_of(response, 401, "unauthorized")


def test_revoked_key_gets_401_on_its_next_request(client: TestClient, team: TeamHandle) -> None:
    second = client.post("/v1/keys", json={"name": "ci"}, headers=team.headers)
    assert second.status_code == 201
    other = {"Authorization": f"Bearer {second.json()['key']}"}
    assert client.get("/v1/datasets", headers=team.headers).status_code == 200
    assert client.delete(f"/v1/keys/{team.key_id}", headers=other).status_code == 204
    error_of(client.get("/v1/datasets", headers=team.headers), 401, "unauthorized")
    listed = client.get("/v1/keys", headers=other).json()["items"]
    assert [k["name"] for k in listed] == ["ci"]
    error_of(client.delete(f"/v1/keys/{team.key_id}", headers=other), 404, "not_found")


def test_the_last_active_key_cannot_be_revoked(client: TestClient, team: TeamHandle) -> None:
    error_of(client.delete(f"/v1/keys/{team.key_id}", headers=team.headers), 409, "last_key")
    assert client.get("/v1/keys", headers=team.headers).status_code == 200


def test_key_creation_body_is_optional_and_bounded(make_client, team: TeamHandle) -> None:
    client = make_client(max_keys_per_team=2)
    created = client.post("/v1/keys", headers=team.headers)
    assert created.status_code == 201 and created.json()["name"] is None
    error_of(client.post("/v1/keys", json={}, headers=team.headers), 409, "too_many_keys")
    error_of(client.post("/v1/keys", json={"name": "x", "admin": True}, headers=team.headers),
             422, "validation_failed")


def test_team_creation_needs_the_admin_token(client: TestClient, team: TeamHandle) -> None:
    for headers in ({}, team.headers, {"Authorization": "Bearer wrong-token-wrong-token"}):
        response = client.post("/v1/teams", json={"name": "x"}, headers=headers)
        error_of(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"
    error_of(client.post("/v1/teams", json={"name": "team-a"}, headers=ADMIN), 409, "team_exists")


def test_team_creation_is_disabled_without_an_admin_token(make_client) -> None:
    client = make_client(admin_token=None)
    error_of(client.post("/v1/teams", json={"name": "x"}, headers=ADMIN), 403, "admin_disabled")


def test_concurrent_creation_of_one_team_name_gives_one_team(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def attempt(_: int) -> int:
        return client.post("/v1/teams", json={"name": "race"}, headers=ADMIN).status_code

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(attempt, range(4)))
    assert statuses == [201, 409, 409, 409]


def test_two_teams_each_see_only_their_own_keys(client: TestClient, team: TeamHandle,
                                                other_team: TeamHandle) -> None:
    mine = client.get("/v1/keys", headers=team.headers).json()["items"]
    theirs = client.get("/v1/keys", headers=other_team.headers).json()["items"]
    assert [k["id"] for k in mine] == [team.key_id]
    assert [k["id"] for k in theirs] == [other_team.key_id]
    assert create_team(client, "team-c").key not in (team.key, other_team.key)
