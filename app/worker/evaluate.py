"""Per-epoch evaluation of a job's model: validation loss and the spec's metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from app.spec import build
from app.spec.schema import JobSpec


@dataclass
class Data:
    x: np.ndarray
    y: np.ndarray
    val_x: np.ndarray | None
    val_y: np.ndarray | None


def to_device(tensor: Any, device: str) -> Any:
    """`tensor` on `device` (`cpu`, `cuda` or `cuda:K`); CPU tensors stay as they are."""
    return tensor if device == "cpu" else tensor.to(device)


EVAL_ROWS = 4096  # rows per forward pass when evaluating


def evaluate(model: Any, loss_fn: Any, kind: str, spec: JobSpec, data: Data, step: int,
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
            xb = to_device(build.inputs_tensor(x[start:start + EVAL_ROWS], spec.model), device)
            yb = to_device(build.targets_tensor(y[start:start + EVAL_ROWS], spec), device)
            out = model(xb)
            losses += float(build.compute_loss(loss_fn, kind, out, yb).item()) * len(xb)
            outs.append(out.detach().to("cpu").numpy())
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
