"""The worker on a GPU (marked `gpu`: skipped without CuPy and an NVIDIA GPU): a `cuda`
job trains through CuPy, and a job that runs out of GPU memory fails with a clear error
and leaves the device free for the next job."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import engine
from tests.app.conftest import TeamHandle
from tests.app.helpers import create_dataset, linear, mlp_job, submit
from tests.app.worker_helpers import all_events, blobs, get, run_worker

pytestmark = pytest.mark.gpu


def test_a_cuda_job_trains_on_the_gpu(client: Any, team: TeamHandle,
                                      database_url: str) -> None:
    x, y = blobs()
    dataset_id = create_dataset(client, team.headers, {
        "name": "blobs", "inputs": x.tolist(), "targets": y.tolist()})
    job = submit(client, team.headers, mlp_job(
        dataset_id, model={"layers": [linear(2, 16), {"type": "ReLU"}, linear(16, 2)]},
        epochs=5, batch_size=20, seed=1, device="cuda", validation_split=0.2))
    output = run_worker(database_url, "--device", "cuda:0")
    path = f"/v1/jobs/{job['id']}"
    body = get(client, team, path).json()
    assert body["status"] == "succeeded", (body, output[-3000:])
    claimed = next(e for e in all_events(client, team, path) if e["type"] == "claimed")
    assert claimed["payload"]["device"] == "cuda:0"
    state = engine.load(get(client, team, f"{path}/weights").content)
    model = engine.nn.Sequential(engine.nn.Linear(2, 16), engine.nn.ReLU(),
                                 engine.nn.Linear(16, 2))
    model.load_state_dict(state)
    with engine.no_grad():
        accuracy = (model(engine.from_numpy(x)).numpy().argmax(1) == y).mean()
    assert accuracy >= 0.9


def test_out_of_gpu_memory_fails_the_job_and_frees_the_device(
        client: Any, team: TeamHandle, database_url: str) -> None:
    rng = np.random.default_rng(0)
    rows = 8192
    dataset_id = create_dataset(client, team.headers, {
        "name": "wide", "inputs": rng.normal(size=(rows, 64)).round(2).tolist(),
        "targets": (np.arange(rows) % 2).tolist()})
    # One batch's activations (8192 x 16384 floats, 512 MiB) exceed the 256 MiB pool.
    huge = submit(client, team.headers, mlp_job(
        dataset_id, model={"layers": [linear(64, 16384), {"type": "ReLU"},
                                      linear(16384, 2)]},
        epochs=1, batch_size=rows, device="cuda"))
    small = submit(client, team.headers, mlp_job(
        dataset_id, model={"layers": [linear(64, 8), {"type": "ReLU"}, linear(8, 2)]},
        epochs=1, batch_size=256, device="cuda"))
    output = run_worker(database_url, "--device", "cuda",
                        env={"CUPY_GPU_MEMORY_LIMIT": str(256 * 1024 * 1024)})
    failed = get(client, team, f"/v1/jobs/{huge['id']}").json()
    assert failed["status"] == "failed", (failed, output[-3000:])
    assert failed["error"]["code"] == "out_of_memory"
    assert "out of GPU memory" in failed["error"]["message"]
    assert get(client, team, f"/v1/jobs/{small['id']}").json()["status"] == "succeeded"
