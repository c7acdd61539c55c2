"""Helpers for tests that run real worker processes (`python -m app.cli worker`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from tests.app.conftest import TeamHandle
from tests.app.helpers import create_dataset, linear, mlp_job, submit

ROOT = Path(__file__).resolve().parents[2]
# Every epoch's end is checkpointed (the tests count checkpoints and resume from them).
EVERY_EPOCH = {"TRAINFORGE_EPOCH_CHECKPOINT_MIN_INTERVAL_SECONDS": "0"}
# Short leases so that fault tests see expiry, reaping and cancellation in seconds.
FAST_LEASES = {"TRAINFORGE_LEASE_SECONDS": "2", "TRAINFORGE_HEARTBEAT_SECONDS": "0.4",
               "TRAINFORGE_REAP_INTERVAL_SECONDS": "0.3", "TRAINFORGE_POLL_SECONDS": "0.1"}


def blobs(rows: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(rows) % 2
    centers = np.array([[-2.0, -2.0], [2.0, 2.0]])
    x = centers[y] + rng.normal(scale=0.7, size=(rows, 2))
    return x.astype(np.float32), y.astype(np.int64)


def run_worker(database_url: str, *extra: str, timeout: float = 120,
               env: dict[str, str] | None = None) -> str:
    """Run `worker --once` to the end of the queue; returns its output."""
    env = {**os.environ, **EVERY_EPOCH, "TRAINFORGE_DATABASE_URL": database_url,
           **(env or {})}
    done = subprocess.run([sys.executable, "-m", "app.cli", "worker", "--once",
                           "--device", "cpu", "--name", "test", *extra],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout + done.stderr


def get(client: Any, team: TeamHandle, path: str) -> Any:
    response = client.get(path, headers=team.headers)
    assert response.status_code == 200, response.text
    return response


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The 8x8 digits (tests/data), flattened, on a fixed 80/20 split."""
    data = np.load(ROOT / "tests" / "data" / "digits.npz")
    x = (data["images"].astype(np.float32) / 16.0).reshape(len(data["images"]), -1)
    y = data["target"].astype(np.int64)
    order = np.random.default_rng(0).permutation(len(x))
    cut = int(0.8 * len(x))
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def all_events(client: Any, team: TeamHandle, path: str) -> list[dict[str, Any]]:
    """Every event of the job at `path`, oldest first (following the cursor)."""
    items: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = get(client, team, f"{path}/events?limit=200{cursor}").json()
        items += page["items"]
        if page["next_cursor"] is None:
            return items
        cursor = f"&cursor={page['next_cursor']}"


def start_worker(database_url: str, *extra: str, name: str = "bg",
                 env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """A background worker process (stop it with SIGTERM, or `stop_worker`)."""
    env = {**os.environ, **EVERY_EPOCH, "TRAINFORGE_DATABASE_URL": database_url,
           **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--device", "cpu",
                             "--name", name, "--poll", "0.1", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop_worker(worker: subprocess.Popen[str], timeout: float = 60) -> str:
    """SIGTERM (SIGKILL if it hangs) and return the worker's output."""
    if worker.poll() is None:
        worker.terminate()
    try:
        output, _ = worker.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.kill()
        output, _ = worker.communicate()
    return output or ""


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def long_job(client: Any, team: TeamHandle, **overrides: Any) -> dict[str, Any]:
    x, y = blobs()
    dataset_id = create_dataset(client, team.headers, {
        "name": "blobs", "inputs": x.tolist(), "targets": y.tolist()})
    body = {"model": {"layers": [linear(2, 16), {"type": "ReLU"}, linear(16, 2)]},
            "epochs": 40, "batch_size": 4, "seed": 3, "checkpoint_every_steps": 30,
            **overrides}
    return submit(client, team.headers, mlp_job(dataset_id, **body))


