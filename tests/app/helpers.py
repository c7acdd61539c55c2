"""Payload builders and assertions shared by the app tests."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

XOR = {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "targets": [0, 1, 1, 0]}


def npy_bytes(array: np.ndarray, *, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def error_of(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert an error response's status and shape; return its `detail`."""
    assert response.status_code == status, (response.status_code, response.text)
    detail = response.json()["detail"]
    assert isinstance(detail, dict), detail
    assert isinstance(detail["code"], str) and isinstance(detail["message"], str)
    if code is not None:
        assert detail["code"] == code, detail
    return detail


def first_loc(response: Any) -> list[Any]:
    """The field path of the first field error of a 4xx response."""
    detail = response.json()["detail"]
    assert detail.get("errors"), detail
    return detail["errors"][0]["loc"]


def api_operations(app: Any) -> list[tuple[str, str]]:
    """Every documented (method, path template) of the app, from its OpenAPI schema."""
    methods = {"get", "post", "put", "patch", "delete"}
    return [(method.upper(), path) for path, item in app.openapi()["paths"].items()
            for method in item if method in methods]


def linear(i: int, o: int) -> dict[str, Any]:
    return {"type": "Linear", "in_features": i, "out_features": o}


def mlp_job(dataset_id: str, /, **overrides: Any) -> dict[str, Any]:
    """A small valid job for the XOR dataset (2 features, classes 0..1)."""
    body: dict[str, Any] = {
        "dataset_id": dataset_id,
        "model": {"layers": [linear(2, 8), {"type": "ReLU"}, linear(8, 2)]},
        "loss": {"type": "CrossEntropyLoss"},
        "optimizer": {"type": "Adam", "lr": 0.01},
        "epochs": 3, "batch_size": 2,
    }
    body.update(overrides)
    return body


def create_dataset(client: Any, headers: dict[str, str], body: dict[str, Any] | None = None
                   ) -> str:
    response = client.post("/v1/datasets", json=body or XOR, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def submit(client: Any, headers: dict[str, str], body: dict[str, Any], status: int = 201
           ) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body, headers=headers)
    assert response.status_code == status, response.text
    return response.json()
