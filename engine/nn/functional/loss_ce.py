"""Classification losses: F.nll_loss and F.cross_entropy, plus the reduction helpers that
every loss in engine.nn.functional shares (re-exported by `loss`).

cross_entropy is log_softmax followed by nll_loss, so it is stable for huge logits.
Class-index targets support `weight`, `ignore_index` and `label_smoothing`; a weighted
mean divides by the summed weights of the non-ignored targets, as PyTorch does. Targets
of the input's shape are class probabilities.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...autograd.grad_mode import _state
from ...autograd.node import _FREED, Op
from ...backend import xp_of
from ...errors import EngineIndexError, EngineRuntimeError, EngineValueError
from ...ops.activation import _log_softmax_array, log_softmax
from ...ops.binary import where
from ...ops.indexing import device_ctx
from ...tensor import Tensor

__all__ = ["nll_loss", "cross_entropy"]

_TYPE_NAMES = {"int64": "Long", "int32": "Int", "int16": "Short", "int8": "Char",
               "uint8": "Byte", "bool": "Bool", "float32": "Float", "float64": "Double",
               "float16": "Half"}


def type_name(t: Tensor) -> str:
    """PyTorch's scalar type name of t's dtype: Float, Long, ...

    >>> import engine
    >>> type_name(engine.tensor([1]))
    'Long'
    """
    return _TYPE_NAMES.get(t.dtype.name, t.dtype.name)


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """The reduction named by the deprecated size_average/reduce flags (when given).

    >>> legacy_reduction(None, None, "sum")
    'sum'
    """
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(f"size_average and reduce args will be deprecated, please use "
                  f"reduction='{ret}' instead.", stacklevel=3)
    return ret


def check_reduction(reduction: str) -> str:
    """Validate a reduction string ('none', 'mean', 'sum'), as PyTorch's get_enum.

    >>> check_reduction("mean")
    'mean'
    """
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use "
                      "reduction='mean' instead.", stacklevel=3)
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise EngineValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def reduce_loss(loss: Tensor, reduction: str) -> Tensor:
    """loss.mean() / loss.sum() / loss for 'mean' / 'sum' / 'none'.

    >>> import engine
    >>> reduce_loss(engine.tensor([1.0, 3.0]), "mean")
    tensor(2.)
    """
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _check_nll_shapes(input: Tensor, target: Tensor, weight: Tensor | None) -> int:
    """PyTorch's argument checks of nll_loss; returns the number of classes."""
    dim = input.dim()
    if dim < 1:
        raise EngineValueError(f"Expected 1 or more dimensions (got {dim})")
    batch = target.shape[0] if target.dim() else 0
    if dim != 1 and input.shape[0] != batch:
        raise EngineValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                               f"batch_size ({batch}).")
    if target.dtype.name not in ("int64", "uint8"):
        raise EngineRuntimeError(
            f"expected target dtype to be Long or Byte, but got {type_name(target)}"
        )
    n_cls = input.shape[0 if dim == 1 else 1]
    if dim <= 2:
        if target.dim() > 1:
            raise EngineRuntimeError("0D or 1D target tensor expected, multi-target not supported")
        if (dim == 1) != (target.dim() == 0) or (dim == 2 and target.shape[0] != input.shape[0]):
            raise EngineRuntimeError(f"size mismatch (got input: {list(input.shape)}, target: "
                                     f"{list(target.shape)})")
        if weight is not None and weight.numel() != n_cls:
            raise EngineRuntimeError(
                f"weight tensor should be defined either for all {n_cls} classes or no classes "
                f"but got weight tensor of shape: {list(weight.shape)}"
            )
    else:
        want = [input.shape[0], *input.shape[2:]]
        if list(target.shape) != want:
            raise EngineRuntimeError(f"Expected target size {want}, got {list(target.shape)}")
        if weight is not None and weight.numel() != n_cls:
            raise EngineRuntimeError("weight tensor should be defined either for all or no classes")
    return n_cls


def _targets(input: Tensor, target: Tensor, ignore_index: int, n_cls: int):
    """(valid mask, safe target with ignored entries set to 0) as raw int64 arrays;
    raises for out-of-range targets."""
    with device_ctx(target._device):
        xp = target._device.backend.xp
        t = target._data.astype(np.int64, copy=False)
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= n_cls))
        if bool(bad.any()):
            raise EngineIndexError(f"Target {int(t[bad].reshape(-1)[0])} is out of bounds.")
        return valid, xp.where(valid, t, 0)


def _target_weights(weight: Tensor, safe, valid, shape) -> Tensor:
    """weight[target] per position, 0 where the target is ignored."""
    dev = weight._device
    wt = weight.index_select(0, Tensor._wrap(safe.reshape(-1), dev)).reshape(shape)
    return where(Tensor._wrap(valid, dev), wt, 0.0)


def _nll(input: Tensor, target: Tensor, weight, ignore_index: int, reduction: str):
    """nll_loss, plus (valid, safe target) for the label-smoothing term."""
    if input.dim() == 1 and target.dim() == 1 and target.numel() == 1:
        target = target.reshape(())  # PyTorch takes a 1-element target as unbatched
    n_cls = _check_nll_shapes(input, target, weight)
    if target._device is not input._device:
        from ...autograd.node import device_mismatch

        raise device_mismatch(input._device, target._device)
    valid, safe = _targets(input, target, ignore_index, n_cls)
    dev = input._device
    cdim = 0 if input.dim() == 1 else 1
    picked = input.gather(cdim, Tensor._wrap(safe, dev).unsqueeze(cdim)).squeeze(cdim)
    valid_t = Tensor._wrap(valid, dev)
    if weight is not None:
        wt = _target_weights(weight, safe, valid, tuple(target.shape))
        loss = where(valid_t, -picked * wt, 0.0)
    else:
        wt = None
        loss = where(valid_t, -picked, 0.0)
    if reduction == "none":
        return loss, valid, safe
    total = loss.sum()
    if reduction == "sum":
        return total, valid, safe
    return total / _denominator(wt, valid), valid, safe


def _denominator(wt: Tensor | None, valid):
    if wt is not None:
        return wt.sum()
    count = int(valid.sum())
    return float(count) if count else float("nan")


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average=None, ignore_index: int = -100, reduce=None,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood: -input[n, target[n]] (times weight[target[n]]), for input
    (C,), (N, C) or (N, C, d1, ...) log-probabilities and int64 class targets.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> logp = engine.tensor([[-0.5, -1.0], [-2.0, -0.1]])
    >>> F.nll_loss(logp, engine.tensor([0, 1]))
    tensor(0.3000)
    >>> F.nll_loss(logp, engine.tensor([0, -100]), reduction="none")
    tensor([0.5000, 0.0000])
    """
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    return _nll(input, target, weight, ignore_index, reduction)[0]


def _class_shape(input: Tensor, cdim: int) -> tuple:
    return tuple(input.shape[cdim] if i == cdim else 1 for i in range(input.dim()))


def _cross_entropy_probs(input: Tensor, target: Tensor, weight, reduction: str,
                         label_smoothing: float, cdim: int) -> Tensor:
    n_cls = input.shape[cdim]
    logp = log_softmax(input, cdim)
    if label_smoothing > 0:
        target = target * (1 - label_smoothing) + label_smoothing / n_cls
    prod = logp * target
    if weight is not None:
        prod = prod * weight.reshape(_class_shape(input, cdim))
    if reduction == "none":
        return -prod.sum(cdim)
    if reduction == "sum":
        return -prod.sum()
    if input.numel() == 0:
        return -prod.sum() * float("nan")
    return -prod.sum() / (input.numel() / n_cls)


class _CrossEntropy(Op):
    """Mean (count = number of valid targets) or sum (count None) cross entropy of
    (N, C) logits and class indices, as one node: the same arithmetic as log_softmax,
    gather, where, sum and divide, and their backward, without the six intermediate
    nodes."""

    def forward(self, x, safe, valid, count):
        xp = xp_of(x)
        self.save_inputs(0)
        self.safe, self.valid, self.count = safe, valid, count
        logp = self.logp = _log_softmax_array(x, 1)
        picked = logp[xp.arange(logp.shape[0]), safe]
        total = xp.where(valid, -picked, 0.0).sum()
        if count is None:
            return total
        return total / (count if count else float("nan"))  # none valid: nan, as PyTorch

    def backward(self, g):
        count, valid, safe = self.count, self.valid, self.safe
        if _state.enabled:  # create_graph: differentiable in x and g
            (x,) = self.saved_inputs
            dev = x._device
            xp = dev.backend.xp
            with device_ctx(dev):
                onehot = xp.zeros(x._data.shape, x._data.dtype)
                rows = xp.arange(onehot.shape[0])
                onehot[rows, safe] = 1
                mask = valid.astype(x._data.dtype)
            coef = g if count is None else g / (count if count else float("nan"))
            coef = where(Tensor._wrap(valid, dev), coef * Tensor._wrap(mask, dev), 0.0)
            probs = log_softmax(x, 1).exp()
            return (probs - Tensor._wrap(onehot, dev)) * coef.unsqueeze(1)
        if self._freed:
            raise EngineRuntimeError(_FREED)
        ga = g._data
        xp = xp_of(ga)
        gn = ga if count is None else ga / (count if count else float("nan"))
        coef = xp.where(valid, gn, 0).astype(ga.dtype)
        out = xp.exp(self.logp)
        out *= coef[:, None]
        out[xp.arange(out.shape[0]), safe] -= coef
        return Tensor._wrap(out, g._device)

    def release(self) -> None:
        super().release()
        self.logp = None


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits `input` ((C,), (N, C) or (N, C, d1, ...)) and class
    indices, or class probabilities when target has the input's shape.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> logits = engine.tensor([[10000.0, 0.0], [0.0, 0.0]])
    >>> F.cross_entropy(logits, engine.tensor([1, 0]), reduction="none")
    tensor([1.0000e+04, 6.9315e-01])
    >>> F.cross_entropy(logits, engine.tensor([[0.0, 1.0], [1.0, 0.0]]))
    tensor(5000.3467)
    """
    reduction = check_reduction(legacy_reduction(size_average, reduce, reduction))
    if not 0.0 <= label_smoothing <= 1.0:
        raise EngineRuntimeError(
            f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}"
        )
    cdim = 0 if input.dim() == 1 else 1
    if input.dim() and tuple(input.shape) == tuple(target.shape):
        if not target.is_floating_point():
            raise EngineRuntimeError("Expected floating point type for target with class "
                                     f"probabilities, got {type_name(target)}")
        if ignore_index >= 0:
            raise EngineRuntimeError("ignore_index is not supported for floating point target")
        return _cross_entropy_probs(input, target, weight, reduction, label_smoothing, cdim)
    if input.dim() < 1:
        raise EngineValueError(f"Expected 1 or more dimensions (got {input.dim()})")
    if (input.dim() == 2 and target.dim() == 1 and weight is None and label_smoothing == 0.0
            and reduction != "none" and input._data.dtype.kind == "f"):
        n_cls = _check_nll_shapes(input, target, None)
        if target._device is not input._device:
            from ...autograd.node import device_mismatch

            raise device_mismatch(input._device, target._device)
        valid, safe = _targets(input, target, ignore_index, n_cls)
        count = int(valid.sum()) if reduction == "mean" else None
        return _CrossEntropy.apply(input, safe=safe, valid=valid, count=count)
    logp = log_softmax(input, cdim)
    nll, valid, safe = _nll(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0.0:
        return nll
    n_cls = input.shape[cdim]
    dev = input._device
    if weight is not None:
        smooth = -(logp * weight.reshape(_class_shape(input, cdim))).sum(cdim)
    else:
        smooth = -logp.sum(cdim)
    smooth = where(Tensor._wrap(valid, dev), smooth, 0.0)
    if reduction == "none":
        ret = smooth
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        wt = None if weight is None else _target_weights(weight, safe, valid, tuple(target.shape))
        ret = smooth.sum() / _denominator(wt, valid)
    return nll * (1 - label_smoothing) + ret * (label_smoothing / n_cls)
