"""Train one claimed job: data, model and optimizer from the spec, the training loop,
metrics, checkpoints and the final transaction.

A heartbeat thread (`app.worker.heartbeat`) renews the lease and publishes progress
while the loop trains; between steps the loop acts on what it learned: `lost` stops
at once and writes nothing, `cancel_requested` ends the job cancelled. A `stop` event
(SIGTERM) checkpoints, then releases the lease (re-queued without counting the attempt).

Checkpoints hold the model, optimizer and scheduler state, the RNG state and the data
position; they are taken every `checkpoint_every_steps` steps (`periodic`), at an
epoch's end (`epoch`: the first, then those at least `epoch_checkpoint_min_interval_s`
after the previous checkpoint; never the last) and on stop (`stop`); the last epoch
ends in the final transaction. Each epoch's shuffle is seeded with `seed + epoch`, so a resumed
run skips the batches already done and sees exactly the rest: on the CPU it ends
bitwise-identical to an uninterrupted run. (A resumed epoch's `train_loss` covers its
remaining batches only.)
"""

from __future__ import annotations

import gc
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

import engine
from app.config import default_of
from app.db import Database, transaction
from app.models import Job, JobCheckpoint, JobStatus
from app.queue import ClaimedJob, LeaseLost, finish
from app.services.datasets import load_arrays
from app.services.job_outputs import RESUMABLE_KINDS
from app.spec import build
from app.spec.plan import Plan, make_plan
from app.spec.schema import JobSpec
from app.worker import outputs
from app.worker.control import Fail, Outcome, Stop, TrainingLease
from app.worker.early_stopping import EarlyStopper, score_of
from app.worker.evaluate import Data, evaluate, to_device
from app.worker.heartbeat import Heartbeat, Progress
from app.worker.writer import BackgroundWriter
from engine.utils.data import DataLoader, TensorDataset

log = logging.getLogger("trainforge.worker")

EPOCH_KIND = "epoch"


@dataclass(frozen=True)
class RunSettings:
    """What training a job needs to know of its worker (defaults: the settings')."""

    device: str = "cpu"  # "cpu", "cuda" or "cuda:K"
    lease_s: float = default_of("lease_seconds")  # type: ignore[assignment]
    heartbeat_s: float = default_of("heartbeat_seconds")  # type: ignore[assignment]
    checkpoints_kept: int = default_of("checkpoints_kept")  # type: ignore[assignment]
    # an epoch's end is checkpointed if the last checkpoint is at least this old
    epoch_checkpoint_min_interval_s: float = default_of(  # type: ignore[assignment]
        "epoch_checkpoint_min_interval_seconds")


def run_job(db: Database, job: ClaimedJob, settings: RunSettings | None = None, *,
            stop: threading.Event | None = None, worker_id: str | None = None) -> Outcome:
    """Train `job` to its end; returns how it ended. Never raises for the job's own
    failures (they end the job `failed`); a lost lease returns `LOST`."""
    settings = settings or RunSettings()
    session = db.session()
    beat = Heartbeat(db, job.job_id, job.lease_epoch, lease_s=settings.lease_s,
                     interval_s=settings.heartbeat_s, worker_id=worker_id)
    try:
        with beat, BackgroundWriter(db) as writer:
            lease = TrainingLease(session, job, beat, writer, stop or threading.Event())
            try:
                _train(session, job, lease, settings)
                return Outcome.SUCCEEDED
            except Stop as stopped:
                return stopped.outcome
            except LeaseLost:
                return Outcome.LOST
            except Fail as failure:
                return _fail(session, job, writer, failure.code, failure.message)
            except Exception as exc:  # the job's fault or the engine's: fail it, keep going
                if _is_out_of_memory(exc):
                    return _fail(session, job, writer, "out_of_memory",
                                 _oom_message(exc, settings))
                log.exception("job %s crashed", job.job_id)
                return _fail(session, job, writer, "training_error",
                             f"{type(exc).__name__}: {exc}"[:2000])
    finally:
        session.close()
        if settings.device != "cpu":
            _free_device_memory()


def _is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"


def _oom_message(exc: BaseException, settings: RunSettings) -> str:
    where = "GPU" if settings.device != "cpu" else "host"
    return (f"out of {where} memory on {settings.device}: {exc}"[:1500] +
            "; reduce batch_size or the model's size")


def _free_device_memory() -> None:
    """After a job on a GPU (above all one that ran out of memory): drop its arrays and
    hand the CuPy pool's cached blocks back, so the next job starts with a free device."""
    gc.collect()
    engine.cuda.empty_cache()


def _fail(session: Session, job: ClaimedJob, writer: BackgroundWriter, code: str,
          message: str) -> Outcome:
    session.rollback()
    try:
        writer.drain()  # what was handed over commits first (or the lease is gone)
    except LeaseLost:
        return Outcome.LOST
    log.warning("job %s failed: %s: %s", job.job_id, code, message)
    try:
        finish(session, job.job_id, job.lease_epoch, JobStatus.FAILED, error_code=code,
               message=message)
    except LeaseLost:
        return Outcome.LOST
    return Outcome.FAILED


def _load_data(session: Session, spec: JobSpec, team_id: uuid.UUID, seed: int) -> Data:
    x, y = load_arrays(session, team_id, spec.dataset_id)
    val_x = val_y = None
    if spec.validation_split:
        order = np.random.default_rng(seed).permutation(len(x))
        held = int(len(x) * spec.validation_split)
        val_idx, train_idx = order[:held], order[held:]
        val_x, val_y, x, y = x[val_idx], y[val_idx], x[train_idx], y[train_idx]
    elif spec.validation_dataset_id is not None:
        val_x, val_y = load_arrays(session, team_id, spec.validation_dataset_id)
    return Data(x, y, val_x, val_y)


@dataclass
class _Parts:
    model: Any
    loss_fn: Any
    optimizer: Any
    scheduler: Any


def _build(spec: JobSpec, plan: Plan) -> _Parts:
    try:
        model = build.build_model(spec.model)
        optimizer = build.build_optimizer(spec, model.parameters())
        return _Parts(model, build.build_loss(spec), optimizer,
                      build.build_scheduler(spec, optimizer, total_steps=plan.total_steps,
                                            epochs=plan.epochs))
    except build.LayerBuildError as exc:
        raise Fail("bad_spec", exc.message) from None
    except Exception as exc:
        raise Fail("bad_spec", f"the spec could not be built: {exc}") from None


def _train(session: Session, job: ClaimedJob, lease: TrainingLease, settings: RunSettings) -> None:
    try:
        spec = JobSpec.model_validate(job.spec)
    except ValidationError as exc:
        raise Fail("bad_spec", f"the job's spec is invalid: {exc.errors()[0]['msg']}"
                    ) from None
    with transaction(session):
        team_id = session.execute(select(Job.team_id).where(Job.id == job.job_id)).scalar_one()
    device = settings.device
    seed = spec.seed if spec.seed is not None else 0
    engine.manual_seed(seed)
    data = _load_data(session, spec, team_id, seed)
    val_rows = 0 if data.val_x is None else len(data.val_x)
    plan = make_plan(spec, len(data.x) + (val_rows if spec.validation_split else 0),
                     0 if spec.validation_split else val_rows)
    parts = _build(spec, plan)
    model, optimizer, scheduler = parts.model, parts.optimizer, parts.scheduler
    if device != "cpu":
        model.to(device)
    kind = build.loss_kind(spec)
    step, first_epoch = _resume(session, job, parts, plan, device)
    x_all = build.inputs_tensor(data.x, spec.model)
    y_all = build.targets_tensor(data.y, spec)
    generator = engine.Generator()
    epoch = first_epoch
    every = spec.checkpoint_every_steps
    deadline = (time.monotonic() + spec.max_runtime_seconds
                if spec.max_runtime_seconds else None)
    stopper = EarlyStopper(spec) if spec.early_stopping is not None else None
    early_stopped = False
    throughput: float | None = None

    def checkpoint(kind: str, summary: dict[str, float] | None = None, *,
                   wait: bool = False) -> None:
        """Snapshot the training state here; serialize and store it in the background
        (or here, after the writer's queue, with `wait`)."""
        state = _snapshot({
            "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else {},
            "rng": engine.get_rng_state(),
            "data": {"epoch": step // plan.steps_per_epoch, "step": step}})
        at, points = step, lease.take()
        last_checkpoint[0] = time.monotonic()

        def write(s: Session) -> None:
            outputs.save_checkpoint(
                s, job.job_id, job.lease_epoch, step=at, epoch=at // plan.steps_per_epoch,
                data=engine.serialization.to_bytes(state), kind=kind, metrics=points,
                summary=summary, score=score_of(spec, summary) if summary else None,
                keep=settings.checkpoints_kept)

        if wait:
            lease.writer.drain()
            write(session)
        else:
            lease.writer.submit(write)

    def report() -> None:
        lease.heartbeat.report(Progress(step, step // plan.steps_per_epoch,
                                        plan.total_steps, throughput))

    summary: dict[str, float] = {}
    last_checkpoint = [-math.inf]  # the first epoch's end always checkpoints
    report()
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
            lease.check(on_stop=lambda: checkpoint("stop", wait=True))
            if deadline is not None and time.monotonic() > deadline:
                raise Fail("max_runtime_exceeded", f"the job ran longer than its "
                            f"max_runtime_seconds ({spec.max_runtime_seconds}) at step {step}")
            started = time.perf_counter()
            xb, yb = to_device(xb, device), to_device(yb, device)
            optimizer.zero_grad()
            loss = build.compute_loss(parts.loss_fn, kind, model(xb), yb)
            value = float(loss.item())
            if not math.isfinite(value):
                raise Fail("nan_loss", f"the loss became {value} at step {step + 1}")
            loss.backward()
            if spec.grad_clip_norm:
                engine.nn.utils.clip_grad_norm_(model.parameters(), spec.grad_clip_norm)
            optimizer.step()
            step += 1
            rate = len(xb) / max(time.perf_counter() - started, 1e-9)
            throughput = rate if throughput is None else 0.9 * throughput + 0.1 * rate
            lease.add("loss", step, value)
            lease.add("lr", step, float(optimizer.param_groups[0]["lr"]))
            lease.add("samples_per_second", step, rate)
            report()
            if scheduler is not None and _interval(spec) == "step":
                scheduler.step()
            total += value * len(xb)
            rows += len(xb)
            end_of_epoch = step % plan.steps_per_epoch == 0 or step >= plan.total_steps
            if every and step % every == 0 and not end_of_epoch:
                checkpoint("periodic")
        points = [("train_loss", step, total / max(rows, 1)),
                  *evaluate(model, parts.loss_fn, kind, spec, data, step, device)]
        summary = {name: value for name, _, value in points}
        if scheduler is not None and _interval(spec) == "epoch":
            _scheduler_epoch_step(spec, scheduler, summary)
        for point in points:
            lease.add(*point)
        lease.check(on_stop=lambda: checkpoint("stop", wait=True))
        if stopper is not None and stopper.update(summary, model):
            early_stopped = True
            break
        due = (time.monotonic() - last_checkpoint[0]
               >= settings.epoch_checkpoint_min_interval_s)
        if due and epoch + 1 < plan.epochs and step < plan.total_steps:
            checkpoint(EPOCH_KIND, summary)  # the last epoch's state is the final one
    _complete(session, job, model, stopper if early_stopped else None, spec, step,
              epoch + 1, lease, summary)


def _complete(session: Session, job: ClaimedJob, model: Any, stopper: EarlyStopper | None,
              spec: JobSpec, step: int, epoch: int, lease: TrainingLease,
              summary: dict[str, float]) -> None:
    state = model.state_dict()
    extra: dict[str, Any] = {}
    if stopper is not None:
        extra = {"early_stopped": True, "best_epoch": stopper.best_epoch,
                 stopper.monitor: stopper.best}
        if stopper.best_state is not None:
            state = stopper.best_state
            summary = {stopper.monitor: stopper.best} if stopper.best is not None else {}
    weights = engine.serialization.to_bytes(
        {k: v.detach().to("cpu") for k, v in state.items()})
    lease.writer.drain()
    outputs.complete(session, job.job_id, job.lease_epoch, step=step, epoch=epoch,
                     weights=weights, metrics=lease.take(), summary=summary,
                     score=score_of(spec, summary), payload=extra)


def _snapshot(obj: Any) -> Any:
    """A copy of a (nested) state dict that training can no longer change: tensors are
    copied (to the host from a GPU), containers rebuilt."""
    if isinstance(obj, engine.Tensor):
        tensor = obj.detach()
        return tensor.clone() if tensor.device.type == "cpu" else tensor.to("cpu")
    if isinstance(obj, dict):
        return type(obj)((k, _snapshot(v)) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return type(obj)(_snapshot(v) for v in obj)
    return obj


def _interval(spec: JobSpec) -> str:
    return getattr(spec.lr_scheduler, "interval", "epoch")


def _scheduler_epoch_step(spec: JobSpec, scheduler: Any, summary: dict[str, float]) -> None:
    """Per-epoch scheduler step; ReduceLROnPlateau steps on its `monitor` (validated
    at submission to be a metric the job records)."""
    monitor = getattr(spec.lr_scheduler, "monitor", None)
    if monitor is None:
        scheduler.step()
    elif monitor in summary:
        scheduler.step(summary[monitor])


def _resume(session: Session, job: ClaimedJob, parts: _Parts, plan: Plan, device: str
            ) -> tuple[int, int]:
    """(step, epoch) to continue from: the latest checkpoint's, else (0, 0). Restores
    model, optimizer, scheduler and RNG state, and records a `resumed` event."""
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
    parts.model.load_state_dict(state["model"])
    if device != "cpu":
        parts.model.to(device)
    parts.optimizer.load_state_dict(state["optimizer"])
    if parts.scheduler is not None and state.get("scheduler"):
        parts.scheduler.load_state_dict(state["scheduler"])
    if "rng" in state:
        engine.set_rng_state(state["rng"])
    step = int(row[1])
    epoch = min(step // plan.steps_per_epoch, plan.epochs - 1)
    outputs.record_event(session, job.job_id, job.lease_epoch, "resumed",
                         {"step": step, "training_epoch": epoch, "attempt": job.attempt})
    return step, epoch
