"""Team isolation: another team's object is a 404 identical to a missing one, on every
route with an id, and lists never show foreign objects."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.app.conftest import TeamHandle, TestClient
from tests.app.helpers import XOR, api_operations, mlp_job

# A valid body for every (method, path) that needs one, so only ownership can fail.
BODIES: dict[tuple[str, str], dict[str, Any]] = {}


def _objects_of(client: TestClient, team: TeamHandle) -> dict[str, str]:
    """One object of each kind owned by `team`, by the path parameter naming it."""
    dataset = client.post("/v1/datasets", json=XOR, headers=team.headers)
    assert dataset.status_code == 201
    spare_key = client.post("/v1/keys", json={"name": "spare"}, headers=team.headers)
    assert spare_key.status_code == 201
    job = client.post("/v1/jobs", json=mlp_job(dataset.json()["id"]), headers=team.headers)
    assert job.status_code == 201, job.text
    return {"dataset_id": dataset.json()["id"], "key_id": spare_key.json()["id"],
            "job_id": job.json()["id"]}


def _url(path: str, ids: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in ids, f"{path}: add an object for {{{name}}} to the isolation sweep"
        return ids[name]

    return re.sub(r"\{(\w+)\}", fill, path)


def test_foreign_objects_are_indistinguishable_from_missing_ones(
    client: TestClient, team: TeamHandle, other_team: TeamHandle
) -> None:
    owned = _objects_of(client, team)
    missing = {name: str(uuid.uuid4()) for name in owned}
    swept = 0
    for method, path in api_operations(client.app):
        if "{" not in path:
            continue
        body = BODIES.get((method, path))
        foreign = client.request(method, _url(path, owned), json=body,
                                 headers=other_team.headers)
        absent = client.request(method, _url(path, missing), json=body,
                                headers=other_team.headers)
        assert foreign.status_code == 404, (method, path, foreign.text)
        assert (foreign.status_code, foreign.content) == (absent.status_code, absent.content)
        assert foreign.headers.get("content-type") == absent.headers.get("content-type")
        swept += 1
    assert swept >= 9
    # Nothing of the owner's was touched by the other team's attempts.
    assert client.get(f"/v1/datasets/{owned['dataset_id']}", headers=team.headers).status_code \
        == 200
    keys = client.get("/v1/keys", headers=team.headers).json()["items"]
    assert owned["key_id"] in {k["id"] for k in keys}
    job = client.get(f"/v1/jobs/{owned['job_id']}", headers=team.headers).json()
    assert job["status"] == "queued" and not job["cancel_requested"]
    events = client.get(f"/v1/jobs/{owned['job_id']}/events", headers=team.headers).json()
    assert [e["type"] for e in events["items"]] == ["created"]


def test_a_foreign_dataset_cannot_be_trained_on(client: TestClient, team: TeamHandle,
                                                other_team: TeamHandle) -> None:
    owned = _objects_of(client, team)
    for field in ("dataset_id", "validation_dataset_id"):
        body = mlp_job(owned["dataset_id"]) if field == "dataset_id" else \
            mlp_job(_objects_of(client, other_team)["dataset_id"], validation_dataset_id=
                    owned["dataset_id"])
        response = client.post("/v1/jobs", json=body, headers=other_team.headers)
        assert response.status_code == 422, response.text
        assert response.json()["detail"]["errors"][0]["loc"] == ["body", field]


def test_lists_never_show_foreign_objects(client: TestClient, team: TeamHandle,
                                          other_team: TeamHandle) -> None:
    owned = _objects_of(client, team)
    theirs = _objects_of(client, other_team)
    for path in ("/v1/datasets", "/v1/keys", "/v1/jobs"):
        seen = {item["id"] for item in client.get(path, headers=other_team.headers)
                .json()["items"]}
        assert not seen & set(owned.values())
        assert seen & set(theirs.values())
