"""Losses: mse_loss, l1_loss, smooth_l1_loss, huber_loss, binary_cross_entropy,
binary_cross_entropy_with_logits, kl_div, cosine_embedding_loss, and (from `loss_ce`)
nll_loss and cross_entropy.

Every loss takes PyTorch's `reduction` ('mean' | 'sum' | 'none') and the deprecated
size_average/reduce flags. The two binary cross entropies are primitive ops with
PyTorch's gradients: BCE clamps the logs at -100 and divides by max(x (1 - x), 1e-12);
the logits form uses log(1 + exp(-|x|)), so logits like 1e4 give no inf or nan.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np

from ...autograd.node import Op
from ...backend import xp_of
from ...errors import EngineRuntimeError, EngineValueError
from ...ops.activation import logsigmoid
from ...ops.binary import where
from ...ops.elementwise import sigmoid
from ...tensor import Tensor
from .loss_ce import (
    check_reduction,
    cross_entropy,
    legacy_reduction,
    nll_loss,
    reduce_loss,
    type_name,
)

__all__ = ["mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
           "binary_cross_entropy_with_logits", "kl_div", "cosine_embedding_loss", "nll_loss",
           "cross_entropy"]


def _quiet(xp):
    """Silence NumPy's divide/invalid warnings (log(0) is clamped afterwards)."""
    return np.errstate(divide="ignore", invalid="ignore") if xp is np else contextlib.nullcontext()


def _warn_size(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}). This will likely lead to incorrect results due to "
            "broadcasting. Please ensure they have the same size.",
            stacklevel=3,
        )


def _weighted(loss: Tensor, input: Tensor, weight: Tensor | None, reduction: str,
              weighted_mean: bool = True) -> Tensor:
    """Apply an optional elementwise weight (input's shape), then reduce."""
    if weight is None:
        return reduce_loss(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise EngineValueError("Weights and input must have the same size.")
    loss = loss * weight
    if reduction == "mean" and weighted_mean:
        return loss.sum() / weight.sum()
    return reduce_loss(loss, reduction)


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error (input - target)^2, reduced; a weighted mean divides by the
    summed weights.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.mse_loss(engine.tensor([1.0, 2.0]), engine.tensor([0.0, 0.0]))
    tensor(2.5000)
    """
    _warn_size(input, target)
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    d = input - target
    return _weighted(d * d, input, weight, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean absolute error |input - target|, reduced.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.l1_loss(engine.tensor([1.0, -3.0]), engine.tensor([0.0, 0.0]))
    tensor(2.)
    """
    _warn_size(input, target)
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    return _weighted((input - target).abs(), input, weight, reduction)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = input - target);
    beta = 0 is the L1 loss.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.smooth_l1_loss(engine.tensor([0.5, 3.0]), engine.zeros(2), reduction="none")
    tensor([0.1250, 2.5000])
    """
    _warn_size(input, target)
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    if beta < 0:
        raise EngineRuntimeError("smooth_l1_loss does not support negative values for beta.")
    d = (input - target).abs()
    if beta == 0.0:
        return reduce_loss(d, reduction)
    loss = where(d < beta, d * d * (0.5 / beta), d - 0.5 * beta)
    return reduce_loss(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = input - target).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.huber_loss(engine.tensor([0.5, 3.0]), engine.zeros(2), reduction="none", delta=2.0)
    tensor([0.1250, 4.0000])
    """
    _warn_size(input, target)
    reduction = check_reduction(reduction)
    if delta <= 0:
        raise EngineRuntimeError("huber_loss does not support non-positive values for delta.")
    d = (input - target).abs()
    loss = where(d < delta, d * d * 0.5, (d - 0.5 * delta) * delta)
    return _weighted(loss, input, weight, reduction, weighted_mean=False)


class BinaryCrossEntropy(Op):
    """-(t log x + (1 - t) log(1 - x)), elementwise, logs clamped at -100.

    >>> import engine
    >>> BinaryCrossEntropy.apply(engine.tensor([0.0, 0.5]), engine.tensor([1.0, 1.0]))
    tensor([100.0000,   0.6931])
    """

    def forward(self, x, t):
        xp = xp_of(x)
        if bool(((x < 0) | (x > 1)).any()):
            raise EngineRuntimeError("all elements of input should be between 0 and 1")
        self.save_inputs(0, 1)
        with _quiet(xp):
            log_x = xp.maximum(xp.log(x), -100.0)
            log_1mx = xp.maximum(xp.log1p(-x), -100.0)
        return -(t * log_x + (1 - t) * log_1mx)

    def backward(self, g):
        x, t = self.saved_inputs
        gx = gt = None
        if self.needs_grad(0):
            gx = g * (x - t) / ((1 - x) * x).clamp_min(1e-12)
        if self.needs_grad(1):
            gt = g * ((-x).log1p() - x.log())
        return gx, gt


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities `input` in [0, 1] against `target` (same
    shape and dtype); `weight` broadcasts against the elementwise loss.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.binary_cross_entropy(engine.tensor([0.5, 1.0]), engine.tensor([1.0, 0.0]),
    ...                        reduction="none")
    tensor([  0.6931, 100.0000])
    """
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    if tuple(target.shape) != tuple(input.shape):
        raise EngineValueError(
            f"Using a target size ({target.size()}) that is different to the input size "
            f"({input.size()}) is deprecated. Please ensure they have the same size."
        )
    if target.dtype is not input.dtype:
        raise EngineRuntimeError(
            f"Found dtype {type_name(target)} but expected {type_name(input)}"
        )
    loss = BinaryCrossEntropy.apply(input, target)
    if weight is not None:
        shape = tuple(np.broadcast_shapes(tuple(target.shape), tuple(weight.shape)))
        if shape != tuple(input.shape):
            raise EngineRuntimeError(f"output with shape {list(input.shape)} doesn't match the "
                                     f"broadcast shape {list(shape)}")
        loss = loss * weight
    return reduce_loss(loss, reduction)


class BinaryCrossEntropyWithLogits(Op):
    """(1 - t) x + (1 + (pw - 1) t) log(1 + exp(-x)), elementwise and stable.

    >>> import engine
    >>> BinaryCrossEntropyWithLogits.apply(engine.tensor([0.0]), engine.tensor([1.0]))
    tensor([0.6931])
    """

    def forward(self, x, t, *pw):
        xp = xp_of(x)
        self.has_pw = bool(pw)
        self.save_inputs(*range(2 + len(pw)))
        sp = xp.maximum(-x, 0) + xp.log1p(xp.exp(-xp.abs(x)))  # log(1 + exp(-x))
        if pw:
            sp *= (pw[0] - 1) * t + 1
        return (1 - t) * x + sp

    def backward(self, g):
        saved = self.saved_inputs
        x, t = saved[0], saved[1]
        pw = saved[2] if self.has_pw else None
        out = [None, None] + ([None] if self.has_pw else [])
        if self.needs_grad(0):
            s = sigmoid(x)
            out[0] = g * (s - t) if pw is None else g * (s * ((pw - 1) * t + 1) - pw * t)
        if self.needs_grad(1):
            out[1] = -g * x if pw is None else -g * (x + (pw - 1) * logsigmoid(x))
        if pw is not None and self.needs_grad(2):
            out[2] = -g * t * logsigmoid(x)
        return tuple(out)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """Sigmoid + binary cross entropy in one stable step; pos_weight (broadcast along
    the last dim) weights the positive term, weight the elementwise loss.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.binary_cross_entropy_with_logits(engine.tensor([1e4, -1e4, 0.0]),
    ...                                    engine.tensor([0.0, 0.0, 1.0]), reduction="none")
    tensor([1.0000e+04, 0.0000e+00, 6.9315e-01])
    """
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    if tuple(target.shape) != tuple(input.shape):
        raise EngineValueError(
            f"Target size ({target.size()}) must be the same as input size ({input.size()})"
        )
    if not target.is_floating_point():
        raise EngineRuntimeError(
            f"result type Float can't be cast to the desired output type {type_name(target)}"
        )
    extra = () if pos_weight is None else (pos_weight,)
    loss = BinaryCrossEntropyWithLogits.apply(input, target, *extra)
    if weight is not None:
        loss = loss * weight
    return reduce_loss(loss, reduction)


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """KL divergence with log-probabilities `input`: target (log target - input)
    elementwise (target given as log-probabilities with log_target=True).
    reduction='batchmean' divides the sum by the batch size (the mathematical KL).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> logq = engine.tensor([[0.5, 0.5]]).log()
    >>> F.kl_div(logq, engine.tensor([[1.0, 0.0]]), reduction="batchmean")
    tensor(0.6931)
    """
    if size_average is not None or reduce is not None:
        reduction = legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    if reduction != "batchmean":
        reduction = check_reduction(reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:  # xlogy(t, t) - t * input, with 0 log 0 = 0
        with _quiet(xp_of(target._data)):
            loss = target * where(target == 0, 1.0, target).log() - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.dim() else total
    return reduce_loss(loss, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor,
                          margin: float = 0, size_average=None, reduce=None,
                          reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where target == 1, max(0, cos(x1, x2) - margin) where
    target == -1 (0 elsewhere), for rows of (N, D) inputs or (D,) vectors.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> x = engine.tensor([[1.0, 0.0], [1.0, 0.0]])
    >>> y = engine.tensor([[0.0, 1.0], [1.0, 1.0]])
    >>> F.cosine_embedding_loss(x, y, engine.tensor([1, -1]), reduction="none")
    tensor([1.0000, 0.7071])
    """
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    tdim = target.dim()
    if tdim not in (0, 1):
        raise EngineRuntimeError("0D or 1D target tensor expected, multi-target not supported")
    want = tdim + 1
    if input1.dim() != want or input2.dim() != want:
        raise EngineRuntimeError(
            f"{tdim}D target tensor expects {want}D input tensors, but found inputs with sizes "
            f"{list(input1.shape)} and {list(input2.shape)}."
        )
    eps = 1e-12
    prod = (input1 * input2).sum(tdim)
    mag1 = (input1 * input1).sum(tdim) + eps
    mag2 = (input2 * input2).sum(tdim) + eps
    cos = prod / (mag1 * mag2).sqrt()
    pos = where(target == 1, 1 - cos, 0.0)
    neg = where(target == -1, (cos - margin).clamp_min(0), 0.0)
    return reduce_loss(pos + neg, reduction)

