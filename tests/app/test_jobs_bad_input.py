"""Hostile and broken job submissions: always a 4xx with the field path, never a 500, and
nothing stored. (tests/app/test_bad_input.py also sweeps its bodies over /v1/jobs.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.app.conftest import TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, first_loc, linear, mlp_job


def _nested(depth: int) -> dict[str, Any]:
    layer: dict[str, Any] = linear(2, 2)
    for _ in range(depth):
        layer = {"type": "Sequential", "layers": [layer]}
    return layer


@pytest.fixture
def xor_id(client: TestClient, team: TeamHandle) -> str:
    return create_dataset(client, team.headers)


def _post_raw(client: TestClient, team: TeamHandle, raw: bytes) -> Any:
    return client.post("/v1/jobs", content=raw,
                       headers=team.headers | {"content-type": "application/json"})


CASES: list[tuple[str, dict[str, Any], list[Any]]] = [
    ("unknown top-level field", {"gpu_hours": 3}, ["body", "gpu_hours"]),
    ("negative batch", {"batch_size": -1}, ["body", "batch_size"]),
    ("absurd batch", {"batch_size": 10**9}, ["body", "batch_size"]),
    ("absurd epochs", {"epochs": 10**12}, ["body", "epochs"]),
    ("huge integer", {"max_steps": 10**400}, ["body", "max_steps"]),
    ("float for int", {"epochs": 2.5}, ["body", "epochs"]),
    ("string for int", {"epochs": "3"}, ["body", "epochs"]),
    ("bool for int", {"epochs": True}, ["body", "epochs"]),
    ("bad uuid", {"dataset_id": "not-a-uuid"}, ["body", "dataset_id"]),
    ("bad device", {"device": "tpu"}, ["body", "device"]),
    ("bad metric", {"metrics": ["f1"]}, ["body", "metrics", 0]),
    ("nul in name", {"name": "a\u0000b"}, ["body", "name"]),
    ("control in label", {"labels": {"k": "\u0007"}}, ["body", "labels", "k"]),
    ("bad label key", {"labels": {"bad key": "v"}}, ["body", "labels", "bad key", "[key]"]),
    ("too many labels", {"labels": {f"k{i}": "v" for i in range(33)}}, ["body", "labels"]),
    ("negative priority", {"priority": -10**6}, ["body", "priority"]),
    ("layers not a list", {"model": {"layers": {"type": "Linear"}}},
     ["body", "model", "layers"]),
    ("no layers", {"model": {"layers": []}}, ["body", "model", "layers"]),
    ("too many layers in a list", {"model": {"layers": [{"type": "ReLU"}] * 257}},
     ["body", "model", "layers"]),
    ("too deep", {"model": {"layers": [_nested(9)]}},
     ["body", "model", "layers", 0, *["layers", 0] * 9]),
    ("too many layers", {"model": {"layers": [{"type": "Sequential", "layers": [
        {"type": "ReLU"}] * 200}] * 3}}, ["body", "model", "layers"]),
    ("code in a type", {"loss": {"type": "__import__('os').system('id')"}},
     ["body", "loss", "type"]),
    ("loss not an object", {"loss": "MSELoss"}, ["body", "loss"]),
    ("grad clip zero", {"grad_clip_norm": 0}, ["body", "grad_clip_norm"]),
    ("split one", {"validation_split": 1.0}, ["body", "validation_split"]),
]


@pytest.mark.parametrize(("label", "overrides", "loc"), CASES, ids=[c[0] for c in CASES])
def test_bad_job_bodies(client: TestClient, team: TeamHandle, xor_id: str, label: str,
                        overrides: dict[str, Any], loc: list[Any]) -> None:
    response = client.post("/v1/jobs", json=mlp_job(xor_id, **overrides), headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc, (label, response.json())
    assert client.get("/v1/jobs", headers=team.headers).json()["items"] == []


def test_raw_json_hazards(client: TestClient, team: TeamHandle, xor_id: str) -> None:
    good = json.dumps(mlp_job(xor_id))
    for raw in [
        good.replace('"lr": 0.01', '"lr": NaN'),
        good.replace('"lr": 0.01', '"lr": Infinity'),
        good.replace('"lr": 0.01', '"lr": 1e999'),
        good.replace('"epochs": 3', '"epochs": ' + "9" * 5000),
        good.replace('"Adam"', '"\\ud800"'),
        good.replace('"Adam"', '"Ad\\u0000am"'),
        json.dumps(mlp_job(xor_id, model={"layers": [_nested(150)]})),  # JSON depth > 200
        good[:-10],
    ]:
        response = _post_raw(client, team, raw.encode())
        assert response.status_code == 422, (raw[:200], response.text)
        error_of(response, 422)
    assert client.get("/v1/jobs", headers=team.headers).json()["items"] == []


def test_dry_run_and_query_parameters(client: TestClient, team: TeamHandle, xor_id: str) -> None:
    for value in ("maybe", "2", ""):
        response = client.post("/v1/jobs", params={"dry_run": value}, json=mlp_job(xor_id),
                               headers=team.headers)
        error_of(response, 422)
        assert first_loc(response) == ["query", "dry_run"]
