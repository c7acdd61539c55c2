"""Train one claimed job: data, model and optimizer from the spec, the training loop,
metrics, lease renewal, checkpoints and the final transaction.

The lease is renewed between steps every `heartbeat_s` seconds: `lost` stops at once
and writes nothing; `cancel_requested` ends the job cancelled. A `stop` event (SIGTERM)
checkpoints, then releases the lease (the job is re-queued without counting the attempt).

Checkpoints (model and optimizer state, safetensors via `engine.serialization`) are
taken every `checkpoint_every_steps` steps (`periodic`), at each epoch's end but the
last (`epoch`), and on stop (`stop`); the last epoch ends in the final transaction.

Resume: a re-claimed job restores the model and optimizer from its latest checkpoint
and continues at the next step: each epoch's shuffle is seeded with `seed + epoch`, so
the batches already done are skipped and the rest are the ones the first run would
have seen. (The resumed epoch's `train_loss` covers its remaining batches only.)
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
from app.db import transaction
from app.models import Job, JobCheckpoint, JobStatus
from app.queue import (
    ClaimedJob,
    LeaseLost,
    LeaseState,
    finish,
    release,
    renew_lease,
    worker_heartbeat,
)
from app.queue import write_metrics as queue_write_metrics
from app.services.datasets import load_arrays
from app.spec import build
from app.spec.plan import Plan, make_plan
from app.spec.schema import JobSpec
from app.worker import outputs
from engine.utils.data import DataLoader, TensorDataset

log = logging.getLogger("trainforge.worker")

METRIC_BATCH = 100  # step points buffered before a fenced write
EPOCH_KIND = "epoch"
RESUMABLE_KINDS = ("periodic", "epoch", "stop")


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    LOST = "lost"  # the lease went away: nothing more was written
    RELEASED = "released"  # stopped (SIGTERM): lease given back


class _Stop(Exception):  # noqa: N818 - control flow inside the runner
    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome


class _Fail(Exception):  # noqa: N818
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class _Lease:
    session: Session
    job: ClaimedJob
    lease_s: float
    heartbeat_s: float
    stop: threading.Event
    worker_id: str | None = None
    pending: list[tuple[str, int, float]] = field(default_factory=list)
    last_renew: float = field(default_factory=time.monotonic)

    def check(self, *, force: bool = False, on_stop: Callable[[], None] | None = None
              ) -> None:
        """Renew the lease when due; raise `_Stop` on lost / cancel / stop (`on_stop`
        runs first: the stop checkpoint)."""
        if self.stop.is_set():
            if on_stop is not None:
                on_stop()
            self.flush()
            release(self.session, self.job.job_id, self.job.lease_epoch)
            raise _Stop(Outcome.RELEASED)
        if not force and time.monotonic() - self.last_renew < self.heartbeat_s:
            return
        state = renew_lease(self.session, self.job.job_id, self.job.lease_epoch,
                            lease_s=self.lease_s)
        self.last_renew = time.monotonic()
        if self.worker_id is not None:
            worker_heartbeat(self.session, self.worker_id)
        if state == LeaseState.LOST:
            raise _Stop(Outcome.LOST)
        if state == LeaseState.CANCEL_REQUESTED:
            self.flush()
            finish(self.session, self.job.job_id, self.job.lease_epoch, JobStatus.CANCELLED)
            raise _Stop(Outcome.CANCELLED)

    def add(self, name: str, step: int, value: float) -> None:
        self.pending.append((name, step, value))
        if len(self.pending) >= METRIC_BATCH:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            queue_write_metrics(self.session, self.job.job_id, self.job.lease_epoch,
                                self.pending)
            self.pending = []

    def take(self) -> list[tuple[str, int, float]]:
        points, self.pending = self.pending, []
        return points


def run_job(session: Session, job: ClaimedJob, *, device: str = "cpu",
            lease_s: float = 30.0, heartbeat_s: float | None = None,
            stop: threading.Event | None = None, worker_id: str | None = None) -> Outcome:
    """Train `job` to its end; returns how it ended. Never raises for the job's own
    failures (they end the job `failed`); a lost lease returns `LOST`."""
    lease = _Lease(session, job, lease_s, heartbeat_s or max(lease_s / 3, 0.5),
                   stop or threading.Event(), worker_id)
    try:
        _train(session, job, lease, device)
        return Outcome.SUCCEEDED
    except _Stop as stopped:
        return stopped.outcome
    except LeaseLost:
        return Outcome.LOST
    except _Fail as failure:
        return _fail(session, job, failure.code, failure.message)
    except Exception as exc:  # the job's fault or the engine's: fail it, keep the worker
        log.exception("job %s crashed", job.job_id)
        return _fail(session, job, "training_error", f"{type(exc).__name__}: {exc}"[:2000])


def _fail(session: Session, job: ClaimedJob, code: str, message: str) -> Outcome:
    session.rollback()
    try:
        finish(session, job.job_id, job.lease_epoch, JobStatus.FAILED, error_code=code,
               message=message)
    except LeaseLost:
        return Outcome.LOST
    return Outcome.FAILED


@dataclass
class _Data:
    x: np.ndarray
    y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None


def _load_data(session: Session, spec: JobSpec, team_id: uuid.UUID, seed: int) -> _Data:
    x, y = load_arrays(session, team_id, spec.dataset_id)
    val_x = val_y = None
    if spec.validation_split:
        order = np.random.default_rng(seed).permutation(len(x))
        held = int(len(x) * spec.validation_split)
        val_idx, train_idx = order[:held], order[held:]
        val_x, val_y, x, y = x[val_idx], y[val_idx], x[train_idx], y[train_idx]
    elif spec.validation_dataset_id is not None:
        val_x, val_y = load_arrays(session, team_id, spec.validation_dataset_id)
    return _Data(x, y, val_x, val_y)


def _train(session: Session, job: ClaimedJob, lease: _Lease, device: str) -> None:
    try:
        spec = JobSpec.model_validate(job.spec)
    except ValidationError as exc:
        raise _Fail("bad_spec", f"the job's spec is invalid: {exc.errors()[0]['msg']}"
                    ) from None
    with transaction(session):
        team_id = session.execute(select(Job.team_id).where(Job.id == job.job_id)).scalar_one()
    seed = spec.seed if spec.seed is not None else 0
    engine.manual_seed(seed)
    data = _load_data(session, spec, team_id, seed)
    val_rows = 0 if data.val_x is None else len(data.val_x)
    plan = make_plan(spec, len(data.x) + (val_rows if spec.validation_split else 0),
                     0 if spec.validation_split else val_rows)
    try:
        model = build.build_model(spec.model)
        loss_fn = build.build_loss(spec)
        optimizer = build.build_optimizer(spec, model.parameters())
        scheduler = build.build_scheduler(spec, optimizer, total_steps=plan.total_steps,
                                          epochs=plan.epochs)
    except build.LayerBuildError as exc:
        raise _Fail("bad_spec", exc.message) from None
    except Exception as exc:
        raise _Fail("bad_spec", f"the spec could not be built: {exc}") from None
    if device == "cuda":
        model.to("cuda")
    kind = build.loss_kind(spec)
    step, first_epoch = _resume(session, job, model, optimizer, scheduler, spec, plan)
    x_all = build.inputs_tensor(data.x, spec.model)
    y_all = build.targets_tensor(data.y, spec)
    generator = engine.Generator()
    epoch = first_epoch
    every = spec.checkpoint_every_steps
    deadline = (time.monotonic() + spec.max_runtime_seconds
                if spec.max_runtime_seconds else None)
    stopper = _EarlyStopper(spec) if spec.early_stopping is not None else None
    early_stopped = False

    def checkpoint(kind: str) -> None:
        blob = engine.serialization.to_bytes(
            {"model": model.state_dict(), "optimizer": optimizer.state_dict()})
        outputs.save_checkpoint(session, job.job_id, job.lease_epoch, step=step,
                                epoch=step // plan.steps_per_epoch, data=blob, kind=kind,
                                metrics=lease.take())

    for epoch in range(first_epoch, plan.epochs):
        generator.manual_seed(seed + epoch)
        loader = DataLoader(TensorDataset(x_all, y_all), batch_size=spec.batch_size,
                            shuffle=spec.shuffle, generator=generator)
        skip = step - epoch * plan.steps_per_epoch  # batches a resumed epoch already did
        model.train()
        total, rows = 0.0, 0
        for index, (xb, yb) in enumerate(loader):
            if index < skip:
                continue
            if step >= plan.total_steps:
                break
            lease.check(on_stop=lambda: checkpoint("stop"))
            if deadline is not None and time.monotonic() > deadline:
                raise _Fail("max_runtime_exceeded", f"the job ran longer than its "
                            f"max_runtime_seconds ({spec.max_runtime_seconds}) at step {step}")
            xb, yb = _to(xb, device), _to(yb, device)
            optimizer.zero_grad()
            loss = build.compute_loss(loss_fn, kind, model(xb), yb)
            value = float(loss.item())
            if not math.isfinite(value):
                raise _Fail("nan_loss", f"the loss became {value} at step {step + 1}")
            loss.backward()
            if spec.grad_clip_norm:
                engine.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip_norm)
            optimizer.step()
            step += 1
            lease.add("loss", step, value)
            lease.add("lr", step, float(optimizer.param_groups[0]["lr"]))
            if scheduler is not None and _interval(spec) == "step":
                scheduler.step()
            total += value * len(xb)
            rows += len(xb)
            end_of_epoch = step % plan.steps_per_epoch == 0 or step >= plan.total_steps
            if every and step % every == 0 and not end_of_epoch:
                checkpoint("periodic")
        if scheduler is not None and _interval(spec) == "epoch":
            scheduler.step()
        points = [("train_loss", step, total / max(rows, 1)),
                  *_evaluate(model, loss_fn, kind, spec, data, step, device)]
        for point in points:
            lease.add(*point)
        lease.check(force=True, on_stop=lambda: checkpoint("stop"))
        if stopper is not None and stopper.update({n: v for n, _, v in points}, model):
            early_stopped = True
            break
        if epoch + 1 < plan.epochs:  # the last epoch's state is the final transaction's
            checkpoint(EPOCH_KIND)
    state = model.state_dict()
    extra: dict[str, Any] = {}
    if stopper is not None and early_stopped:
        extra = {"early_stopped": True, "best_epoch": stopper.best_epoch,
                 stopper.monitor: stopper.best}
        if stopper.best_state is not None:
            state = stopper.best_state
    weights = engine.serialization.to_bytes(
        {k: v.detach().to("cpu") if device == "cuda" else v.detach()
         for k, v in state.items()})
    outputs.complete(session, job.job_id, job.lease_epoch, step=step, epoch=epoch + 1,
                     weights=weights, metrics=lease.take(), payload=extra)


class _EarlyStopper:
    """Tracks `early_stopping.monitor` per epoch; `update` says when to stop. A resumed
    job starts tracking afresh."""

    def __init__(self, spec: JobSpec) -> None:
        rule = spec.early_stopping
        assert rule is not None
        self.monitor, self.mode, self.patience = rule.monitor, rule.mode, rule.patience
        self.min_delta, self.restore_best = rule.min_delta, rule.restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.bad = 0
        self.epoch = 0

    def update(self, values: dict[str, float], model: Any) -> bool:
        self.epoch += 1
        value = values.get(self.monitor)
        if value is None:  # not measured (e.g. no validation data): never stops
            return False
        better = self.best is None or (value < self.best - self.min_delta
                                       if self.mode == "min" else
                                       value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch, self.bad = value, self.epoch, 0
            if self.restore_best:
                self.best_state = {k: v.detach().clone()
                                   for k, v in model.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience


def _interval(spec: JobSpec) -> str:
    return getattr(spec.lr_scheduler, "interval", "epoch")


def _to(tensor: Any, device: str) -> Any:
    return tensor.to(device) if device == "cuda" else tensor


EVAL_ROWS = 4096  # rows per forward pass when evaluating


def _evaluate(model: Any, loss_fn: Any, kind: str, spec: JobSpec, data: _Data, step: int,
              device: str) -> list[tuple[str, int, float]]:
    """The epoch's evaluation points: on validation data `val_loss`, `val_accuracy`
    (classification) and `val_<metric>` for the spec's metrics; without validation data
    the spec's metrics on the training data (`train_<metric>`)."""
    if data.val_x is not None and data.val_y is not None and len(data.val_x):
        prefix, x, y = "val", data.val_x, data.val_y
        names = list(dict.fromkeys(
            (["accuracy"] if kind == "classification" else []) + list(spec.metrics)))
    elif spec.metrics:
        prefix, x, y, names = "train", data.x, data.y, list(spec.metrics)
    else:
        return []
    model.eval()
    outs, losses = [], 0.0
    with engine.no_grad():
        for start in range(0, len(x), EVAL_ROWS):
            xb = _to(build.inputs_tensor(x[start:start + EVAL_ROWS], spec.model), device)
            yb = _to(build.targets_tensor(y[start:start + EVAL_ROWS], spec), device)
            out = model(xb)
            losses += float(build.compute_loss(loss_fn, kind, out, yb).item()) * len(xb)
            outs.append(out.detach().to("cpu").numpy() if device == "cuda"
                        else out.detach().numpy())
    model.train()
    out_all = np.concatenate(outs)
    points = [(f"{prefix}_loss", step, losses / len(x))] if prefix == "val" else []
    for name in names:
        value = _metric(name, kind, out_all, y)
        if value is not None:
            points.append((f"{prefix}_{name}", step, value))
    return points


def _metric(name: str, kind: str, out: np.ndarray, y: np.ndarray) -> float | None:
    if name in ("accuracy", "top5_accuracy"):
        if kind != "classification" or out.ndim != 2:
            return None
        labels = y.astype(np.int64).reshape(-1)
        if name == "accuracy":
            return float((out.argmax(axis=1) == labels).mean())
        top = np.argsort(-out, axis=1)[:, :5]
        return float((top == labels[:, None]).any(axis=1).mean())
    if kind == "classification":
        return None
    target = y.astype(np.float64).reshape(out.shape) if y.size == out.size else None
    if target is None:
        return None
    err = out.astype(np.float64) - target
    mse = float(np.mean(err ** 2))
    return {"mae": float(np.mean(np.abs(err))), "mse": mse, "rmse": math.sqrt(mse)}[name]


def _resume(session: Session, job: ClaimedJob, model: Any, optimizer: Any, scheduler: Any,
            spec: JobSpec, plan: Plan) -> tuple[int, int]:
    """(step, epoch) to continue from: the latest checkpoint's, else (0, 0)."""
    if not job.resumed or not job.checkpoint_step:
        return 0, 0
    with transaction(session):
        row = session.execute(
            select(JobCheckpoint.data, JobCheckpoint.step)
            .where(JobCheckpoint.job_id == job.job_id,
                   JobCheckpoint.kind.in_(RESUMABLE_KINDS),
                   JobCheckpoint.step == job.checkpoint_step, JobCheckpoint.data.is_not(None))
            .order_by(JobCheckpoint.id.desc()).limit(1)).first()
    if row is None:  # no checkpoint of ours at that step: start over
        return 0, 0
    state = engine.load(row[0])
    model.load_state_dict(state["model"])
    step = int(row[1])
    epoch = min(step // plan.steps_per_epoch, plan.epochs - 1)
    if scheduler is not None:
        for _ in range(step if _interval(spec) == "step" else epoch):
            scheduler.step()
    optimizer.load_state_dict(state["optimizer"])
    return step, epoch
