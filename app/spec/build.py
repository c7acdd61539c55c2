"""Spec -> engine objects: the model, loss, optimizer and scheduler, and the batch and
loss conventions of a spec. Pure functions of a validated spec, shared by the API's
validation and the workers, so both build exactly the same thing.

Conventions:
- A model whose first layer is an `Embedding` takes the dataset's inputs as int64 token
  ids; any other model takes them as float32.
- Classification losses take int64 class indices; the others take float32 targets. A
  scalar target per sample matches an output of shape [1] (the target is reshaped).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

import engine
from app.errors import Loc
from app.spec import blocks
from app.spec import registry_training as RT
from app.spec.layers import LayerArgs
from app.spec.registry import LAYERS
from app.spec.schema import JobSpec, ModelSpec, sublayers
from engine import Tensor, nn, optim


class LayerBuildError(Exception):
    """A layer's constructor refused its arguments; `loc` is its path in the spec."""

    def __init__(self, loc: Loc, message: str) -> None:
        super().__init__(message)
        self.loc = loc
        self.message = message


def build_model(model: ModelSpec, loc: Loc = ("model",)) -> nn.Sequential:
    """The network: an `nn.Sequential` whose children are the spec's layers in order
    (containers are `nn.Sequential` / `blocks.Residual` with their layers as children)."""
    return nn.Sequential(*_build_layers(model.layers, (*loc, "layers")))


def _build_layers(layers: list[LayerArgs], loc: Loc) -> list[nn.Module]:
    return [build_layer(layer, (*loc, i)) for i, layer in enumerate(layers)]


def build_layer(layer: LayerArgs, loc: Loc) -> nn.Module:
    inner = sublayers(layer)
    if inner is not None:
        children = _build_layers(inner, (*loc, "layers"))
        return blocks.Residual(*children) if layer.type == "Residual" else nn.Sequential(*children)
    try:
        return LAYERS[layer.type].build(layer)
    except Exception as exc:  # the engine refusing these arguments: the spec's fault
        raise LayerBuildError(loc, f"{layer.type} refused its arguments: {exc}") from exc


def iter_leaves(layers: list[LayerArgs], loc: Loc) -> Iterator[tuple[Loc, LayerArgs, int]]:
    """Every non-container layer with its path and nesting depth (0 at the top), in order."""
    yield from _leaves(layers, loc, 0)


def _leaves(layers: list[LayerArgs], loc: Loc, depth: int
            ) -> Iterator[tuple[Loc, LayerArgs, int]]:
    for i, layer in enumerate(layers):
        inner = sublayers(layer)
        if inner is not None:
            yield from _leaves(inner, (*loc, i, "layers"), depth + 1)
        else:
            yield (*loc, i), layer, depth


def takes_tokens(model: ModelSpec) -> bool:
    """Whether the model's first layer takes integer token ids (an Embedding)."""
    first = next(iter_leaves(model.layers, ()))[1]
    return LAYERS[first.type].tokens


def build_loss(spec: JobSpec) -> nn.Module:
    return RT.LOSSES[spec.loss.type].build(spec.loss)


def loss_kind(spec: JobSpec) -> RT.LossKind:
    return RT.LOSSES[spec.loss.type].kind


def build_optimizer(spec: JobSpec, params: Any) -> optim.Optimizer:
    return RT.OPTIMIZERS[spec.optimizer.type].build(spec.optimizer, params)


def build_scheduler(spec: JobSpec, optimizer: optim.Optimizer, *, total_steps: int,
                    epochs: int) -> Any | None:
    """The scheduler, or None. It is stepped once per optimizer step when its `interval`
    is "step" (`total_steps` times) and once per epoch otherwise (`epochs` times)."""
    sched = spec.lr_scheduler
    if sched is None:
        return None
    length = total_steps if sched.interval == "step" else epochs  # type: ignore[attr-defined]
    return RT.SCHEDULERS[sched.type].build(sched, optimizer, length)


def inputs_tensor(inputs: np.ndarray, model: ModelSpec) -> Tensor:
    """A batch of dataset inputs as the model takes them."""
    dtype = np.int64 if takes_tokens(model) else np.float32
    return engine.from_numpy(np.ascontiguousarray(inputs, dtype=dtype))


def targets_tensor(targets: np.ndarray, spec: JobSpec) -> Tensor:
    """A batch of dataset targets as the loss takes them."""
    dtype = np.int64 if loss_kind(spec) == "classification" else np.float32
    return engine.from_numpy(np.ascontiguousarray(targets, dtype=dtype))


def compute_loss(loss_fn: nn.Module, kind: RT.LossKind, output: Tensor, target: Tensor
                 ) -> Tensor:
    """The loss of a batch; a scalar target per sample is matched to an output of [1]."""
    if kind != "classification" and output.dim() == 2 and output.shape[1] == 1 \
            and target.dim() == 1:
        target = target.reshape(target.shape[0], 1)
    return loss_fn(output, target)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
