"""Extremum and norm reductions: max/min (values and indices), amax/amin, aminmax,
argmax/argmin and norm, plus the dim helpers shared with `reduce`.

This module imports nothing from `reduce` at import time, so `reduce` can re-export it.
"""

from __future__ import annotations

import math
from collections import namedtuple

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineIndexError, EngineRuntimeError, EngineTypeError
from ..tensor import Tensor
from ._util import norm_dim, norm_dims

__all__ = ["max", "min", "amax", "amin", "aminmax", "argmax", "argmin", "norm"]

# tuples with named fields, like torch.return_types.max / min / aminmax
MaxResult = namedtuple("max", ["values", "indices"])
MinResult = namedtuple("min", ["values", "indices"])
AminmaxResult = namedtuple("aminmax", ["min", "max"])


# -- dim helpers (shared with reduce.py) ---------------------------------------
def reduce_dims(dim, ndim: int) -> tuple[int, ...] | None:
    """None for "all dims" (dim None, () or [], or a 0-d input), else sorted dims >= 0."""
    if dim is None or (isinstance(dim, tuple | list) and len(dim) == 0):
        return None
    dims = norm_dims(dim, ndim)  # validates range and duplicates
    return dims if ndim else None


def keep_shape(shape: tuple, dims: tuple | None) -> tuple:
    """`shape` with the reduced dims kept as size 1."""
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def count(shape: tuple, dims: tuple | None) -> int:
    """Number of elements reduced into each output element."""
    return math.prod(shape if dims is None else [shape[d] for d in dims])


def keep(t: Tensor, in_shape: tuple, dims, keepdim: bool) -> Tensor:
    """A reduction's output (or its gradient) reshaped to keepdim form (broadcasts to x)."""
    return t if keepdim else t.reshape(keep_shape(in_shape, dims))


def _nonempty(x: Tensor, dims, name: str) -> None:
    if dims is None:
        if x._data.size == 0:
            raise EngineRuntimeError(
                f"{name}(): Expected reduction dim to be specified for input.numel() == 0. "
                "Specify the reduction dim with the 'dim' argument."
            )
        return
    for d in dims:
        if x._data.shape[d] == 0:
            raise EngineIndexError(f"{name}(): Expected reduction dim {d} to have non-zero size.")


def _float_only(x: Tensor, name: str) -> None:
    if not x.is_floating_point():
        raise EngineRuntimeError(
            f"{name}: Expected a floating point or complex tensor as input. Got {x.dtype}"
        )


# -- amax / amin ---------------------------------------------------------------
class Extreme(Op):
    """amax / amin over dims; the gradient is split evenly among tied extrema."""

    def forward(self, x, dims, keepdim, fn):
        self.save_inputs(0)
        self.save_output()
        self.dims, self.keepdim, self.fn = dims, keepdim, fn
        return getattr(xp_of(x), fn)(x, axis=dims, keepdims=keepdim)

    def name(self) -> str:
        return f"A{self.fn}Backward0"

    def backward(self, g):
        (x,) = self.saved_inputs
        shape = self._in_shapes[0]
        out = keep(self.saved_output, shape, self.dims, self.keepdim)
        mask = (x.detach() == out.detach()).to(g.dtype)
        return keep(g, shape, self.dims, self.keepdim) * mask / mask.sum(self.dims, True)


class ExtremeDim(Op):
    """max / min along one dim: (values, int64 indices); the gradient goes to the index."""

    _materialize = False  # the indices output never gets a gradient

    def forward(self, x, dim, keepdim, fn):
        xp = xp_of(x)
        idx = getattr(xp, "arg" + fn)(x, axis=dim, keepdims=True)
        values = xp.take_along_axis(x, idx, axis=dim)
        self.dim, self.keepdim, self.idx, self.fn = dim, keepdim, idx, fn
        self.mark_non_differentiable(1)
        if not keepdim:
            values, idx = values.squeeze(dim), idx.squeeze(dim)
        return values, idx.astype(xp.int64, copy=False)

    def name(self) -> str:
        return f"{self.fn.capitalize()}Backward0"

    def backward(self, g, _g_indices=None):
        shape, d = self._in_shapes[0], self.dim
        xp = xp_of(self.idx)
        pos = xp.arange(shape[d]).reshape([shape[d] if i == d else 1 for i in range(len(shape))])
        onehot = Tensor._wrap(pos == self.idx, g._device)
        from .binary import where

        return where(onehot, keep(g, shape, (d,), self.keepdim), 0.0)


def _amax(x: Tensor, dim, keepdim: bool, fn: str, name: str) -> Tensor:
    dims = reduce_dims(dim, x.ndim)
    _nonempty(x, dims, name)
    return Extreme.apply(x, dims=dims, keepdim=keepdim, fn=fn)


def amax(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Maximum over `dim` (int or tuple; all dims by default); ties share the gradient.

    >>> import engine
    >>> engine.tensor([[1.0, 5.0], [7.0, 2.0]]).amax(dim=1)
    tensor([5., 7.])
    """
    return _amax(x, dim, keepdim, "max", "amax")


def amin(x: Tensor, dim=(), keepdim: bool = False) -> Tensor:
    """Minimum over `dim` (int or tuple; all dims by default); ties share the gradient.

    >>> import engine
    >>> engine.tensor([[1.0, 5.0], [7.0, 2.0]]).amin(dim=-1, keepdim=True)
    tensor([[1.],
            [2.]])
    """
    return _amax(x, dim, keepdim, "min", "amin")


def _extreme(x, dim, keepdim, other, fn: str):
    if isinstance(dim, Tensor) or other is not None:  # max(a, b): elementwise (PyTorch overload)
        from . import binary

        return getattr(binary, fn + "imum")(x, dim if other is None else other)
    if dim is None:
        return _amax(x, None, False, fn, fn)
    if not isinstance(dim, int):
        raise EngineTypeError(f"{fn}(): argument 'dim' must be int, not {type(dim).__name__}")
    d = norm_dim(dim, x.ndim)
    result = MaxResult if fn == "max" else MinResult
    if x.ndim == 0:
        values, indices = ExtremeDim.apply(x.reshape(1), dim=0, keepdim=False, fn=fn)
        return result(values, indices)
    _nonempty(x, (d,), fn)
    return result(*ExtremeDim.apply(x, dim=d, keepdim=keepdim, fn=fn))


def max(x: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """The largest element; with `dim`, a (values, indices) named tuple; with a tensor
    as second argument, the elementwise maximum.

    >>> import engine
    >>> x = engine.tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.max()
    tensor(7.)
    >>> x.max(dim=1).indices
    tensor([1, 0])
    >>> engine.max(x, engine.full((2, 2), 3.0))
    tensor([[3., 5.],
            [7., 3.]])
    """
    return _extreme(x, dim, keepdim, other, "max")


def min(x: Tensor, dim=None, keepdim: bool = False, *, other=None):  # noqa: A001
    """The smallest element; with `dim`, a (values, indices) named tuple; with a tensor
    as second argument, the elementwise minimum.

    >>> import engine
    >>> x = engine.tensor([[1.0, 5.0], [7.0, 2.0]])
    >>> x.min(0).values
    tensor([1., 2.])
    """
    return _extreme(x, dim, keepdim, other, "min")


def aminmax(x: Tensor, *, dim=None, keepdim: bool = False) -> AminmaxResult:
    """(min, max) over `dim` (all dims by default) as a named tuple.

    >>> import engine
    >>> engine.aminmax(engine.tensor([3.0, -1.0, 2.0]))
    aminmax(min=tensor(-1.), max=tensor(3.))
    """
    return AminmaxResult(_amax(x, dim, keepdim, "min", "aminmax"),
                         _amax(x, dim, keepdim, "max", "aminmax"))


def _arg(x: Tensor, dim, keepdim: bool, fn: str) -> Tensor:
    xp = x._device.backend.xp
    if dim is None:
        _nonempty(x, None, fn)
        arr = getattr(xp, fn)(x._data)
        arr = xp.asarray(arr).reshape((1,) * x.ndim if keepdim else ())
    else:
        d = norm_dim(dim, x.ndim)
        if x.ndim == 0:
            arr = xp.zeros((), dtype=xp.int64)
        else:
            _nonempty(x, (d,), fn)
            arr = getattr(xp, fn)(x._data, axis=d, keepdims=keepdim)
    return Tensor._wrap(xp.asarray(arr).astype(xp.int64, copy=False), x._device)


def argmax(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the largest element, flat or along `dim` (first one on ties).

    >>> import engine
    >>> engine.tensor([[1.0, 5.0], [7.0, 2.0]]).argmax(dim=0)
    tensor([1, 0])
    """
    return _arg(x, dim, keepdim, "argmax")


def argmin(x: Tensor, dim: int | None = None, keepdim: bool = False) -> Tensor:
    """Index (int64) of the smallest element, flat or along `dim` (first one on ties).

    >>> import engine
    >>> engine.tensor([[1.0, 5.0], [7.0, 2.0]]).argmin()
    tensor(0)
    """
    return _arg(x, dim, keepdim, "argmin")


# -- norm ------------------------------------------------------------------------
class Norm(Op):
    """Vector p-norm over dims (p a float, inf or -inf)."""

    def forward(self, x, dims, keepdim, p):
        self.save_inputs(0)
        self.save_output()
        self.dims, self.keepdim, self.p = dims, keepdim, p
        xp = xp_of(x)
        if p == 2:
            return xp.sqrt((x * x).sum(axis=dims, keepdims=keepdim))
        if p == 0:
            return (x != 0).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
        ax = xp.abs(x)
        if p == 1:
            return ax.sum(axis=dims, keepdims=keepdim)
        if math.isinf(p):
            return (xp.max if p > 0 else xp.min)(ax, axis=dims, keepdims=keepdim)
        return (ax**p).sum(axis=dims, keepdims=keepdim) ** (1.0 / p)

    def backward(self, g):
        from .binary import where

        (x,) = self.saved_inputs
        shape, dims, p = self._in_shapes[0], self.dims, self.p
        g = keep(g, shape, dims, self.keepdim)
        out = keep(self.saved_output, shape, dims, self.keepdim)
        sgn = Tensor._wrap(xp_of(x._data).sign(x._data), x._device)  # constant
        if p == 0:
            return g * sgn * 0.0
        if p == 1:
            return g * sgn
        zero_norm = out == 0
        if p == 2:  # x / norm, taken as 0 where the norm is 0 (as PyTorch)
            return g * x / where(zero_norm, 1.0, out)
        ax = x * sgn
        if math.isinf(p):  # split evenly among the elements of largest/smallest |x|
            mask = (ax.detach() == out.detach()).to(g.dtype)
            return g * sgn * mask / mask.sum(dims, True)
        if p < 1:
            scaled = sgn * where(x == 0, 1.0, ax) ** (p - 1)
            return scaled * g * out ** (1 - p)
        scale = where(zero_norm, 0.0, g / where(zero_norm, 1.0, out) ** (p - 1))
        return sgn * ax ** (p - 1) * scale


def norm(x: Tensor, p="fro", dim=None, keepdim: bool = False, dtype=None) -> Tensor:
    """Vector p-norm over `dim` (all elements by default): p = 2 ('fro'), 1, inf, -inf,
    0 or any float. The gradient of the 2-norm at 0 is 0.

    >>> import engine
    >>> engine.tensor([[3.0, 4.0], [6.0, 8.0]]).norm(dim=1)
    tensor([ 5., 10.])
    >>> engine.tensor([-3.0, 1.0]).norm(p=float("inf"))
    tensor(3.)
    """
    if dtype is not None:
        x = x.to(dtype)
    _float_only(x, "linalg.vector_norm")
    if p == "fro" or p is None:
        p = 2.0
    elif isinstance(p, str):
        raise EngineRuntimeError(f"norm(): p={p!r} is not supported (vector norms only)")
    dims = reduce_dims(dim, x.ndim)
    return Norm.apply(x, dims=dims, keepdim=keepdim, p=float(p))


METHODS = {"max": max, "min": min, "amax": amax, "amin": amin, "aminmax": aminmax,
           "argmax": argmax, "argmin": argmin, "norm": norm}
