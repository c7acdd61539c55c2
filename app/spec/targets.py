"""Does the model's output fit the dataset's targets under the chosen loss and metrics?

Shapes are per sample. A scalar target matches an output of [1] (`build.compute_loss`).
Errors point at the field to change: the size argument of the layer producing the
output (e.g. `model.layers[3].out_features`) when there is one, else the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import Loc
from app.spec.errors import SpecInvalid
from app.spec.registry_training import LossKind
from app.spec.schema import JobSpec

Shape = tuple[int, ...]


@dataclass(frozen=True)
class DatasetInfo:
    """What validation needs to know of a dataset (its metadata row)."""

    rows: int
    input_shape: Shape
    target_shape: Shape
    target_dtype: str  # "int64" | "float32"
    num_classes: int | None  # non-negative integer targets: max + 1


@dataclass(frozen=True)
class OutputLayer:
    """The leaf layer producing the model's output, and its output-size argument."""

    loc: Loc
    size_field: str | None

    def size_loc(self) -> Loc:
        return (*self.loc, self.size_field) if self.size_field else self.loc


def check_targets(spec: JobSpec, kind: LossKind, out: Shape, data: DatasetInfo,
                  last: OutputLayer, which: str = "dataset") -> None:
    """Raise SpecInvalid when the output does not fit `data`'s targets under the loss."""
    loss = spec.loss.type
    if kind == "classification":
        _classification(spec, out, data, last, which)
        return
    if kind == "binary" and data.target_dtype == "int64" and (data.num_classes or 3) > 2:
        top = f"up to {data.num_classes - 1}" if data.num_classes else "negative values"
        raise SpecInvalid(("loss", "type"), f"{loss} needs targets 0 or 1 (or probabilities); "
                          f"the {which}'s targets are class indices {top}: use "
                          "CrossEntropyLoss for more than two classes",
                          type="targets_not_binary")
    target = data.target_shape
    if out == target or (out == (1,) and target == ()):
        _pos_weight(spec, out)
        return
    if len(out) == max(len(target), 1) and out[:-1] == target[:-1] and last.size_field:
        want = target[-1] if target else 1
        raise SpecInvalid(last.size_loc(), f"expected {want} to match the {which}'s target "
                          f"shape {list(target)}, got {out[-1]}", type="target_shape_mismatch")
    raise SpecInvalid(last.loc, f"{loss} compares the output with the targets element by "
                      f"element: the {which}'s targets have shape {list(target)} per sample "
                      f"but the model outputs {list(out)}", type="target_shape_mismatch")


def _classification(spec: JobSpec, out: Shape, data: DatasetInfo, last: OutputLayer,
                    which: str) -> None:
    loss = spec.loss.type
    if data.target_dtype != "int64" or data.num_classes is None:
        what = "float numbers" if data.target_dtype != "int64" else "negative integers"
        raise SpecInvalid(("loss", "type"), f"{loss} needs class indices (integers from 0) as "
                          f"targets; the {which}'s targets are {what}: use a regression loss "
                          "such as MSELoss", type="targets_not_classes")
    target = data.target_shape
    if len(out) != len(target) + 1 or out[1:] != target:
        expected = ["classes", *target]
        raise SpecInvalid(last.loc, f"{loss} needs an output of shape {expected} per sample "
                          f"for the {which}'s targets of shape {list(target)}; the model "
                          f"outputs {list(out)}", type="target_shape_mismatch")
    classes = out[0]
    if data.num_classes > classes:
        raise SpecInvalid(last.size_loc(), f"expected at least {data.num_classes} to cover "
                          f"the {which}'s class indices 0..{data.num_classes - 1}, got "
                          f"{classes}", type="classes_out_of_range")
    weight = getattr(spec.loss, "weight", None)
    if weight is not None and len(weight) != classes:
        raise SpecInvalid(("loss", "weight"), f"expected one weight per class ({classes}), "
                          f"got {len(weight)}", type="length_mismatch")


def _pos_weight(spec: JobSpec, out: Shape) -> None:
    weights = getattr(spec.loss, "pos_weight", None)
    if weights is not None and len(weights) not in (1, out[-1] if out else 1):
        raise SpecInvalid(("loss", "pos_weight"), f"expected 1 or {out[-1] if out else 1} "
                          f"weights (one per output), got {len(weights)}",
                          type="length_mismatch")


def check_metrics(spec: JobSpec, kind: LossKind, out: Shape) -> None:
    for i, metric in enumerate(spec.metrics):
        if spec.metrics.index(metric) != i:
            raise SpecInvalid(("metrics", i), f"{metric!r} is listed twice", type="duplicate")
        if metric in ("accuracy", "top5_accuracy") and kind not in ("classification",
                                                                      "binary"):
            raise SpecInvalid(("metrics", i), f"{metric} needs a classification loss "
                              f"(CrossEntropyLoss, NLLLoss, BCE...), not {spec.loss.type}",
                              type="metric_unsupported")
        if metric == "top5_accuracy" and (kind != "classification" or out[0] < 5):
            raise SpecInvalid(("metrics", i), "top5_accuracy needs a classification loss and "
                              "at least 5 classes", type="metric_unsupported")
        if metric in ("mae", "mse", "rmse") and kind not in ("regression", "distribution"):
            raise SpecInvalid(("metrics", i), f"{metric} needs a regression loss (MSELoss, "
                              f"L1Loss, ...), not {spec.loss.type}", type="metric_unsupported")


def check_monitor(loc: Loc, monitor: str, spec: JobSpec, has_validation: bool) -> None:
    """`val_loss`, `train_loss` or `val_<metric>` / `train_<metric>` of a listed metric."""
    split, _, name = monitor.partition("_")
    if split == "val" and not has_validation:
        raise SpecInvalid(loc, f"{monitor!r} needs validation data: set validation_split or "
                          "validation_dataset_id, or monitor 'train_loss'",
                          type="needs_validation")
    if name != "loss" and name not in spec.metrics:
        raise SpecInvalid(loc, f"{monitor!r} is not recorded: monitor '{split}_loss' or add "
                          f"{name!r} to metrics", type="unknown_metric")
