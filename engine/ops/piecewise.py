"""Piecewise elementwise ops: abs, sign, clamp/clip, rounding, isnan/isinf/isfinite and
nan_to_num. Re-exported by `engine.ops.elementwise` (its `__all__` and `METHODS`).

Gradients follow PyTorch: rounding ops and sign have zero gradient; clamp passes the
gradient where min <= x <= max (and to tensor bounds where they are chosen); the
predicates are not differentiable and return bool tensors.
"""

from __future__ import annotations

import numbers

from .. import dtypes
from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from ._util import as_operands, cast

__all__ = ["abs", "absolute", "sign", "clamp", "clip", "clamp_min", "clamp_max", "floor",
           "ceil", "round", "trunc", "fix", "frac", "isnan", "isinf", "isfinite",
           "nan_to_num"]


_TORCH_NAMES = {"bool": "Bool", "uint8": "Byte", "int8": "Char", "int16": "Short",
                "int32": "Int", "int64": "Long", "float16": "Half"}


class NotImplementedForDtype(EngineRuntimeError, NotImplementedError):
    """An op without a kernel for this dtype (PyTorch raises NotImplementedError)."""


def not_implemented(name: str, x: Tensor) -> NotImplementedForDtype:
    return NotImplementedForDtype(
        f"\"{name}\" not implemented for '{_TORCH_NAMES.get(x.dtype.name, x.dtype.name)}'"
    )


def _where(mask: Tensor, g: Tensor) -> Tensor:
    from .binary import where

    return where(mask, g, 0.0)


def _zeros(g: Tensor) -> Tensor:
    from .creation import zeros_like

    return zeros_like(g)


def _copy(x: Tensor) -> Tensor:
    return Tensor._wrap(x._data.copy(), x._device)


class Abs(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).abs(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * sign(x)


class _ZeroGrad(Op):
    """Piecewise-constant ops: the gradient is zero everywhere (as in PyTorch)."""

    def backward(self, g):
        return _zeros(g)


class Sign(_ZeroGrad):
    def forward(self, x):
        # (x > 0) - (x < 0): PyTorch's definition (sign(nan) is 0, not nan)
        return (x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)


class Floor(_ZeroGrad):
    def forward(self, x):
        return xp_of(x).floor(x)


class Ceil(_ZeroGrad):
    def forward(self, x):
        return xp_of(x).ceil(x)


class Trunc(_ZeroGrad):
    def forward(self, x):
        return xp_of(x).trunc(x)


class Round(_ZeroGrad):
    def forward(self, x, decimals):
        return xp_of(x).round(x, decimals)  # half to even, like PyTorch


class Frac(Op):
    def forward(self, x):
        return x - xp_of(x).trunc(x)

    def backward(self, g):
        return g


class ClampScalar(Op):
    def forward(self, x, lo, hi):
        self.save_inputs(0)
        self.lo, self.hi = lo, hi
        xp = xp_of(x)
        out = x if lo is None else xp.maximum(x, lo)
        return out if hi is None else xp.minimum(out, hi)

    def backward(self, g):
        (x,) = self.saved_inputs
        if self.lo is None:
            mask = x <= self.hi
        else:
            mask = x >= self.lo
            if self.hi is not None:
                mask = mask & (x <= self.hi)
        return _where(mask, g)


class ClampTensor(Op):
    """clamp with tensor bounds: inputs (x, lo, hi), (x, lo) or (x, hi)."""

    def forward(self, x, *bounds, has_lo, has_hi):
        self.save_inputs(*range(1 + len(bounds)))
        self.has_lo, self.has_hi = has_lo, has_hi
        xp = xp_of(x)
        out = xp.maximum(x, bounds[0]) if has_lo else x
        return xp.minimum(out, bounds[-1]) if has_hi else out

    def backward(self, g):
        saved = self.saved_inputs
        x = saved[0]
        lo = saved[1] if self.has_lo else None
        hi = saved[-1] if self.has_hi else None
        grads = [None] * len(saved)
        if self.needs_grad(0):
            if lo is None:
                mask = x <= hi
            else:
                mask = x >= lo if hi is None else (x >= lo) & (x <= hi)
            grads[0] = _where(mask, g)
        if lo is not None and self.needs_grad(1):
            mask = x < lo if hi is None else (x < lo) & (lo < hi)
            grads[1] = _where(mask, g)
        if hi is not None and self.needs_grad(len(saved) - 1):
            mask = x > hi if lo is None else (x > hi) | (hi < lo)
            grads[-1] = _where(mask, g)
        return tuple(grads)


class NanToNum(Op):
    def forward(self, x, nan, posinf, neginf):
        self.save_inputs(0)
        return xp_of(x).nan_to_num(x, nan=nan, posinf=posinf, neginf=neginf)

    def backward(self, g):
        (x,) = self.saved_inputs
        return _where(isfinite(x), g)


def abs(x: Tensor) -> Tensor:  # noqa: A001 - mirrors torch.abs
    """|x|, elementwise (the gradient at 0 is 0).

    >>> import engine
    >>> engine.abs(engine.tensor([-1.5, 2.0]))
    tensor([1.5000, 2.0000])
    """
    return Abs.apply(x)


absolute = abs


def sign(x: Tensor) -> Tensor:
    """-1, 0 or 1 by the sign of x (zero gradient).

    >>> import engine
    >>> engine.sign(engine.tensor([-2.0, 0.0, 3.0]))
    tensor([-1.,  0.,  1.])
    """
    kind = x._data.dtype.kind
    if kind == "b":
        return _copy(x)
    if kind != "f":
        xp = x._device.backend.xp
        return Tensor._wrap(xp.asarray(xp.sign(x._data)), x._device)
    return Sign.apply(x)


def _scalar_dtype(x: Tensor, bounds) -> dtypes.dtype:
    dt = x.dtype
    for b in bounds:
        if b is not None:
            dt = dtypes.promote_types(dt, dtypes.result_type(x, b))
    return dt


def clamp(x: Tensor, min=None, max=None) -> Tensor:  # noqa: A002 - torch's names
    """Limit x to [min, max]; each bound a number, a tensor (broadcast) or None.

    Like PyTorch, the result is min(max(x, min), max), so max wins when min > max.

    >>> import engine
    >>> engine.clamp(engine.tensor([-2.0, 0.5, 3.0]), min=0.0, max=1.0)
    tensor([0.0000, 0.5000, 1.0000])
    """
    if min is None and max is None:
        raise EngineRuntimeError("clamp: At least one of 'min' or 'max' must not be None")
    if not isinstance(min, Tensor) and not isinstance(max, Tensor):
        for b in (min, max):
            if b is not None and not isinstance(b, numbers.Number):
                raise EngineRuntimeError(
                    f"clamp(): min and max must be numbers or Tensors, got {type(b).__name__}"
                )
        x = cast(x, _scalar_dtype(x, (min, max)))
        py = float if x._data.dtype.kind == "f" else int  # NumPy scalars must not upcast
        return ClampScalar.apply(x, lo=None if min is None else py(min),
                                 hi=None if max is None else py(max))
    bounds = []
    for b in (min, max):
        if b is not None:
            x, b = as_operands(x, b)
            bounds.append(b)
    bounds = [cast(b, x.dtype) for b in bounds]
    return ClampTensor.apply(x, *bounds, has_lo=min is not None, has_hi=max is not None)


clip = clamp


def clamp_min(x: Tensor, min) -> Tensor:  # noqa: A002
    """max(x, min), elementwise.

    >>> import engine
    >>> engine.clamp_min(engine.tensor([-1.0, 2.0]), 0.0)
    tensor([0., 2.])
    """
    return clamp(x, min=min)


def clamp_max(x: Tensor, max) -> Tensor:  # noqa: A002
    """min(x, max), elementwise.

    >>> import engine
    >>> engine.clamp_max(engine.tensor([-1.0, 2.0]), 0.0)
    tensor([-1.,  0.])
    """
    return clamp(x, max=max)


def _rounding(x: Tensor, op, **kwargs) -> Tensor:
    if x._data.dtype.kind != "f":  # integers are already integral
        return _copy(x)
    return op.apply(x, **kwargs)


def floor(x: Tensor) -> Tensor:
    """Largest integer <= x, elementwise (zero gradient).

    >>> import engine
    >>> engine.floor(engine.tensor([-1.5, 1.5]))
    tensor([-2.,  1.])
    """
    return _rounding(x, Floor)


def ceil(x: Tensor) -> Tensor:
    """Smallest integer >= x, elementwise (zero gradient).

    >>> import engine
    >>> engine.ceil(engine.tensor([-1.5, 1.5]))
    tensor([-1.,  2.])
    """
    return _rounding(x, Ceil)


def round(x: Tensor, *, decimals: int = 0) -> Tensor:  # noqa: A001 - mirrors torch.round
    """Round half to even, to `decimals` places (zero gradient).

    >>> import engine
    >>> engine.round(engine.tensor([0.5, 1.5, 2.567]))
    tensor([0., 2., 3.])
    >>> engine.round(engine.tensor([2.567]), decimals=2)
    tensor([2.5700])
    """
    return _rounding(x, Round, decimals=int(decimals))


def trunc(x: Tensor) -> Tensor:
    """Round toward zero, elementwise (zero gradient).

    >>> import engine
    >>> engine.trunc(engine.tensor([-1.7, 1.7]))
    tensor([-1.,  1.])
    """
    return _rounding(x, Trunc)


fix = trunc


def frac(x: Tensor) -> Tensor:
    """x - trunc(x): the fractional part, with x's sign (gradient 1).

    >>> import engine
    >>> engine.frac(engine.tensor([-1.5, 2.25]))
    tensor([-0.5000,  0.2500])
    """
    if x._data.dtype.kind != "f":
        raise not_implemented("frac", x)
    return Frac.apply(x)


def _predicate(name: str, x: Tensor) -> Tensor:
    xp = x._device.backend.xp
    return Tensor._wrap(xp.asarray(getattr(xp, name)(x._data)), x._device)


def isnan(x: Tensor) -> Tensor:
    """Bool tensor: True where x is NaN.

    >>> import engine
    >>> engine.isnan(engine.tensor([1.0, float("nan")]))
    tensor([False,  True])
    """
    return _predicate("isnan", x)


def isinf(x: Tensor) -> Tensor:
    """Bool tensor: True where x is +inf or -inf.

    >>> import engine
    >>> engine.isinf(engine.tensor([1.0, float("-inf")]))
    tensor([False,  True])
    """
    return _predicate("isinf", x)


def isfinite(x: Tensor) -> Tensor:
    """Bool tensor: True where x is neither inf nor NaN.

    >>> import engine
    >>> engine.isfinite(engine.tensor([1.0, float("inf"), float("nan")]))
    tensor([ True, False, False])
    """
    return _predicate("isfinite", x)


def nan_to_num(x: Tensor, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """Replace NaN by `nan` and +-inf by posinf/neginf (default: the dtype's extremes).
    The gradient is zero where an element was replaced.

    >>> import engine
    >>> engine.nan_to_num(engine.tensor([float("nan"), 1.0, float("inf")]), posinf=9.0)
    tensor([0., 1., 9.])
    """
    if x._data.dtype.kind != "f":
        return _copy(x)
    return NanToNum.apply(x, nan=nan, posinf=posinf, neginf=neginf)


METHODS = {
    "abs": abs, "absolute": abs, "__abs__": abs, "sign": sign, "clamp": clamp, "clip": clamp,
    "clamp_min": clamp_min, "clamp_max": clamp_max, "floor": floor, "ceil": ceil,
    "round": round, "trunc": trunc, "fix": trunc, "frac": frac, "isnan": isnan,
    "isinf": isinf, "isfinite": isfinite, "nan_to_num": nan_to_num,
}
