"""The spec's loss, optimizer and learning-rate scheduler tables: one entry per type.

A loss entry names the kind of targets it takes (validation checks the dataset against
it); an optimizer entry counts its per-parameter state tensors (memory estimate); a
scheduler entry builds the scheduler given how many times it will be stepped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import engine
from app.spec import training as T
from engine import nn, optim
from engine.optim import lr_scheduler

LossKind = Literal["classification", "binary", "regression", "distribution"]
_NOT_KWARGS = frozenset({"type", "interval", "monitor"})


def _kwargs(args: Any) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in args if k not in _NOT_KWARGS}


def _tag(args: type[T._Args]) -> str:
    return args.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]


@dataclass(frozen=True)
class LossEntry:
    args: type[T._Args]
    kind: LossKind

    def build(self, args: Any) -> nn.Module:
        kwargs = _kwargs(args)
        for name in ("weight", "pos_weight"):
            if kwargs.get(name) is not None:
                kwargs[name] = engine.tensor(list(kwargs[name]), dtype=engine.float32)
        return getattr(nn, _tag(self.args))(**kwargs)


@dataclass(frozen=True)
class OptimizerEntry:
    args: type[T._Args]
    state_slots: Callable[[Any], int]  # optimizer state tensors per parameter tensor

    def build(self, args: Any, params: Iterable[Any]) -> optim.Optimizer:
        return getattr(optim, _tag(self.args))(params, **_kwargs(args))


@dataclass(frozen=True)
class SchedulerEntry:
    args: type[T._Args]
    length_arg: str | None = None  # filled with how many times it will be stepped

    def build(self, args: Any, optimizer: optim.Optimizer, length: int) -> Any:
        kwargs = _kwargs(args)
        if self.length_arg:
            kwargs[self.length_arg] = length
        return getattr(lr_scheduler, _tag(self.args))(optimizer, **kwargs)


def _by_tag(*entries: Any) -> dict[str, Any]:
    return {_tag(e.args): e for e in entries}


LOSSES: dict[str, LossEntry] = _by_tag(
    LossEntry(T.CrossEntropyLoss, "classification"),
    LossEntry(T.NLLLoss, "classification"),
    LossEntry(T.BCELoss, "binary"),
    LossEntry(T.BCEWithLogitsLoss, "binary"),
    LossEntry(T.MSELoss, "regression"),
    LossEntry(T.L1Loss, "regression"),
    LossEntry(T.SmoothL1Loss, "regression"),
    LossEntry(T.HuberLoss, "regression"),
    LossEntry(T.KLDivLoss, "distribution"),
)

_ADAM_SLOTS = 2
OPTIMIZERS: dict[str, OptimizerEntry] = _by_tag(
    OptimizerEntry(T.SGD, lambda a: int(a.momentum > 0)),
    OptimizerEntry(T.Adam, lambda a: _ADAM_SLOTS + a.amsgrad),
    OptimizerEntry(T.AdamW, lambda a: _ADAM_SLOTS + a.amsgrad),
    OptimizerEntry(T.Adamax, lambda a: _ADAM_SLOTS),
    OptimizerEntry(T.NAdam, lambda a: _ADAM_SLOTS),
    OptimizerEntry(T.RAdam, lambda a: _ADAM_SLOTS),
    OptimizerEntry(T.RMSprop, lambda a: 1 + int(a.momentum > 0) + a.centered),
    OptimizerEntry(T.Adagrad, lambda a: 1),
)

SCHEDULERS: dict[str, SchedulerEntry] = _by_tag(
    SchedulerEntry(T.StepLR),
    SchedulerEntry(T.MultiStepLR),
    SchedulerEntry(T.ExponentialLR),
    SchedulerEntry(T.CosineAnnealingLR),
    SchedulerEntry(T.CosineAnnealingWarmRestarts),
    SchedulerEntry(T.LinearLR),
    SchedulerEntry(T.ConstantLR),
    SchedulerEntry(T.PolynomialLR),
    SchedulerEntry(T.OneCycleLR, length_arg="total_steps"),
    SchedulerEntry(T.CyclicLR),
    SchedulerEntry(T.ReduceLROnPlateau),
)
