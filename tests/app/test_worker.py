"""The worker end to end: a job submitted through the API is trained by a real worker
process (`python -m app.cli worker --once`), and its results are read back through the
API: status, metrics, events, checkpoints and weights that load in engine (and torch)."""

from __future__ import annotations

import hashlib
import os
import signal
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

import engine
from app.db import Database
from app.models import Job, utcnow
from app.queue import DEFAULT_LEASE_S, claim, reap
from app.worker.runner import Outcome, RunSettings, run_job
from tests.app.conftest import TeamHandle
from tests.app.helpers import create_dataset, linear, mlp_job, submit
from tests.app.worker_helpers import (
    all_events,
    blobs,
    digits_split,
    get,
    long_job,
    run_worker,
    start_worker,
    wait_for,
)


def test_worker_trains_the_digits_mlp_end_to_end(client: Any, team: TeamHandle,
                                                 database_url: str) -> None:
    x, y, test_x, test_y = digits_split()
    train_id = create_dataset(client, team.headers, {
        "name": "digits-train", "inputs": x.tolist(), "targets": y.tolist()})
    test_id = create_dataset(client, team.headers, {
        "name": "digits-test", "inputs": test_x.tolist(), "targets": test_y.tolist()})
    layers = [linear(64, 128), {"type": "ReLU"}, linear(128, 10)]
    job = submit(client, team.headers, mlp_job(
        train_id, model={"layers": layers}, epochs=20, batch_size=32, seed=7,
        optimizer={"type": "Adam", "lr": 0.001}, validation_dataset_id=test_id))
    path = f"/v1/jobs/{job['id']}"
    run_worker(database_url)

    body = get(client, team, path).json()
    assert body["status"] == "succeeded", body
    assert body["progress"]["percent"] == 100.0 and body["progress"]["eta_seconds"] is None
    steps_per_epoch = -(-len(x) // 32)
    series = {s["name"]: s["points"] for s in
              get(client, team, f"{path}/metrics?max_points=10000").json()["series"]}
    steps = [p["step"] for p in series["loss"]]
    assert steps == list(range(1, 20 * steps_per_epoch + 1))
    assert [p["step"] for p in series["samples_per_second"]] == steps
    assert all(p["value"] > 0 for p in series["samples_per_second"])
    assert len(series["lr"]) == len(steps)
    assert len(series["train_loss"]) == 20 and len(series["val_loss"]) == 20
    assert series["val_accuracy"][-1]["value"] >= 0.95, series["val_accuracy"][-1]

    events = [e["type"] for e in get(client, team, f"{path}/events?limit=200").json()["items"]]
    assert events[0] == "created" and "claimed" in events and events[-1] == "succeeded"
    assert events.count("checkpoint_saved") == 19  # one per epoch but the last
    checkpoints = get(client, team, f"{path}/checkpoints").json()["items"]
    kept = sorted((c["kind"], c["epoch"]) for c in checkpoints)
    best_epoch = 1 + min(range(20), key=lambda e: (series["val_loss"][e]["value"], -e))
    latest = {("epoch", e) for e in (17, 18, 19)}
    assert set(kept) == latest | {("weights", 20)} | (
        {("epoch", best_epoch)} if best_epoch < 17 else set())
    assert all(c["score"] == c["metrics"]["val_loss"] for c in checkpoints)

    data = get(client, team, f"{path}/weights").content
    assert get(client, team, f"{path}/weights").headers["x-checksum-sha256"] == \
        hashlib.sha256(data).hexdigest()
    model = engine.nn.Sequential(engine.nn.Linear(64, 128), engine.nn.ReLU(),
                                 engine.nn.Linear(128, 10))
    model.load_state_dict(engine.load(data))
    with engine.no_grad():
        out = model(engine.from_numpy(test_x)).numpy()
    assert (out.argmax(axis=1) == test_y).mean() >= 0.95

    best = get(client, team, f"{path}/weights?checkpoint=best").content
    model.load_state_dict(engine.load(best))  # a training checkpoint's model, on its own
    at_step = get(client, team, f"{path}/weights?checkpoint={17 * steps_per_epoch}")
    assert engine.load(at_step.content).keys() == engine.load(data).keys()
    missing = client.get(f"{path}/weights?checkpoint=1", headers=team.headers)
    assert missing.status_code == 404, missing.text

    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file  # noqa: PLC0415 - only with torch

    file = Path(os.environ.get("TMPDIR", "/tmp")) / f"w-{job['id']}.safetensors"
    file.write_bytes(data)
    try:
        tmodel = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                     torch.nn.Linear(128, 10))
        tmodel.load_state_dict(load_file(str(file)))
    finally:
        file.unlink()
    with torch.no_grad():
        tout = tmodel(torch.from_numpy(test_x)).numpy()
    np.testing.assert_allclose(tout, out, rtol=1e-5, atol=1e-5)


def test_worker_fails_a_nan_loss_and_drains_the_queue(client: Any, team: TeamHandle,
                                                     database_url: str) -> None:
    x, y = blobs(40)
    dataset_id = create_dataset(client, team.headers, {
        "name": "huge", "inputs": x.tolist(), "targets": (y * 3e38).tolist()})
    layers = [linear(2, 8), {"type": "ReLU"}, linear(8, 1)]
    bad = submit(client, team.headers, mlp_job(
        dataset_id, model={"layers": layers}, loss={"type": "MSELoss"}, epochs=3,
        batch_size=10))
    good = submit(client, team.headers, mlp_job(create_dataset(client, team.headers),
                                                epochs=1))
    run_worker(database_url)
    failed = get(client, team, f"/v1/jobs/{bad['id']}").json()
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "nan_loss", failed
    assert get(client, team, f"/v1/jobs/{good['id']}").json()["status"] == "succeeded"
    response = client.get(f"/v1/jobs/{bad['id']}/weights", headers=team.headers)
    assert response.status_code == 409


def test_sigterm_checkpoints_releases_and_another_worker_resumes(
        client: Any, team: TeamHandle, database_url: str) -> None:
    job = long_job(client, team)
    path = f"/v1/jobs/{job['id']}"
    worker = start_worker(database_url)
    try:
        wait_for(lambda: get(client, team, path).json()["progress"]["step"] >= 100)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, output
    body = get(client, team, path).json()
    assert body["status"] == "queued" and body["attempts"] == 0, body
    events = all_events(client, team, path)
    assert [e["type"] for e in events][-1] == "released"
    checkpoints = get(client, team, f"{path}/checkpoints").json()["items"]
    stop = [c for c in checkpoints if c["kind"] == "stop"]
    assert len(stop) == 1 and stop[0]["step"] >= 100
    assert any(c["kind"] == "periodic" for c in checkpoints)

    twin = long_job(client, team)  # the same job, never interrupted
    run_worker(database_url)
    body = get(client, team, path).json()
    assert body["status"] == "succeeded" and body["attempts"] == 1, body
    resumed = engine.load(get(client, team, f"{path}/weights").content)
    straight = engine.load(get(client, team, f"/v1/jobs/{twin['id']}/weights").content)
    for name, tensor in straight.items():  # resuming changed nothing
        np.testing.assert_allclose(resumed[name].numpy(), tensor.numpy(), rtol=1e-6,
                                   atol=1e-6)
    claimed = [e for e in all_events(client, team, path)
               if e["type"] == "claimed"]
    assert claimed[-1]["payload"]["resumed"] is True
    assert claimed[-1]["payload"]["checkpoint_step"] == stop[0]["step"]
    series = {s["name"]: s["points"] for s in
              get(client, team, f"{path}/metrics?max_points=10000").json()["series"]}
    steps = [p["step"] for p in series["loss"]]
    assert steps == list(range(1, 40 * 50 + 1))  # every step once, none replayed
    assert len(series["train_loss"]) == 40


def test_cancel_stops_a_running_job(client: Any, team: TeamHandle,
                                    database_url: str) -> None:
    job = long_job(client, team, epochs=500)
    path = f"/v1/jobs/{job['id']}"
    worker = start_worker(database_url)
    try:
        wait_for(lambda: get(client, team, path).json()["progress"]["step"] >= 50)
        response = client.post(f"{path}/cancel", headers=team.headers)
        assert response.status_code == 200, response.text
        wait_for(lambda: get(client, team, path).json()["status"] == "cancelled", 40)
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    events = [e["type"] for e in all_events(client, team, path)]
    assert events[-1] == "cancelled"
    assert client.get(f"{path}/weights", headers=team.headers).status_code == 409


def test_a_worker_that_lost_its_lease_writes_nothing(
        client: Any, team: TeamHandle, session: Session, db: Database) -> None:
    job = long_job(client, team, epochs=2)
    claimed = claim(session, "w1", ["cpu"])
    assert claimed is not None
    later = utcnow() + timedelta(seconds=DEFAULT_LEASE_S + 1)
    assert reap(session, now=later).requeued == 1  # the lease expired meanwhile
    assert run_job(db, claimed) == Outcome.LOST
    path = f"/v1/jobs/{job['id']}"
    assert get(client, team, path).json()["status"] == "queued"
    assert get(client, team, f"{path}/metrics").json()["series"] == []
    assert get(client, team, f"{path}/checkpoints").json()["items"] == []


def test_a_spec_the_worker_cannot_build_fails_with_bad_spec(
        client: Any, team: TeamHandle, session: Session, db: Database) -> None:
    job = long_job(client, team, epochs=1)
    with session.begin():
        row = session.get(Job, uuid.UUID(job["id"]))
        assert row is not None
        row.spec = {**row.spec, "model": {"layers": [{"type": "NoSuchLayer"}]}}
    claimed = claim(session, "w1", ["cpu"])
    assert claimed is not None
    assert run_job(db, claimed) == Outcome.FAILED
    body = get(client, team, f"/v1/jobs/{job['id']}").json()
    assert body["status"] == "failed" and body["error"]["code"] == "bad_spec", body


def test_early_stopping_and_requested_metrics(client: Any, team: TeamHandle,
                                              session: Session, db: Database) -> None:
    job = long_job(client, team, epochs=10, metrics=["accuracy"], early_stopping={
        "monitor": "train_loss", "mode": "max", "patience": 2, "restore_best": True})
    claimed = claim(session, "w1", ["cpu"])
    assert claimed is not None
    assert run_job(db, claimed) == Outcome.SUCCEEDED
    path = f"/v1/jobs/{job['id']}"
    events = all_events(client, team, path)
    done = events[-1]
    assert done["type"] == "succeeded" and done["payload"]["early_stopped"] is True, done
    assert done["payload"]["best_epoch"] == 1  # the loss only fell after epoch 1
    series = {s["name"]: s["points"] for s in
              get(client, team, f"{path}/metrics").json()["series"]}
    assert len(series["train_loss"]) == 3 and len(series["train_accuracy"]) == 3
    assert 0.0 <= series["train_accuracy"][-1]["value"] <= 1.0


def test_short_epochs_are_checkpointed_at_most_once_per_interval(
        client: Any, team: TeamHandle, session: Session, db: Database) -> None:
    job = long_job(client, team, epochs=6, checkpoint_every_steps=None)
    claimed = claim(session, "w1", ["cpu"])
    assert claimed is not None
    settings = RunSettings(epoch_checkpoint_min_interval_s=3600)
    assert run_job(db, claimed, settings) == Outcome.SUCCEEDED
    items = get(client, team, f"/v1/jobs/{job['id']}/checkpoints").json()["items"]
    assert sorted((c["kind"], c["epoch"]) for c in items) == [("epoch", 1), ("weights", 6)]
