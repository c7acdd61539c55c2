"""Submission reuses the report of a spec already validated on datasets of the same
metadata (an LRU), and never where the answer could differ: other row counts, other
limits, or a token model on other token ids. A dataset deleted after validation is
still caught (by the insert's foreign key)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, func, select

from app.models import Dataset, Job
from app.spec import validate
from tests.app.conftest import ScratchDatabase, TeamHandle, TestClient
from tests.app.helpers import XOR, create_dataset, error_of, first_loc, linear, mlp_job, submit


@pytest.fixture(autouse=True)
def empty_cache() -> Iterator[None]:
    validate.REPORTS.clear()
    yield
    validate.REPORTS.clear()


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The datasets each full validation ran on."""
    calls: list[Any] = []
    real = validate.validate_job

    def counting(spec: Any, data: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(data)
        return real(spec, data, *args, **kwargs)

    monkeypatch.setattr(validate, "validate_job", counting)
    return calls


def test_a_spec_is_validated_once_per_dataset_shape(client: TestClient, team: TeamHandle,
                                                    validations: list[Any]) -> None:
    xor = create_dataset(client, team.headers)
    same_shape = create_dataset(client, team.headers, XOR | {"name": "copy"})
    first = submit(client, team.headers, mlp_job(xor, name="a", labels={"x": "1"}, seed=1))
    again = submit(client, team.headers, mlp_job(same_shape, name="b", seed=2, priority=3))
    assert len(validations) == 1
    assert (first["progress"]["total_steps"], again["progress"]["total_steps"]) == (6, 6)
    dry = client.post("/v1/jobs", params={"dry_run": "true"}, json=mlp_job(xor),
                      headers=team.headers)
    assert dry.status_code == 200 and dry.json()["parameters"] == 42 and len(validations) == 1
    # Another row count is another plan; another spec, another validation.
    more_rows = create_dataset(client, team.headers, XOR | {
        "inputs": XOR["inputs"] * 2, "targets": XOR["targets"] * 2})
    assert submit(client, team.headers, mlp_job(more_rows))["progress"]["total_steps"] == 12
    submit(client, team.headers, mlp_job(xor, epochs=4))
    assert len(validations) == 3


def test_other_limits_are_another_answer(make_client, client: TestClient, team: TeamHandle,
                                         validations: list[Any]) -> None:
    xor = create_dataset(client, team.headers)
    submit(client, team.headers, mlp_job(xor))
    strict = make_client(max_model_parameters=10)
    response = strict.post("/v1/jobs", json=mlp_job(xor), headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["body", "model"] and len(validations) == 2


def test_failures_are_not_cached(client: TestClient, team: TeamHandle,
                                 validations: list[Any]) -> None:
    xor = create_dataset(client, team.headers)
    bad = mlp_job(xor, model={"layers": [linear(2, 8), linear(7, 2)]})
    for _ in range(2):
        response = client.post("/v1/jobs", json=bad, headers=team.headers)
        assert first_loc(response) == ["body", "model", "layers", 1, "in_features"]
    assert len(validations) == 2 and len(validate.REPORTS._reports) == 0


def test_token_models_are_checked_against_each_datasets_ids(client: TestClient,
                                                            team: TeamHandle) -> None:
    small = create_dataset(client, team.headers, {"name": "small", "inputs": [[1, 2], [0, 3]],
                                                  "targets": [0, 1]})
    large = create_dataset(client, team.headers, {"name": "large", "inputs": [[1, 9], [0, 3]],
                                                  "targets": [0, 1]})
    layers = [{"type": "Embedding", "num_embeddings": 4, "embedding_dim": 4},
              {"type": "SequencePool", "mode": "mean"}, linear(4, 2)]
    submit(client, team.headers, mlp_job(small, model={"layers": layers}))
    response = client.post("/v1/jobs", json=mlp_job(large, model={"layers": layers}),
                           headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["body", "model", "layers", 0, "num_embeddings"]


def test_the_cache_is_bounded(client: TestClient, team: TeamHandle,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate.REPORTS, "entries", 2)
    xor = create_dataset(client, team.headers)
    for epochs in (1, 2, 3, 1):
        submit(client, team.headers, mlp_job(xor, epochs=epochs))
    assert len(validate.REPORTS._reports) == 2


def test_a_dataset_deleted_after_validation_is_a_422_and_nothing_is_queued(
    client: TestClient, team: TeamHandle, database: ScratchDatabase,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services import job_submit

    xor = create_dataset(client, team.headers)
    validated = job_submit.validate_cached

    def validate_then_delete(*args: Any, **kwargs: Any) -> Any:
        report = validated(*args, **kwargs)
        with database.engine.begin() as conn:  # no job uses it yet: deletable
            conn.execute(delete(Dataset).where(Dataset.id == uuid.UUID(xor)))
        return report

    monkeypatch.setattr(job_submit, "validate_cached", validate_then_delete)
    response = client.post("/v1/jobs", json=mlp_job(xor), headers=team.headers)
    error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["body", "dataset_id"]
    with database.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Job)) == 0
