"""Submitting jobs: what is stored, the dry run, and the 422s a spec that does not fit its
dataset gets, each naming the offending field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.app.conftest import TeamHandle, TestClient
from tests.app.helpers import create_dataset, error_of, first_loc, linear, mlp_job, submit

REGRESSION = {"name": "reg", "inputs": [[0.1, 0.2, 0.3]] * 6, "targets": [[1.0, 2.0]] * 6}
DIGITS = {"name": "digits", "inputs": [[float(i % 7)] * 4 for i in range(10)],
          "targets": list(range(10))}


@pytest.fixture
def xor_id(client: TestClient, team: TeamHandle) -> str:
    return create_dataset(client, team.headers)


def _jobs(client: TestClient, team: TeamHandle) -> list[dict[str, Any]]:
    return client.get("/v1/jobs", headers=team.headers).json()["items"]


def test_submit_queues_the_job_with_the_spec_stored(client: TestClient, team: TeamHandle,
                                                    xor_id: str) -> None:
    response = client.post("/v1/jobs", json=mlp_job(xor_id, name="xor", labels={"a": "b"},
                                                    priority=5), headers=team.headers)
    assert response.status_code == 201, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert (job["name"], job["labels"], job["priority"]) == ("xor", {"a": "b"}, 5)
    assert (job["status"], job["attempts"], job["queue_position"]) == ("queued", 0, 1)
    assert job["progress"] == {"step": 0, "total_steps": 6, "epoch": 0, "fraction": 0.0,
                               "percent": 0.0, "samples_per_second": None,
                               "eta_seconds": None}
    spec = job["spec"]
    assert spec["model"]["layers"][0] == {**linear(2, 8), "bias": True}
    assert spec["optimizer"]["betas"] == [0.9, 0.999]  # defaults filled in
    assert isinstance(spec["seed"], int) and spec["checkpoint_every_steps"] == 1000
    assert "name" not in spec and "labels" not in spec
    assert client.get(f"/v1/jobs/{job['id']}", headers=team.headers).json() == job
    unnamed = submit(client, team.headers, mlp_job(xor_id, max_steps=4, seed=7))
    assert unnamed["name"] == f"job-{unnamed['id'].replace('-', '')[:8]}"
    assert unnamed["spec"]["seed"] == 7 and unnamed["progress"]["total_steps"] == 4


def test_dry_run_reports_and_queues_nothing(client: TestClient, team: TeamHandle,
                                            xor_id: str) -> None:
    body = mlp_job(xor_id, validation_split=0.25, epochs=10, max_steps=25)
    response = client.post("/v1/jobs", params={"dry_run": "true"}, json=body,
                           headers=team.headers | {"Idempotency-Key": "dry"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is True and report["parameters"] == 2 * 8 + 8 + 8 * 2 + 2
    assert (report["input_shape"], report["output_shape"]) == ([2], [2])
    assert (report["train_rows"], report["validation_rows"]) == (3, 1)
    assert (report["steps_per_epoch"], report["total_steps"], report["epochs"]) == (2, 20, 10)
    assert report["estimated_memory_bytes"] > 4 * report["parameters"] * 4
    assert [layer["path"] for layer in report["layers"]] == [
        "model.layers[0]", "model.layers[1]", "model.layers[2]"]
    assert report["layers"][0]["output_shape"] == [8]
    assert _jobs(client, team) == []
    # The key was not consumed by the dry run.
    again = client.post("/v1/jobs", json=body, headers=team.headers | {"Idempotency-Key": "dry"})
    assert again.status_code == 201


def _fails(client: TestClient, team: TeamHandle, body: dict[str, Any], loc: list[Any],
           type_: str | None = None, message: str | None = None) -> dict[str, Any]:
    response = client.post("/v1/jobs", json=body, headers=team.headers)
    detail = error_of(response, 422, "validation_failed")
    assert first_loc(response) == ["body", *loc], detail
    if type_ is not None:
        assert detail["errors"][0]["type"] == type_, detail
    if message is not None:
        assert detail["message"] == message, detail
    return detail


def test_wrong_in_features_names_the_layer_and_what_it_needed(
    client: TestClient, team: TeamHandle, xor_id: str
) -> None:
    layers = [linear(2, 128), {"type": "ReLU"}, linear(64, 2)]
    _fails(client, team, mlp_job(xor_id, model={"layers": layers}),
           ["model", "layers", 2, "in_features"], "shape_mismatch",
           "model.layers[2].in_features: expected 128 to match the output of layer 1, got 64")
    _fails(client, team, mlp_job(xor_id, model={"layers": [linear(3, 2)]}),
           ["model", "layers", 0, "in_features"], "shape_mismatch",
           "model.layers[0].in_features: expected 2 to match the dataset's input, got 3")
    nested = [linear(2, 4), {"type": "Residual", "layers": [linear(4, 4), {"type": "Sequential",
                                                                       "layers": [linear(5, 4)]}]}]
    _fails(client, team, mlp_job(xor_id, model={"layers": nested}),
           ["model", "layers", 1, "layers", 1, "layers", 0, "in_features"], "shape_mismatch")
    conv = [{"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": 1}]
    detail = _fails(client, team, mlp_job(xor_id, model={"layers": conv}),
                    ["model", "layers", 0], "shape_mismatch")
    assert "Unflatten" in detail["message"]


def test_unknown_layer_type_and_bad_arguments(client: TestClient, team: TeamHandle,
                                              xor_id: str) -> None:
    detail = _fails(client, team, mlp_job(xor_id, model={"layers": [{"type": "Lineer"}]}),
                    ["model", "layers", 0, "type"], "unknown_type")
    assert "did you mean 'Linear'" in detail["message"]
    for layer, loc in [
        ({"type": "os.system", "command": "rm -rf /"}, ["type"]),
        ({"in_features": 2}, ["type"]),
        ({"type": 7}, ["type"]),
        ({**linear(2, 2), "device": "cuda"}, ["device"]),
        ({**linear(2, 2), "bias": 1}, ["bias"]),
        (linear(2, 10**30), ["out_features"]),
        (linear(2, -1), ["out_features"]),
        ({"type": "Dropout", "p": 1.5}, ["p"]),
        ({"type": "Conv1d", "in_channels": 2, "out_channels": 2, "kernel_size": [1, 2]},
         ["kernel_size"]),
        ({"type": "MultiheadAttention", "embed_dim": 10, "num_heads": 3}, ["num_heads"]),
        ("Linear", []),
    ]:
        _fails(client, team, mlp_job(xor_id, model={"layers": [layer]}),
               ["model", "layers", 0, *loc])
    _fails(client, team, mlp_job(xor_id, loss={"type": "CosineEmbeddingLoss"}),
           ["loss", "type"])
    _fails(client, team, mlp_job(xor_id, optimizer={"type": "SGD", "nesterov": True}),
           ["optimizer", "nesterov"])
    _fails(client, team, mlp_job(xor_id, optimizer={"type": "Adam", "lr": -1}),
           ["optimizer", "lr"])
    _fails(client, team, mlp_job(xor_id, lr_scheduler={"type": "LambdaLR", "lr_lambda": "x"}),
           ["lr_scheduler", "type"])
    assert _jobs(client, team) == []


def test_classes_out_of_range_for_cross_entropy(client: TestClient, team: TeamHandle) -> None:
    digits = create_dataset(client, team.headers, DIGITS)
    layers = [linear(4, 16), {"type": "ReLU"}, linear(16, 5)]
    _fails(client, team, mlp_job(digits, model={"layers": layers}),
           ["model", "layers", 2, "out_features"], "classes_out_of_range",
           "model.layers[2].out_features: expected at least 10 to cover the dataset's class "
           "indices 0..9, got 5")
    regression = create_dataset(client, team.headers, REGRESSION)
    _fails(client, team, mlp_job(regression, model={"layers": [linear(3, 2)]}),
           ["loss", "type"], "targets_not_classes")
    _fails(client, team, mlp_job(digits, model={"layers": [linear(4, 10)]},
                                 loss={"type": "CrossEntropyLoss", "weight": [1.0] * 3}),
           ["loss", "weight"], "length_mismatch")
    _fails(client, team, mlp_job(digits, model={"layers": [linear(4, 1)]},
                                 loss={"type": "BCEWithLogitsLoss"}),
           ["loss", "type"], "targets_not_binary")


def test_regression_target_shape_mismatch(client: TestClient, team: TeamHandle) -> None:
    regression = create_dataset(client, team.headers, REGRESSION)
    body = mlp_job(regression, model={"layers": [linear(3, 8), {"type": "Tanh"}, linear(8, 3)]},
                   loss={"type": "MSELoss"})
    _fails(client, team, body, ["model", "layers", 2, "out_features"], "target_shape_mismatch",
           "model.layers[2].out_features: expected 2 to match the dataset's target shape [2], "
           "got 3")
    body["model"]["layers"][-1] = {"type": "Unflatten", "dim": 1, "unflattened_size": [2, 4]}
    _fails(client, team, body, ["model", "layers", 2], "target_shape_mismatch")
    body["model"]["layers"][-1] = linear(8, 2)
    assert submit(client, team.headers, body | {"metrics": ["mae", "rmse"]})["status"] == "queued"
    _fails(client, team, body | {"metrics": ["accuracy"]}, ["metrics", 0], "metric_unsupported")


def test_scalar_regression_targets_match_an_output_of_one(client: TestClient,
                                                          team: TeamHandle) -> None:
    dataset = create_dataset(client, team.headers, {"name": "s", "inputs": [[1.0], [2.0]],
                                                    "targets": [0.5, 1.5]})
    submit(client, team.headers, mlp_job(dataset, model={"layers": [linear(1, 1)]},
                                         loss={"type": "HuberLoss"}))


def test_too_many_parameters_and_too_much_memory(make_client: Any) -> None:
    client = make_client(max_model_parameters=10_000, max_training_memory_bytes=1 << 20)
    from tests.app.conftest import create_team

    team = create_team(client, "limited")
    xor_id = create_dataset(client, team.headers)
    layers = [linear(2, 64), linear(64, 200), linear(200, 2)]
    _fails(client, team, mlp_job(xor_id, model={"layers": layers}), ["model"],
           "too_many_parameters",
           "model: the model has 13,594 parameters; the limit is 10,000 (the largest layer, "
           "model.layers[1], has 13,000)")
    huge = [linear(2, 1 << 20), linear(1 << 20, 2)]  # refused before anything is allocated
    _fails(client, team, mlp_job(xor_id, model={"layers": huge}), ["model"],
           "too_many_parameters")
    wide = [linear(2, 4), {"type": "Unflatten", "dim": 1, "unflattened_size": [4, 1]},
            {"type": "ConvTranspose1d", "in_channels": 4, "out_channels": 4,
             "kernel_size": 64, "stride": 64}, {"type": "Flatten"}]
    _fails(client, team, mlp_job(xor_id, model={"layers": wide + [linear(64 * 4, 2)]},
                                 batch_size=4096), ["model", "layers", 2], "too_much_memory")
    _fails(client, team, mlp_job(xor_id, model={"layers": [linear(2, 2)]}, batch_size=65536),
           ["batch_size"], "too_much_memory")


def test_the_dummy_pass_is_bounded_on_the_api_server(make_client: Any) -> None:
    client = make_client(max_validation_memory_bytes=600_000)
    from tests.app.conftest import create_team

    team = create_team(client, "checked")
    xor_id = create_dataset(client, team.headers)
    wide = [linear(2, 50_000), {"type": "ReLU"}, linear(50_000, 2)]  # 400 KB a layer
    _fails(client, team, mlp_job(xor_id, model={"layers": wide}, batch_size=1),
           ["model", "layers", 1], "too_large_to_check")


@pytest.mark.parametrize(("overrides", "loc", "type_"), [
    ({"epochs": None}, ["epochs"], "missing"),
    ({"validation_split": 0.5, "validation_dataset_id": "SELF"}, ["validation_split"],
     "ambiguous"),
    ({"validation_split": 0.1}, ["validation_split"], "split_empty"),
    ({"dataset_id": str(uuid.UUID(int=1))}, ["dataset_id"], "not_found"),
    ({"early_stopping": {"monitor": "val_loss"}}, ["early_stopping", "monitor"],
     "needs_validation"),
    ({"lr_scheduler": {"type": "ReduceLROnPlateau", "monitor": "train_accuracy"},
      "validation_split": 0.5}, ["lr_scheduler", "monitor"], "unknown_metric"),
    ({"metrics": ["accuracy", "accuracy"]}, ["metrics", 1], "duplicate"),
    ({"metrics": ["top5_accuracy"]}, ["metrics", 0], "metric_unsupported"),
    ({"max_runtime_seconds": 30 * 86_400}, ["max_runtime_seconds"], "less_than_equal"),
    ({"model": {"layers": [linear(2, 2), {"type": "BatchNorm1d", "num_features": 2}]},
      "batch_size": 3}, ["batch_size"], "batch_too_small"),
    ({"model": {"layers": [linear(2, 2), {"type": "Embedding", "num_embeddings": 4,
                                          "embedding_dim": 2}]}},
     ["model", "layers", 1], "not_tokens"),
])
def test_spec_checks_against_the_dataset(client: TestClient, team: TeamHandle, xor_id: str,
                                         overrides: dict[str, Any], loc: list[Any],
                                         type_: str) -> None:
    body = mlp_job(xor_id, **overrides)
    if body.get("validation_dataset_id") == "SELF":
        body["validation_dataset_id"] = xor_id
    _fails(client, team, {k: v for k, v in body.items() if v is not None}, loc, type_)


def test_sequence_model_with_validation_dataset(client: TestClient, team: TeamHandle) -> None:
    tokens = {"name": "tokens", "inputs": [[1, 2, 3, 4], [4, 3, 2, 1], [0, 0, 1, 1]] * 2,
              "targets": [0, 1, 2] * 2}
    train = create_dataset(client, team.headers, tokens)
    held_out = create_dataset(client, team.headers, tokens | {"inputs": tokens["inputs"][:3],
                                                              "targets": [2, 1, 0]})
    layers = [{"type": "Embedding", "num_embeddings": 5, "embedding_dim": 8},
              {"type": "LSTM", "input_size": 8, "hidden_size": 8, "bidirectional": True},
              {"type": "TransformerEncoderLayer", "d_model": 16, "nhead": 2,
               "dim_feedforward": 16},
              {"type": "SequencePool", "mode": "last"}, linear(16, 3)]
    body = mlp_job(train, model={"layers": layers}, validation_dataset_id=held_out,
                   metrics=["accuracy"], early_stopping={"monitor": "val_accuracy",
                                                         "mode": "max"},
                   lr_scheduler={"type": "OneCycleLR", "max_lr": 0.1})
    job = submit(client, team.headers, body)
    assert job["validation_dataset_id"] == held_out
    layers[0]["num_embeddings"] = 4
    _fails(client, team, body, ["model", "layers", 0, "num_embeddings"], "tokens_out_of_range",
           "model.layers[0].num_embeddings: expected at least 5 to cover the dataset's token "
           "ids 0..4, got 4")
    other = create_dataset(client, team.headers, {"name": "o", "inputs": [[1, 2]],
                                                  "targets": [0]})
    layers[0]["num_embeddings"] = 5
    _fails(client, team, body | {"validation_dataset_id": other}, ["validation_dataset_id"],
           "dataset_mismatch")
