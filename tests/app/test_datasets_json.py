"""JSON dataset upload: storage, dtypes, and validation errors with field paths."""

from __future__ import annotations

import hashlib
import json
import uuid

import numpy as np
import pytest
from sqlalchemy import func, select

from app.db import Database
from app.models import DatasetContent
from app.services import arrays, datasets
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import XOR, error_of, first_loc


def _load(database: ScratchDatabase, team: TeamHandle, dataset_id: str):
    with Database(database.engine).session() as session:
        return datasets.load_arrays(session, uuid.UUID(team.id), uuid.UUID(dataset_id))


def test_xor_is_stored_as_float32_inputs_and_int64_classes(
    client: TestClient, team: TeamHandle, database: ScratchDatabase
) -> None:
    response = client.post("/v1/datasets", json=XOR, headers=team.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/datasets/{body['id']}"
    assert {k: body[k] for k in ("name", "format", "rows", "input_shape", "input_dtype",
                                 "target_shape", "target_dtype", "num_classes")} == {
        "name": "xor", "format": "json", "rows": 4, "input_shape": [2],
        "input_dtype": "float32", "target_shape": [], "target_dtype": "int64", "num_classes": 2}
    x, y = _load(database, team, body["id"])
    assert x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(x, np.array(XOR["inputs"], np.float32))
    np.testing.assert_array_equal(y, XOR["targets"])
    with database.engine.connect() as conn:
        content = conn.execute(select(DatasetContent.data)).scalar_one()
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size_bytes"] == len(content)
    assert content.startswith(b"\x93NUMPY")  # .npy records, not pickle, not JSON text
    assert client.get(f"/v1/datasets/{body['id']}", headers=team.headers).json() == body


@pytest.mark.parametrize(("inputs", "targets", "expected"), [
    ([[[[0.0, 0.5], [1.0, 0.25]]]] * 3, [0.5, 1.5, -2.0],
     {"input_shape": [1, 2, 2], "target_shape": [], "target_dtype": "float32",
      "num_classes": None}),
    ([[1, 2, 3], [4, 5, 6]], [[2, 3, 4], [5, 6, 7]],
     {"input_shape": [3], "target_shape": [3], "target_dtype": "int64", "num_classes": 8}),
    ([1.5, -2, 3e10], [-1, 0, 1],
     {"input_shape": [], "target_shape": [], "target_dtype": "int64", "num_classes": None}),
    ([[1], [2]], [[0.5, 1], [1, 2]],
     {"input_shape": [1], "target_shape": [2], "target_dtype": "float32", "num_classes": None}),
])
def test_sample_shapes_and_target_dtypes(client: TestClient, team: TeamHandle, inputs: list,
                                         targets: list, expected: dict) -> None:
    response = client.post("/v1/datasets", json={"name": "d", "inputs": inputs,
                                                 "targets": targets}, headers=team.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert {k: body[k] for k in expected} == expected
    assert body["rows"] == len(inputs)


@pytest.mark.parametrize(("inputs", "targets", "loc", "kind"), [
    ([[1, 2], [3]], [0, 1], ["body", "inputs", 1], "not_rectangular"),
    ([[1, 2], 3], [0, 1], ["body", "inputs", 1], "not_rectangular"),
    ([[1, 2], [3, [4]]], [0, 1], ["body", "inputs", 1, 1], "not_a_number"),
    ([[1, True]], [0], ["body", "inputs", 0, 1], "not_a_number"),
    ([[1, "2"]], [0], ["body", "inputs", 0, 1], "not_a_number"),
    ([[1, None]], [0], ["body", "inputs", 0, 1], "not_a_number"),
    ([[1, {"a": 1}]], [0], ["body", "inputs", 0, 1], "not_a_number"),
    ([[1, 2], [3, 4]], [[0], 1], ["body", "targets", 1], "not_rectangular"),
    ([[1], [2]], [0], ["body", "targets"], "length_mismatch"),
    ([[]], [0], ["body", "inputs", 0], "empty"),
    ([[1, 1e39]], [0], ["body", "inputs", 0, 1], "not_finite"),
    ([[1, 10**40]], [0], ["body", "inputs", 0, 1], "not_finite"),
    ([[1, 10**400]], [0], ["body", "inputs", 0, 1], "out_of_range"),
    ([[1]], [2**63], ["body", "targets", 0], "out_of_range"),
    ([1], [1e300], ["body", "targets", 0], "not_finite"),
    ([[[[[[[[[1]]]]]]]]], [0], ["body", "inputs", 0, 0, 0, 0, 0, 0, 0, 0], "too_many_dims"),
])
def test_invalid_samples_name_the_offending_path(client: TestClient, team: TeamHandle,
                                                 inputs: list, targets: list, loc: list,
                                                 kind: str) -> None:
    response = client.post("/v1/datasets", json={"name": "d", "inputs": inputs,
                                                 "targets": targets}, headers=team.headers)
    detail = error_of(response, 422, "validation_failed")
    assert detail["errors"][0]["loc"] == loc and detail["errors"][0]["type"] == kind


@pytest.mark.parametrize(("raw", "loc"), [
    ('{"name": "d", "inputs": [NaN], "targets": [0]}', ["body", 25]),
    ('{"name": "d", "inputs": [Infinity], "targets": [0]}', ["body", 25]),
    ('{"name": "d", "inputs": [-Infinity], "targets": [0]}', ["body", 26]),
    ('{"name": "d", "inputs": [1e400], "targets": [0]}', ["body", "inputs", 0]),
])
def test_nan_and_infinity_are_refused(client: TestClient, team: TeamHandle, raw: str,
                                      loc: list) -> None:
    response = client.post("/v1/datasets", content=raw.encode(), headers={
        **team.headers, "content-type": "application/json"})
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc


@pytest.mark.parametrize(("body", "loc"), [
    ({"name": "d", "inputs": [1]}, ["body", "targets"]),
    ({"name": "d", "inputs": [], "targets": []}, ["body", "inputs"]),
    ({"name": "d", "inputs": [1], "targets": [1], "labels": {}}, ["body", "labels"]),
    ({"name": "", "inputs": [1], "targets": [1]}, ["body", "name"]),
    ({"name": "a\u0000b", "inputs": [1], "targets": [1]}, ["body", "name"]),
    ({"name": "x" * 201, "inputs": [1], "targets": [1]}, ["body", "name"]),
    ({"name": 5, "inputs": [1], "targets": [1]}, ["body", "name"]),
    ({"name": "d", "inputs": {"a": 1}, "targets": [1]}, ["body", "inputs"]),
    ({"name": "d", "inputs": "1,2", "targets": [1]}, ["body", "inputs"]),
])
def test_malformed_bodies_name_the_field(client: TestClient, team: TeamHandle, body: dict,
                                         loc: list) -> None:
    response = client.post("/v1/datasets", json=body, headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == loc


def test_value_limit_is_413_and_nothing_is_half_written(
    make_client, team: TeamHandle, database: ScratchDatabase
) -> None:
    client = make_client(max_dataset_values=10)
    response = client.post("/v1/datasets", json={"name": "big", "inputs": [[1, 2]] * 5,
                                                 "targets": [0] * 5}, headers=team.headers)
    detail = error_of(response, 413, "too_many_values")
    assert detail["errors"][0]["loc"] == ["body"]
    for bad in ([[1, 2]] * 4, [[1, 2], [3]]):
        client.post("/v1/datasets", json={"name": "x", "inputs": bad, "targets": [0] * 5},
                    headers=team.headers)
    assert client.get("/v1/datasets", headers=team.headers).json()["items"] == []
    with database.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(DatasetContent)).scalar() == 0


def test_a_large_dataset_round_trips_exactly(client: TestClient, team: TeamHandle,
                                             database: ScratchDatabase) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((256, 3, 8, 8)).astype(np.float32)
    y = rng.integers(0, 10, 256)
    payload = json.dumps({"name": "img", "inputs": x.tolist(), "targets": y.tolist()})
    response = client.post("/v1/datasets", content=payload, headers={
        **team.headers, "content-type": "application/json"})
    assert response.status_code == 201, response.text
    assert response.json()["num_classes"] == int(y.max()) + 1
    got_x, got_y = _load(database, team, response.json()["id"])
    np.testing.assert_array_equal(got_x, x)
    np.testing.assert_array_equal(got_y, y)


def test_storage_format_is_two_npy_records() -> None:
    data = arrays.from_json([[1, 2]], [3], arrays.ArrayLimits(100, 8))
    x, y = arrays.decode(arrays.encode(data))
    assert x.tolist() == [[1.0, 2.0]] and y.tolist() == [3]
