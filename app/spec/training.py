"""Argument models of the losses, optimizers and learning-rate schedulers of a spec.

Names, meanings and defaults are PyTorch's. A scheduler steps once per epoch
(`interval: "epoch"`, the default) or once per optimizer step (`"step"`, the default of
OneCycleLR and CyclicLR); `OneCycleLR`'s length is the job's, computed by the service.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from app.spec.args import Eps, Momentum, NonNegative, Positive, Probability, SpecModel, field_error

LearningRate = Field(gt=0.0, le=10.0)
Betas = list[Momentum]
Count = Field(ge=1, le=1_000_000)
Factor = Field(gt=0.0, le=1.0)


class _Args(SpecModel):
    type: str


# -- losses ------------------------------------------------------------------------------

class _Regression(_Args):
    reduction: Literal["mean", "sum"] = "mean"


class MSELoss(_Regression):
    """Mean squared error; the output must have the targets' shape."""

    type: Literal["MSELoss"]


class L1Loss(_Regression):
    """Mean absolute error; the output must have the targets' shape."""

    type: Literal["L1Loss"]


class SmoothL1Loss(_Regression):
    type: Literal["SmoothL1Loss"]
    beta: NonNegative = 1.0


class HuberLoss(_Regression):
    type: Literal["HuberLoss"]
    delta: Positive = 1.0


class _Classification(_Args):
    reduction: Literal["mean", "sum"] = "mean"
    weight: list[NonNegative] | None = Field(
        None, max_length=65536, description="A weight per class (as many as the model's "
        "output classes).")


class CrossEntropyLoss(_Classification):
    """Integer class targets; the model outputs one logit per class: [C] (or [C, ...])."""

    type: Literal["CrossEntropyLoss"]
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0)


class NLLLoss(_Classification):
    """Integer class targets; the model outputs log-probabilities (end with LogSoftmax)."""

    type: Literal["NLLLoss"]


class BCELoss(_Regression):
    """Binary targets (0/1 or probabilities); the model outputs probabilities (Sigmoid)."""

    type: Literal["BCELoss"]


class BCEWithLogitsLoss(_Regression):
    """Binary targets (0/1 or probabilities); the model outputs logits."""

    type: Literal["BCEWithLogitsLoss"]
    pos_weight: list[Positive] | None = Field(
        None, max_length=65536, description="A weight of positive examples per output.")


class KLDivLoss(_Args):
    """Targets are distributions of the output's shape; the model outputs log-probabilities."""

    type: Literal["KLDivLoss"]
    reduction: Literal["mean", "sum", "batchmean"] = "batchmean"
    log_target: bool = False


# -- optimizers --------------------------------------------------------------------------

class _Optimizer(_Args):
    lr: float = Field(1e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)


class _AdamFamily(_Optimizer):
    betas: Betas = Field(default_factory=lambda: [0.9, 0.999], min_length=2, max_length=2)
    eps: Eps = 1e-8


class SGD(_Optimizer):
    type: Literal["SGD"]
    lr: float = Field(1e-2, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    momentum: Momentum = 0.0
    dampening: Probability = 0.0
    nesterov: bool = False

    @model_validator(mode="after")
    def _nesterov(self) -> SGD:
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise field_error("nesterov", "needs momentum > 0 and dampening 0")
        return self


class Adam(_AdamFamily):
    type: Literal["Adam"]
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    amsgrad: bool = False


class AdamW(_AdamFamily):
    type: Literal["AdamW"]
    weight_decay: float = Field(1e-2, ge=0.0, le=1.0)
    amsgrad: bool = False


class Adamax(_AdamFamily):
    type: Literal["Adamax"]
    lr: float = Field(2e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)


class NAdam(_AdamFamily):
    type: Literal["NAdam"]
    lr: float = Field(2e-3, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    momentum_decay: float = Field(4e-3, ge=0.0, le=1.0)
    decoupled_weight_decay: bool = False


class RAdam(_AdamFamily):
    type: Literal["RAdam"]
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    decoupled_weight_decay: bool = False


class RMSprop(_Optimizer):
    type: Literal["RMSprop"]
    lr: float = Field(1e-2, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    alpha: Momentum = 0.99
    eps: Eps = 1e-8
    momentum: Momentum = 0.0
    centered: bool = False


class Adagrad(_Optimizer):
    type: Literal["Adagrad"]
    lr: float = Field(1e-2, gt=0.0, le=10.0)
    weight_decay: float = Field(0.0, ge=0.0, le=1.0)
    lr_decay: NonNegative = 0.0
    initial_accumulator_value: NonNegative = 0.0
    eps: Eps = 1e-10


# -- learning-rate schedulers ------------------------------------------------------------

class _Scheduler(_Args):
    interval: Literal["epoch", "step"] = "epoch"


class StepLR(_Scheduler):
    type: Literal["StepLR"]
    step_size: int = Count
    gamma: float = Field(0.1, gt=0.0, le=1.0)


class MultiStepLR(_Scheduler):
    type: Literal["MultiStepLR"]
    milestones: list[int] = Field(min_length=1, max_length=64)
    gamma: float = Field(0.1, gt=0.0, le=1.0)

    @model_validator(mode="after")
    def _increasing(self) -> MultiStepLR:
        m = self.milestones
        if m[0] < 1 or m[-1] > 1_000_000_000 or any(b <= a for a, b in zip(m, m[1:])):
            raise field_error("milestones", "must be increasing positive integers")
        return self


class ExponentialLR(_Scheduler):
    type: Literal["ExponentialLR"]
    gamma: float = Factor


class CosineAnnealingLR(_Scheduler):
    type: Literal["CosineAnnealingLR"]
    T_max: int = Count
    eta_min: float = Field(0.0, ge=0.0, le=10.0)


class CosineAnnealingWarmRestarts(_Scheduler):
    type: Literal["CosineAnnealingWarmRestarts"]
    T_0: int = Count
    T_mult: int = Field(1, ge=1, le=16)
    eta_min: float = Field(0.0, ge=0.0, le=10.0)


class LinearLR(_Scheduler):
    type: Literal["LinearLR"]
    start_factor: float = Field(1 / 3, gt=0.0, le=1.0)
    end_factor: float = Field(1.0, ge=0.0, le=1.0)
    total_iters: int = Field(5, ge=1, le=1_000_000)


class ConstantLR(_Scheduler):
    type: Literal["ConstantLR"]
    factor: float = Field(1 / 3, gt=0.0, le=1.0)
    total_iters: int = Field(5, ge=1, le=1_000_000)


class PolynomialLR(_Scheduler):
    type: Literal["PolynomialLR"]
    total_iters: int = Field(5, ge=1, le=1_000_000)
    power: float = Field(1.0, ge=0.0, le=100.0)


class OneCycleLR(_Scheduler):
    """One cycle over the whole job (its total steps, or epochs with interval "epoch")."""

    type: Literal["OneCycleLR"]
    interval: Literal["epoch", "step"] = "step"
    max_lr: float = LearningRate
    pct_start: float = Field(0.3, gt=0.0, lt=1.0)
    anneal_strategy: Literal["cos", "linear"] = "cos"
    cycle_momentum: bool = True
    base_momentum: Momentum = 0.85
    max_momentum: Momentum = 0.95
    div_factor: float = Field(25.0, ge=1.0, le=1e6)
    final_div_factor: float = Field(1e4, ge=1.0, le=1e9)
    three_phase: bool = False


class CyclicLR(_Scheduler):
    type: Literal["CyclicLR"]
    interval: Literal["epoch", "step"] = "step"
    base_lr: float = LearningRate
    max_lr: float = LearningRate
    step_size_up: int = Field(2000, ge=1, le=1_000_000)
    step_size_down: int | None = Field(None, ge=1, le=1_000_000)
    mode: Literal["triangular", "triangular2", "exp_range"] = "triangular"
    gamma: float = Field(1.0, gt=0.0, le=1.0)
    cycle_momentum: bool = True
    base_momentum: Momentum = 0.8
    max_momentum: Momentum = 0.9


class ReduceLROnPlateau(_Scheduler):
    """Steps at the end of each epoch on `monitor` (`val_loss`, `train_loss` or
    `val_<metric>`)."""

    type: Literal["ReduceLROnPlateau"]
    interval: Literal["epoch"] = "epoch"
    monitor: str = Field("val_loss", pattern=r"^(train|val)_[a-z0-9_]{1,40}$")
    mode: Literal["min", "max"] = "min"
    factor: float = Field(0.1, gt=0.0, lt=1.0)
    patience: int = Field(10, ge=0, le=100_000)
    threshold: float = Field(1e-4, ge=0.0, le=1e6)
    threshold_mode: Literal["rel", "abs"] = "rel"
    cooldown: int = Field(0, ge=0, le=100_000)
    min_lr: float = Field(0.0, ge=0.0, le=10.0)
    eps: float = Field(1e-8, ge=0.0, le=1.0)
