"""Reductions: sum, mean, var/std, prod, logsumexp, cumsum, all/any, count_nonzero, the
broadcast reduction `sum_to_shape` used by backward, and (re-exported from
`reduce_stats`) max/min, amax/amin, aminmax, argmax/argmin and norm.

Every `dim` is an int or a tuple (negative allowed); None, () or [] mean all dims.
"""

from __future__ import annotations

import builtins
import math

import numpy as np

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from . import reduce_stats as _stats
from ._util import norm_dim
from .movement import Expand, Reshape
from .reduce_stats import count as _count
from .reduce_stats import keep as _keep
from .reduce_stats import keep_shape as _keepdim_shape
from .reduce_stats import reduce_dims

__all__ = ["sum", "mean", "sum_to_shape", "var", "std", "var_mean", "std_mean", "prod",
           "logsumexp", "cumsum", "all", "any", "count_nonzero"]


def _div(a, n):
    """a / n for a raw array, with PyTorch's inf/nan (and no NumPy warning) when n == 0."""
    if n:
        return a / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return a / n


class Sum(Op):
    def forward(self, x, dims, keepdim, dtype):
        self.dims, self.keepdim = dims, keepdim
        return x.sum(axis=dims, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        shape = self._in_shapes[0]
        if not self.keepdim and self.dims is not None:
            g = Reshape.apply(g, shape=_keepdim_shape(shape, self.dims))
        return Expand.apply(g, shape=shape)  # a 0-d total broadcasts as it is


class SumToShape(Op):
    """Sum a broadcast array back down to `shape` (the gradient of broadcasting)."""

    def forward(self, x, shape):
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(
            lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1
        )
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape)

    def backward(self, g):
        return Expand.apply(g, shape=self._in_shapes[0])


def sum_to_shape(x: Tensor, shape: tuple) -> Tensor:
    """Reduce x to `shape` by summing the broadcast dimensions.

    >>> import engine
    >>> engine.ops.reduce.sum_to_shape(engine.ones(2, 3), (1, 3))
    tensor([[2., 2., 2.]])
    """
    if tuple(x.shape) == tuple(shape):
        return x
    return SumToShape.apply(x, shape=tuple(shape))


def _int64_if_integral(x: Tensor, dtype):
    """Integer and bool inputs accumulate in int64 unless a dtype is given (as PyTorch)."""
    if dtype is None and x._data.dtype.kind in "biu":
        from .. import dtypes

        return dtypes.int64
    return dtype


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over all elements or over `dim` (int or tuple).

    >>> import engine
    >>> engine.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=0)
    tensor([4., 6.])
    """
    dims = reduce_dims(dim, x.ndim)
    dtype = _int64_if_integral(x, dtype)
    np_dtype = dtype.np if dtype is not None else None
    return Sum.apply(x, dims=dims, keepdim=keepdim, dtype=np_dtype)


def _need_float(x: Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise EngineRuntimeError(
            f"{name}(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.dtype.name.capitalize()}"
        )


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over all elements or over `dim` (floating tensors only).

    >>> import engine
    >>> engine.tensor([1.0, 2.0, 6.0]).mean()
    tensor(3.)
    """
    if dtype is not None:
        x = x.to(dtype)
    _need_float(x, "mean")
    dims = reduce_dims(dim, x.ndim)
    n = _count(x.shape, dims)
    return sum(x, dims, keepdim) / n if n else sum(x, dims, keepdim) * float("nan")


# -- var / std -----------------------------------------------------------------
class Var(Op):
    """Variance with a `correction` (Bessel's for 1); `std=True` takes the square root."""

    def forward(self, x, dims, keepdim, correction, std):
        self.save_inputs(0)
        if std:
            self.save_output()
        self.dims, self.keepdim, self.std = dims, keepdim, std
        n = _count(x.shape, dims)
        self.div = builtins.max(n - correction, 0)
        d = x - _div(x.sum(axis=dims, keepdims=True), n)
        out = _div((d * d).sum(axis=dims, keepdims=keepdim), self.div)
        return xp_of(out).sqrt(out) if std else out

    def name(self) -> str:
        return "StdBackward0" if self.std else "VarBackward0"

    def backward(self, g):
        (x,) = self.saved_inputs
        shape, dims = self._in_shapes[0], self.dims
        g = _keep(g, shape, dims, self.keepdim)
        scale = 1.0 / self.div if self.div else math.inf
        centered = x - x.mean(dims, True)
        if not self.std:
            return g * centered * (2.0 * scale)
        from .binary import where

        # d std = d var / (2 std), taken as 0 where std == 0 (as PyTorch)
        out = _keep(self.saved_output, shape, dims, self.keepdim)
        return g * centered * scale / where(out == 0, 1.0, out)


def _var_args(x: Tensor, dim, unbiased, correction, keepdim):
    if isinstance(dim, bool):  # var(x, unbiased) overload
        dim, unbiased = None, dim
    if unbiased is not None and correction is not None:
        raise EngineRuntimeError("Cannot specify both unbiased and correction")
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    if not x.is_floating_point():
        raise EngineRuntimeError("std and var only support floating point and complex dtypes")
    return dict(dims=reduce_dims(dim, x.ndim), keepdim=keepdim, correction=correction)


def var(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Variance over `dim` with `correction` (default 1; `unbiased=False` means 0).

    >>> import engine
    >>> x = engine.tensor([[1.0, 3.0], [2.0, 6.0]])
    >>> x.var(dim=1)
    tensor([2., 8.])
    >>> x.var(correction=0)
    tensor(3.5000)
    """
    return Var.apply(x, std=False, **_var_args(x, dim, unbiased, correction, keepdim))


def std(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction=None) -> Tensor:
    """Standard deviation over `dim` with `correction` (default 1); its gradient is 0
    where the deviation is 0.

    >>> import engine
    >>> engine.tensor([[1.0, 3.0], [2.0, 6.0]]).std(0, unbiased=False)
    tensor([0.5000, 1.5000])
    """
    return Var.apply(x, std=True, **_var_args(x, dim, unbiased, correction, keepdim))


def var_mean(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """(var, mean) over `dim`.

    >>> import engine
    >>> engine.var_mean(engine.tensor([1.0, 3.0]))
    (tensor(2.), tensor(2.))
    """
    v = var(x, dim, unbiased, keepdim, correction=correction)
    return v, mean(x, None if isinstance(dim, bool) else dim, keepdim)


def std_mean(x: Tensor, dim=None, unbiased: bool | None = None, keepdim: bool = False, *,
             correction=None) -> tuple[Tensor, Tensor]:
    """(std, mean) over `dim`.

    >>> import engine
    >>> engine.std_mean(engine.tensor([1.0, 3.0]), unbiased=False)
    (tensor(1.), tensor(2.))
    """
    s = std(x, dim, unbiased, keepdim, correction=correction)
    return s, mean(x, None if isinstance(dim, bool) else dim, keepdim)


# -- prod ----------------------------------------------------------------------
class Prod(Op):
    def forward(self, x, dims, keepdim):
        self.save_inputs(0)
        self.save_output()
        self.dims, self.keepdim = dims, keepdim
        return x.prod(axis=dims, keepdims=keepdim)

    def backward(self, g):
        from .binary import where

        (x,) = self.saved_inputs
        shape, dims = self._in_shapes[0], self.dims
        g = _keep(g, shape, dims, self.keepdim)
        out = _keep(self.saved_output, shape, dims, self.keepdim)
        if not bool((x._data == 0).any()):
            return g * out / x
        # With zeros: d prod / d x_i is the product of the others. For a slice with one
        # zero, that is the product of its non-zeros at the zero and 0 elsewhere (written
        # as zero_value * prod / x_i so that second derivatives stay right); with two or
        # more zeros it is 0 everywhere.
        z = x == 0
        nz = z.sum(dims, True)
        safe = where(z, 1.0, x)
        p = prod(safe, dims, True)
        one = nz == 1
        zero_value = where(z, x, 0.0).sum(dims, True)
        others = p / safe * where(one, zero_value, 1.0)
        return g * where(z, where(one, p, 0.0), where(nz >= 2, 0.0, others))


def prod(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product over all elements or over `dim` (int or tuple); the gradient is right
    with zeros in the input.

    >>> import engine
    >>> x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.prod(dim=1)
    tensor([ 2., 12.])
    """
    dtype = _int64_if_integral(x, dtype)
    if dtype is not None:
        x = x.to(dtype)
    return Prod.apply(x, dims=reduce_dims(dim, x.ndim), keepdim=keepdim)


# -- logsumexp -----------------------------------------------------------------
class LogSumExp(Op):
    def forward(self, x, dims, keepdim):
        self.save_inputs(0)
        self.save_output()
        self.dims, self.keepdim = dims, keepdim
        xp = xp_of(x)
        if x.size:
            m = xp.max(x, axis=dims, keepdims=True)
            m = xp.where(xp.isfinite(m), m, xp.zeros_like(m))  # all -inf/inf: no shift
        else:
            m = xp.zeros(_keepdim_shape(x.shape, dims), dtype=x.dtype)
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            out = xp.log(xp.exp(x - m).sum(axis=dims, keepdims=True)) + m
        return out if keepdim else out.reshape(_reduced_shape(x.shape, dims))

    def backward(self, g):
        (x,) = self.saved_inputs
        shape, dims = self._in_shapes[0], self.dims
        out = _keep(self.saved_output, shape, dims, self.keepdim)
        return _keep(g, shape, dims, self.keepdim) * (x - out).exp()


def _reduced_shape(shape: tuple, dims) -> tuple:
    return () if dims is None else tuple(s for i, s in enumerate(shape) if i not in dims)


def logsumexp(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over `dim`, computed stably (shifted by the max).

    >>> import engine
    >>> engine.tensor([100.0, 100.0]).logsumexp(dim=0)  # exp(100) overflows float32
    tensor(100.6931)
    """
    if not x.is_floating_point():
        from .. import dtypes

        x = x.to(dtypes.float32)
    return LogSumExp.apply(x, dims=reduce_dims(dim, x.ndim), keepdim=keepdim)


# -- cumsum --------------------------------------------------------------------
class Cumsum(Op):
    def forward(self, x, dim):
        self.dim = dim
        return xp_of(x).cumsum(x, axis=dim)

    def backward(self, g):
        return RevCumsum.apply(g, dim=self.dim)


class RevCumsum(Op):
    """Cumulative sum from the end (the gradient of cumsum)."""

    def forward(self, x, dim):
        self.dim = dim
        xp = xp_of(x)
        return xp.flip(xp.cumsum(xp.flip(x, dim), axis=dim), dim)

    def backward(self, g):
        return Cumsum.apply(g, dim=self.dim)


def cumsum(x: Tensor, dim: int, *, dtype=None) -> Tensor:
    """Cumulative sum along `dim` (integer inputs give int64).

    >>> import engine
    >>> engine.tensor([[1.0, 2.0, 3.0]]).cumsum(dim=-1)
    tensor([[1., 3., 6.]])
    """
    dtype = _int64_if_integral(x, dtype)
    if dtype is not None:
        x = x.to(dtype)
    d = norm_dim(dim, x.ndim)
    if x.ndim == 0:
        return Cumsum.apply(x.reshape(1), dim=0).reshape(())
    return Cumsum.apply(x, dim=d)


# -- logical reductions (not differentiable) -------------------------------------
def _logical(x: Tensor, dim, keepdim: bool, fn: str) -> Tensor:
    xp = x._device.backend.xp
    arr = xp.asarray(getattr(x._data, fn)(axis=reduce_dims(dim, x.ndim), keepdims=keepdim))
    if x._data.dtype == np.uint8:  # PyTorch keeps uint8 for all/any of uint8
        arr = arr.astype(np.uint8)
    return Tensor._wrap(arr, x._device)


def all(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether all elements (over `dim`) are non-zero, as a bool tensor.

    >>> import engine
    >>> engine.tensor([[1, 0], [2, 3]]).all(dim=1)
    tensor([False,  True])
    """
    return _logical(x, dim, keepdim, "all")


def any(x: Tensor, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    """Whether any element (over `dim`) is non-zero, as a bool tensor.

    >>> import engine
    >>> engine.tensor([[1, 0], [0, 0]]).any(dim=1)
    tensor([ True, False])
    """
    return _logical(x, dim, keepdim, "any")


def count_nonzero(x: Tensor, dim=None) -> Tensor:
    """Number of non-zero elements (over `dim`), as int64.

    >>> import engine
    >>> engine.tensor([[1.0, 0.0], [2.0, 3.0]]).count_nonzero(dim=0)
    tensor([2, 1])
    """
    xp = x._device.backend.xp
    arr = (x._data != 0).sum(axis=reduce_dims(dim, x.ndim))
    return Tensor._wrap(xp.asarray(arr).astype(xp.int64, copy=False), x._device)


METHODS = {"sum": sum, "mean": mean, "var": var, "std": std, "prod": prod,
           "logsumexp": logsumexp, "cumsum": cumsum, "all": all, "any": any,
           "count_nonzero": count_nonzero}

# max/min/amax/amin/aminmax/argmax/argmin/norm live in reduce_stats (size); export them here
__all__ += _stats.__all__
METHODS.update(_stats.METHODS)
max, min, amax, amin = _stats.max, _stats.min, _stats.amax, _stats.amin  # noqa: A001
aminmax, argmax, argmin, norm = _stats.aminmax, _stats.argmax, _stats.argmin, _stats.norm
