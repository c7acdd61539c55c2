"""Check a job spec against its dataset before it is queued, and report on it.

In order: training length and validation data; structure and parameter count (from
arguments alone, before anything is allocated); the layer-by-layer dummy forward pass
on the CPU (`app.spec.walk`); the output against the targets, the loss, metrics and
monitors (`app.spec.targets`); the loss and a backward pass on the dummy batch; the
optimizer and scheduler; the estimated training memory. The first problem found is
raised as `SpecInvalid` (422) with its JSON path.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from app.errors import Loc
from app.spec import build as B
from app.spec.errors import SpecInvalid, json_path
from app.spec.plan import Plan, make_plan
from app.spec.registry import LAYERS
from app.spec.registry_training import OPTIMIZERS
from app.spec.schema import JobSpec
from app.spec.targets import DatasetInfo, OutputLayer, check_metrics, check_monitor, check_targets
from app.spec.walk import DUMMY_BATCH, VALUE_BYTES, LayerSummary, Walker, human_bytes


@dataclass(frozen=True)
class SpecLimits:
    max_parameters: int
    max_memory_bytes: int  # estimated training memory (on the worker)
    max_layers: int
    max_depth: int
    max_check_bytes: int = 512 << 20  # activations of the dummy pass (on the API server)


@dataclass(frozen=True)
class Report:
    parameters: int
    input_shape: list[int]
    output_shape: list[int]
    estimated_memory_bytes: int
    plan: Plan
    layers: list[LayerSummary]


def validate_job(spec: JobSpec, data: DatasetInfo, validation: DatasetInfo | None,
                 limits: SpecLimits, load_inputs: Callable[[], np.ndarray]) -> Report:
    """Validate `spec` on `data` (and a separate `validation` dataset); `load_inputs`
    gives the training inputs, only read for a model taking token ids."""
    plan = _check_data(spec, data, validation)
    _check_structure(spec, limits)
    try:
        model = B.build_model(spec.model)
    except B.LayerBuildError as exc:
        raise SpecInvalid(exc.loc, exc.message, type="layer_invalid") from None
    model.train()
    tokens = B.takes_tokens(spec.model)
    if tokens:
        _check_tokens(spec, load_inputs())
    x = engine.zeros(DUMMY_BATCH, *data.input_shape,
                     dtype=engine.int64 if tokens else engine.float32)
    walker = Walker(batch_size=spec.batch_size, max_memory_bytes=limits.max_memory_bytes,
                    max_check_bytes=limits.max_check_bytes)
    out = walker.walk(spec.model.layers, list(model.children()), x, ("model", "layers"),
                      "the dataset's input")
    out_shape = tuple(int(d) for d in out.shape[1:])
    kind = B.loss_kind(spec)
    last_loc, last_layer, _ = list(B.iter_leaves(spec.model.layers, ("model", "layers")))[-1]
    last = OutputLayer(last_loc, LAYERS[last_layer.type].size_field)
    check_targets(spec, kind, out_shape, data, last)
    if validation is not None:
        check_targets(spec, kind, out_shape, validation, last, "validation dataset")
    check_metrics(spec, kind, out_shape)
    has_validation = plan.validation_rows > 0
    if spec.early_stopping is not None:
        check_monitor(("early_stopping", "monitor"), spec.early_stopping.monitor, spec,
                      has_validation)
    monitor = getattr(spec.lr_scheduler, "monitor", None)
    if monitor is not None:
        check_monitor(("lr_scheduler", "monitor"), monitor, spec, has_validation)
    if walker.batch_stats_at and (spec.batch_size == 1 or plan.last_batch_rows == 1):
        where, name = walker.batch_stats_at
        raise SpecInvalid(("batch_size",), f"{name} at {json_path(where)} needs at least 2 "
                          f"samples in every training batch, but {plan.train_rows} rows in "
                          f"batches of {spec.batch_size} leave a batch of 1",
                          type="batch_too_small")
    _dummy_step(spec, model, out, kind, data, plan)
    parameters = B.count_parameters(model)
    memory = _estimate_memory(spec, parameters, data, walker.activation_values, limits)
    return Report(parameters=parameters, input_shape=list(data.input_shape),
                  output_shape=list(out_shape), estimated_memory_bytes=memory, plan=plan,
                  layers=walker.layers)


# Fields of a submission that validation never reads: metadata, the seed, and the
# dataset ids (their immutable metadata, `DatasetInfo`, is part of the key instead).
_NOT_VALIDATED = frozenset({"name", "labels", "priority", "seed", "dataset_id",
                            "validation_dataset_id"})
CACHE_ENTRIES = 256
CACHE_KEY_CHARS = 64 * 1024  # larger specs are validated every time


class _ReportCache:
    """A bounded LRU of reports of specs that passed validation. Validation is a pure
    function of the spec, the datasets' metadata (immutable) and the limits, except that
    a model taking token ids reads the training inputs: such entries are also keyed by
    the dataset id (a dataset never changes). Failures are not cached."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self._reports: OrderedDict[Hashable, Report] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Report | None:
        with self._lock:
            report = self._reports.get(key)
            if report is not None:
                self._reports.move_to_end(key)
            return report

    def put(self, key: Hashable, report: Report) -> None:
        with self._lock:
            self._reports[key] = report
            self._reports.move_to_end(key)
            while len(self._reports) > self.entries:
                self._reports.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._reports.clear()


REPORTS = _ReportCache(CACHE_ENTRIES)


def validate_cached(spec: JobSpec, dumped: dict[str, Any], data: DatasetInfo,
                    validation: DatasetInfo | None, limits: SpecLimits,
                    load_inputs: Callable[[], np.ndarray]) -> Report:
    """`validate_job`, answered from `REPORTS` when this spec was validated before on
    datasets of the same metadata. `dumped` is `spec.model_dump(mode="json")`."""
    canonical = json.dumps({k: v for k, v in dumped.items() if k not in _NOT_VALIDATED},
                           sort_keys=True, separators=(",", ":"))
    if len(canonical) > CACHE_KEY_CHARS:
        return validate_job(spec, data, validation, limits, load_inputs)
    tokens_of = spec.dataset_id if B.takes_tokens(spec.model) else None
    key = (canonical, data, validation, limits, tokens_of)
    report = REPORTS.get(key)
    if report is None:
        report = validate_job(spec, data, validation, limits, load_inputs)
        REPORTS.put(key, report)
    return report


def _check_data(spec: JobSpec, data: DatasetInfo, validation: DatasetInfo | None) -> Plan:
    if spec.epochs is None and spec.max_steps is None:
        raise SpecInvalid(("epochs",), "give epochs, max_steps or both", type="missing")
    if spec.validation_split is not None and spec.validation_dataset_id is not None:
        raise SpecInvalid(("validation_split",), "give validation_split or "
                          "validation_dataset_id, not both", type="ambiguous")
    if validation is not None:
        for name in ("input_shape", "target_shape"):
            if getattr(validation, name) != getattr(data, name):
                raise SpecInvalid(("validation_dataset_id",), f"its {name} "
                                  f"{list(getattr(validation, name))} differs from the "
                                  f"training dataset's {list(getattr(data, name))}",
                                  type="dataset_mismatch")
    plan = make_plan(spec, data.rows, validation.rows if validation else 0)
    if spec.validation_split is not None and not 0 < plan.validation_rows < data.rows:
        raise SpecInvalid(("validation_split",), f"holds out {plan.validation_rows} of the "
                          f"dataset's {data.rows} rows; both parts need at least one row",
                          type="split_empty")
    return plan


def _check_structure(spec: JobSpec, limits: SpecLimits) -> None:
    leaves = list(B.iter_leaves(spec.model.layers, ("model", "layers")))
    if len(leaves) > limits.max_layers:
        raise SpecInvalid(("model", "layers"), f"the model has {len(leaves)} layers; the limit "
                          f"is {limits.max_layers}", type="too_many_layers")
    deepest = max(leaves, key=lambda leaf: leaf[2])
    if deepest[2] > limits.max_depth:
        raise SpecInvalid(deepest[0], f"nested {deepest[2]} blocks deep; the limit is "
                          f"{limits.max_depth}", type="too_deep")
    counts = [(LAYERS[layer.type].params(layer), loc) for loc, layer, _ in leaves]
    total = sum(n for n, _ in counts)
    if total > limits.max_parameters:
        biggest, where = max(counts, key=lambda c: c[0])
        raise SpecInvalid(("model",), f"the model has {total:,} parameters; the limit is "
                          f"{limits.max_parameters:,} (the largest layer, "
                          f"{json_path(where)}, has {biggest:,})",
                          type="too_many_parameters")


def _check_tokens(spec: JobSpec, inputs: np.ndarray) -> None:
    loc, first, _ = next(B.iter_leaves(spec.model.layers, ("model", "layers")))
    if not np.array_equal(inputs, np.floor(inputs)) or float(inputs.min()) < 0:
        raise SpecInvalid(("dataset_id",), f"{first.type} takes token ids (integers from 0), "
                          "but the dataset's inputs hold other values", type="not_tokens")
    top = int(inputs.max())
    n = first.num_embeddings  # type: ignore[attr-defined]
    if top >= n:
        raise SpecInvalid((*loc, "num_embeddings"), f"expected at least {top + 1} to cover the "
                          f"dataset's token ids 0..{top}, got {n}", type="tokens_out_of_range")


def _dummy_step(spec: JobSpec, model: engine.nn.Module, out: engine.Tensor, kind: str,
                data: DatasetInfo, plan: Plan) -> None:
    dtype = engine.int64 if kind == "classification" else engine.float32
    target = engine.zeros(DUMMY_BATCH, *data.target_shape, dtype=dtype)
    _attempt(("loss",), lambda: B.compute_loss(B.build_loss(spec), kind, out, target)
             .backward())
    optimizer = _attempt(("optimizer",), lambda: B.build_optimizer(spec, model.parameters()))
    if spec.lr_scheduler is not None:
        _attempt(("lr_scheduler",), lambda: B.build_scheduler(
            spec, optimizer, total_steps=plan.total_steps, epochs=plan.epochs))


def _attempt(loc: Loc, action: Callable[[], object]) -> object:
    try:
        return action()
    except Exception as exc:  # the engine refusing this combination: the spec's fault
        message = str(exc).strip()[:300] or type(exc).__name__
        raise SpecInvalid(loc, message, type="invalid") from exc


def _estimate_memory(spec: JobSpec, parameters: int, data: DatasetInfo, activations: int,
                     limits: SpecLimits) -> int:
    """Weights, gradients and optimizer state, plus one batch's inputs and activations."""
    slots = OPTIMIZERS[spec.optimizer.type].state_slots(spec.optimizer)
    state = parameters * (2 + slots) * VALUE_BYTES
    per_sample = int(np.prod(data.input_shape)) + activations
    batch = spec.batch_size * per_sample * VALUE_BYTES
    total = state + batch
    if total > limits.max_memory_bytes:
        where = ("batch_size",) if batch > state else ("model",)
        raise SpecInvalid(where, f"training would need about {human_bytes(total)} "
                          f"(weights, gradients and optimizer state {human_bytes(state)}, "
                          f"activations for batch_size {spec.batch_size} "
                          f"{human_bytes(batch)}); the limit is "
                          f"{human_bytes(limits.max_memory_bytes)}", type="too_much_memory")
    return total
