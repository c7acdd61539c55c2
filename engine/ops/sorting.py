"""Sorting and searching: sort, argsort, topk, kthvalue, msort, unique, nonzero, argwhere,
searchsorted, bincount.

Only the `values` of sort/topk/kthvalue/msort are differentiable: they are a gather of
the input at the (non-differentiable) indices, whose gradient scatters back into zeros.
Sorts are always stable, and NaN sorts as the largest value, as in PyTorch.
"""

from __future__ import annotations

import functools
from collections import namedtuple

import numpy as np

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from ._util import norm_dim

__all__ = ["sort", "argsort", "msort", "topk", "kthvalue", "unique", "nonzero", "argwhere",
           "searchsorted", "bincount"]

# named (values, indices) results, like torch.return_types.*
SortResult = namedtuple("sort", ["values", "indices"])
TopkResult = namedtuple("topk", ["values", "indices"])
KthvalueResult = namedtuple("kthvalue", ["values", "indices"])


# -- differentiable gather along a dim and its transpose ---------------------------------
def _full_index(index, dim: int, xp) -> tuple:
    """Open-grid index tuple selecting `index` along `dim` (for add-at scatters)."""
    out = []
    for d, n in enumerate(index.shape):
        if d == dim:
            out.append(index)
        else:
            shape = [1] * index.ndim
            shape[d] = n
            out.append(xp.arange(n).reshape(shape))
    return tuple(out)


class Gather(Op):
    """out = take_along_axis(x, index, dim), reshaped to `out_shape`."""

    def forward(self, x, index, dim, out_shape):
        self.index, self.dim = index, dim
        if x.ndim == 0:
            return x.copy()
        return xp_of(x).take_along_axis(x, index, axis=dim).reshape(out_shape)

    def backward(self, g):
        return ScatterAdd.apply(g, index=self.index, dim=self.dim, shape=self._in_shapes[0])


class ScatterAdd(Op):
    """out = zeros(shape); out[index along dim] += g (the gradient of `Gather`)."""

    def forward(self, g, index, dim, shape):
        self.index, self.dim = index, dim
        if len(shape) == 0:
            return g.copy()
        xp = xp_of(g)
        out = xp.zeros(shape, g.dtype)
        src = g.reshape(index.shape)
        full = _full_index(index, dim, xp)
        if xp is np:
            np.add.at(out, full, src)
        else:  # pragma: no cover - needs CuPy
            import cupyx

            cupyx.scatter_add(out, full, src)
        return out

    def backward(self, gg):
        return Gather.apply(gg, index=self.index, dim=self.dim, out_shape=self._in_shapes[0])


def _gather(x: Tensor, index, dim: int, out_shape=None) -> Tensor:
    shape = tuple(index.shape) if out_shape is None else tuple(out_shape)
    return Gather.apply(x, index=index, dim=dim, out_shape=shape)


# -- raw helpers -------------------------------------------------------------------------
def _argsort_raw(a, axis: int, descending: bool):
    """Stable argsort with NaN as the largest value (int64 indices)."""
    xp = xp_of(a)
    if a.ndim == 0:
        return xp.zeros((), dtype=xp.int64)
    if not descending:
        idx = xp.argsort(a, axis=axis, kind="stable")
    else:  # stable ascending sort of the reversed array, reversed back: ties keep their
        # order, NaNs come first, and no negation (which overflows ints, fails on bools)
        idx = xp.flip(xp.argsort(xp.flip(a, axis), axis=axis, kind="stable"), axis)
        idx = (a.shape[axis] - 1) - idx
    return idx.astype(xp.int64, copy=False)


def _wrap(arr, like: Tensor) -> Tensor:
    return Tensor._wrap(arr, like._device)


def _xp(x: Tensor):
    return x._device.backend.xp


def _on_device(fn):
    """Run fn under its first tensor argument's device context (new arrays land there)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t = next((a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)), None)
        if t is None or t._device.type == "cpu":
            return fn(*args, **kwargs)
        with t._device.backend.context(t._device.index):
            return fn(*args, **kwargs)

    return wrapper


# -- public ops --------------------------------------------------------------------------
@_on_device
def sort(input: Tensor, dim: int = -1, descending: bool = False, stable: bool = False):
    """Sort along `dim`; returns (values, indices). Always stable; values are differentiable.

    >>> import engine
    >>> engine.sort(engine.tensor([3.0, 1.0, 2.0]))
    sort(values=tensor([1., 2., 3.]), indices=tensor([1, 2, 0]))
    """
    d = norm_dim(dim, input.ndim)
    idx = _argsort_raw(input._data, d, descending)
    return SortResult(_gather(input, idx, d), _wrap(idx, input))


@_on_device
def argsort(input: Tensor, dim: int = -1, descending: bool = False,
            stable: bool = False) -> Tensor:
    """Indices that sort `input` along `dim` (int64, not differentiable).

    >>> import engine
    >>> engine.argsort(engine.tensor([3, 1, 2]), descending=True)
    tensor([0, 2, 1])
    """
    d = norm_dim(dim, input.ndim)
    return _wrap(_argsort_raw(input._data, d, descending), input)


def msort(input: Tensor) -> Tensor:
    """Values sorted along dim 0 (differentiable).

    >>> import engine
    >>> engine.msort(engine.tensor([[3, 1], [2, 4]]))
    tensor([[2, 1],
            [3, 4]])
    """
    return sort(input, dim=0).values


@_on_device
def topk(input: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):  # noqa: A002
    """The k largest (or smallest) elements along `dim`: (values, indices).

    Results always come sorted; values are differentiable.

    >>> import engine
    >>> engine.topk(engine.tensor([1.0, 5.0, 3.0]), 2)
    topk(values=tensor([5., 3.]), indices=tensor([1, 2]))
    """
    d = norm_dim(dim, input.ndim)
    n = input._data.shape[d] if input.ndim else 1
    k = int(k)
    if not 0 <= k <= n:
        raise EngineRuntimeError("selected index k out of range")
    idx = _argsort_raw(input._data, d, largest)
    if input.ndim:
        idx = _take_first(idx, d, k)
    return TopkResult(_gather(input, idx, d), _wrap(idx, input))


def _take_first(arr, dim: int, k: int):
    sl = [slice(None)] * arr.ndim
    sl[dim] = slice(0, k)
    return arr[tuple(sl)]


@_on_device
def kthvalue(input: Tensor, k: int, dim: int = -1, keepdim: bool = False):
    """The k-th smallest element (1-based) along `dim`: (values, indices).

    >>> import engine
    >>> engine.kthvalue(engine.tensor([4.0, 1.0, 3.0]), 2)
    kthvalue(values=tensor(3.), indices=tensor(2))
    """
    d = norm_dim(dim, input.ndim)
    n = input._data.shape[d] if input.ndim else 1
    k = int(k)
    if not 1 <= k <= n:
        raise EngineRuntimeError(
            f"kthvalue(): selected number k out of range for dimension {d}")
    idx = _argsort_raw(input._data, d, False)
    if input.ndim == 0:
        return KthvalueResult(_gather(input, idx, 0), _wrap(idx, input))
    sl = [slice(None)] * input.ndim
    sl[d] = slice(k - 1, k)
    idx = idx[tuple(sl)]
    out_shape = idx.shape if keepdim else tuple(s for i, s in enumerate(idx.shape) if i != d)
    values = _gather(input, idx, d, out_shape)
    return KthvalueResult(values, _wrap(idx.reshape(out_shape), input))


@_on_device
def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,  # noqa: A002
           return_counts: bool = False, dim: int | None = None):
    """Unique elements (always sorted), optionally with inverse indices and counts.

    With `dim`, unique slices along that dim. Not differentiable.

    >>> import engine
    >>> engine.unique(engine.tensor([3, 1, 3, 2]), return_counts=True)
    (tensor([1, 2, 3]), tensor([1, 1, 2]))
    """
    xp = _xp(input)
    a = input._data
    if dim is None:
        kw = {"equal_nan": False} if xp is np else {}
        out, inv, counts = xp.unique(a.reshape(-1), return_inverse=True, return_counts=True,
                                     **kw)
        inv = inv.reshape(a.shape)
    else:
        d = norm_dim(dim, a.ndim)
        host = input._device.backend.to_host(a)
        out, inv, counts = np.unique(host, return_inverse=True, return_counts=True, axis=d)
        inv = inv.reshape(-1)
        if xp is not np:  # pragma: no cover - needs CuPy
            out, inv, counts = (xp.asarray(v) for v in (out, inv, counts))
    res = [_wrap(out, input)]
    if return_inverse:
        res.append(_wrap(inv.astype(xp.int64, copy=False), input))
    if return_counts:
        res.append(_wrap(counts.astype(xp.int64, copy=False), input))
    return res[0] if len(res) == 1 else tuple(res)


@_on_device
def nonzero(input: Tensor, *, as_tuple: bool = False):
    """Indices of the non-zero elements: shape (n, ndim) int64, or one tensor per dim.

    >>> import engine
    >>> engine.nonzero(engine.tensor([[0, 1], [2, 0]]))
    tensor([[0, 1],
            [1, 0]])
    """
    xp = _xp(input)
    a = input._data
    if a.ndim == 0:
        n = int(bool(a != 0))
        if as_tuple:
            return (_wrap(xp.zeros(n, dtype=xp.int64), input),)
        return _wrap(xp.zeros((n, 0), dtype=xp.int64), input)
    idx = tuple(i.astype(xp.int64, copy=False) for i in xp.nonzero(a))
    if as_tuple:
        return tuple(_wrap(i, input) for i in idx)
    return _wrap(xp.stack(idx, axis=1), input)


def argwhere(input: Tensor) -> Tensor:
    """Indices of the non-zero elements, shape (n, ndim) (same as `nonzero`).

    >>> import engine
    >>> engine.argwhere(engine.tensor([0.0, 3.0, 4.0]))
    tensor([[1],
            [2]])
    """
    return nonzero(input)


@_on_device
def searchsorted(sorted_sequence: Tensor, input, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, sorter: Tensor | None = None):
    """Insertion indices of `input` into the innermost dim of `sorted_sequence`.

    >>> import engine
    >>> engine.searchsorted(engine.tensor([1, 3, 5]), engine.tensor([3, 6]))
    tensor([1, 3])
    """
    xp = _xp(sorted_sequence)
    if side is not None:
        if side not in ("left", "right") or (right and side == "left"):
            raise EngineRuntimeError(
                "torch.searchsorted(): side and right can't be set to opposites, got side of "
                f"{side} while right was {right}")
        right = side == "right"
    seq = sorted_sequence._data
    if sorter is not None:
        seq = xp.take_along_axis(seq, sorter._data, axis=-1)
    vals = input._data if isinstance(input, Tensor) else xp.asarray(input)
    how = "right" if right else "left"
    if seq.ndim <= 1:
        out = xp.searchsorted(seq.reshape(-1), vals, side=how)
    else:
        if seq.shape[:-1] != vals.shape[:-1]:
            raise EngineRuntimeError(
                "torch.searchsorted(): boundaries tensor should be 1 dimension or the first "
                "N-1 dimensions of boundaries tensor and input value tensor must match, but "
                f"we got boundaries tensor {list(seq.shape)} and input value tensor "
                f"{list(vals.shape)}")
        s2, v2 = seq.reshape(-1, seq.shape[-1]), vals.reshape(-1, vals.shape[-1])
        out = xp.stack([xp.searchsorted(s, v, side=how) for s, v in zip(s2, v2)])
        out = out.reshape(vals.shape)
    dt = xp.int32 if out_int32 else xp.int64
    return _wrap(xp.asarray(out).astype(dt, copy=False), sorted_sequence)


@_on_device
def bincount(input: Tensor, weights: Tensor | None = None, minlength: int = 0) -> Tensor:
    """Counts of each value in a 1-d non-negative integer tensor (weighted sums if given).

    >>> import engine
    >>> engine.bincount(engine.tensor([0, 1, 1, 3]))
    tensor([1, 2, 0, 1])
    """
    xp = _xp(input)
    a = input._data
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and bool((a < 0).any())):
        raise EngineRuntimeError("bincount only supports 1-d non-negative integral inputs.")
    if weights is None:
        out = xp.bincount(a, minlength=int(minlength)).astype(xp.int64, copy=False)
    else:
        w = weights._data
        dt = w.dtype if w.dtype in (np.float32, np.float64) else np.float64
        out = xp.bincount(a, weights=w.astype(np.float64), minlength=int(minlength))
        out = out.astype(dt, copy=False)
    return _wrap(out, input)


METHODS = {
    "sort": sort, "argsort": argsort, "msort": msort, "topk": topk, "kthvalue": kthvalue,
    "unique": unique, "nonzero": nonzero, "argwhere": argwhere, "bincount": bincount,
}
