"""Gather/scatter: gather, scatter, scatter_add, index_select, index_add, masked_fill,
masked_select, take_along_dim (re-exported by `engine.ops.indexing`).

Each is advanced indexing with a key built from the index tensor (an open grid over the
other dims), so they share `Index`/`IndexBackward`/`IndexPut` and their gradients.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..autograd.node import device_mismatch
from ..errors import EngineIndexError, EngineRuntimeError
from ..tensor import Tensor
from ._util import norm_dim
from .indexing import (
    Index,
    IndexBackward,
    IndexPut,
    _checked,
    device_ctx,
    index_with,
)

__all__ = ["gather", "scatter", "scatter_add", "index_select", "index_add", "masked_fill",
           "masked_select", "take_along_dim"]

_FULL = slice(None)


def _index_array(input: Tensor, index: Tensor, name: str, allowed=("int64", "int32")):
    if not isinstance(index, Tensor):
        raise EngineRuntimeError(f"{name}(): Expected index to be a Tensor")
    if index.dtype.name not in allowed:
        raise EngineRuntimeError(f"{name}(): Expected dtype int32 or int64 for index")
    if index._device is not input._device:
        raise device_mismatch(input._device, index._device)
    return index._data


def _grid_key(input: Tensor, dim: int, index: Tensor, name: str) -> tuple:
    """Advanced key selecting input[..., index[i, j, k], ...] at every index position."""
    arr = _index_array(input, index, name)
    shape, ishape = input._data.shape, arr.shape
    if arr.ndim != len(shape):
        raise EngineRuntimeError("Index tensor must have the same number of dimensions as "
                                 "input tensor")
    for k, (n, s) in enumerate(zip(ishape, shape)):
        if k != dim and n > s:
            raise EngineRuntimeError(
                f"Size does not match at dimension {k} expected index {list(ishape)} to be no "
                f"larger than self {list(shape)} apart from dimension {dim}"
            )
    xp = input._device.backend.xp
    with device_ctx(input._device):
        try:
            arr = _checked(arr, shape[dim], dim, xp, negative=False)
        except EngineIndexError as e:
            raise EngineRuntimeError(str(e)) from None
        nd = arr.ndim
        return tuple(arr if k == dim else
                     xp.arange(n).reshape([n if j == k else 1 for j in range(nd)])
                     for k, n in enumerate(ishape))


def _lift(input: Tensor, index: Tensor):
    """0-d input and index as 1-d (gather/scatter accept them)."""
    return input.reshape(1) if input.ndim == 0 else input, \
        index.reshape(1) if index.ndim == 0 else index


def gather(input: Tensor, dim: int, index: Tensor, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = input[index[i][j]][j] (dim=0): values picked along `dim`.

    >>> import engine
    >>> engine.tensor([[1, 2], [3, 4]]).gather(1, engine.tensor([[0, 0], [1, 0]]))
    tensor([[1, 1],
            [4, 3]])
    """
    scalar = input.ndim == 0
    x, idx = _lift(input, index)
    d = norm_dim(dim, x.ndim)
    out = Index.apply(x, keys=(None, _grid_key(x, d, idx, "gather")))
    return out.reshape(()) if scalar else out


def _prefix(src: Tensor, shape: tuple, index_shape, dim: int, self_shape) -> Tensor:
    """src[:n0, :n1, ...] for an index of `shape` (scatter reads only that corner)."""
    if src.ndim != len(shape) or any(n > s for n, s in zip(shape, src.shape)):
        raise EngineRuntimeError(
            f"Expected index {list(index_shape)} to be no larger than self {list(self_shape)} "
            f"apart from dimension {dim} and to be no larger size than src {list(src.shape)}"
        )
    if tuple(src.shape) == tuple(shape):
        return src
    return index_with(src, (tuple(slice(0, n) for n in shape) + (Ellipsis,), None))


def _scatter_parts(input, dim, index, src, name):
    x, idx = _lift(input, index)
    d = norm_dim(dim, x.ndim)
    key = _grid_key(x, d, idx, name)
    if isinstance(src, Tensor):
        if src.dtype is not x.dtype:
            raise EngineRuntimeError(f"{name}(): Expected self.dtype to be equal to src.dtype")
        if src._device is not x._device:
            raise device_mismatch(x._device, src._device)
        src = _prefix(src.reshape(1) if src.ndim == 0 else src, tuple(idx.shape), list(idx.shape),
                      d, list(x.shape))
    return x, d, key, src


def scatter(input: Tensor, dim: int, index: Tensor, src=None, *, value=None,
            reduce: str | None = None) -> Tensor:
    """Out-of-place scatter: a copy of input with out[index[i][j]][j] = src[i][j] (dim=0);
    `src` may be a tensor or a number (or pass `value=`).

    >>> import engine
    >>> engine.zeros(2, 2).scatter(0, engine.tensor([[1, 0]]), engine.tensor([[5.0, 6.0]]))
    tensor([[0., 6.],
            [5., 0.]])
    """
    src = value if src is None else src
    if reduce is not None:
        if reduce == "add":
            return scatter_add(input, dim, index, src)
        raise EngineRuntimeError(f"scatter(): reduce='{reduce}' is not supported (use 'add')")
    x, _, key, src = _scatter_parts(input, dim, index, src, "scatter")
    if not isinstance(src, Tensor):
        with device_ctx(x._device):
            src = Tensor._wrap(x._device.backend.xp.asarray(src, dtype=x._data.dtype),
                               x._device)
    out = IndexPut.apply(x, src, keys=(None, key), inplace=False)
    return out.reshape(()) if input.ndim == 0 else out


def scatter_add(input: Tensor, dim: int, index: Tensor, src: Tensor) -> Tensor:
    """A copy of input with src added at out[index[i][j]][j] (dim=0), summing repeats.

    >>> import engine
    >>> engine.zeros(3).scatter_add(0, engine.tensor([0, 0, 2]), engine.ones(3))
    tensor([2., 0., 1.])
    """
    x, _, key, src = _scatter_parts(input, dim, index, src, "scatter_add")
    out = x + IndexBackward.apply(src, keys=(None, key), shape=tuple(x.shape))
    return out.reshape(()) if input.ndim == 0 else out


def _vector_key(input: Tensor, dim: int, index: Tensor, name: str) -> tuple:
    arr = _index_array(input, index, name)
    if arr.ndim > 1:
        raise EngineIndexError(f"{name}(): Index is supposed to be a vector")
    d = norm_dim(dim, input.ndim)
    size = input._data.shape[d] if input.ndim else 1
    xp = input._device.backend.xp
    with device_ctx(input._device):
        try:
            arr = _checked(arr.reshape(-1), size, d, xp)
        except EngineIndexError:
            raise EngineIndexError("index out of range in self") from None
    return (None, (_FULL,) * d + (arr,))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:
    """The entries of input at positions `index` (a vector) along `dim`.

    >>> import engine
    >>> engine.arange(6).reshape(2, 3).index_select(1, engine.tensor([2, 0]))
    tensor([[2, 0],
            [5, 3]])
    """
    scalar = input.ndim == 0
    x = input.reshape(1) if scalar else input
    out = Index.apply(x, keys=_vector_key(x, dim, index, "index_select"))
    return out.reshape(()) if scalar and out.numel() == 1 else out


def index_add(input: Tensor, dim: int, index: Tensor, source: Tensor, *, alpha=1) -> Tensor:
    """A copy of input with alpha * source added at positions `index` along `dim`.

    >>> import engine
    >>> engine.zeros(3, 2).index_add(0, engine.tensor([0, 0]), engine.ones(2, 2))
    tensor([[2., 2.],
            [0., 0.],
            [0., 0.]])
    """
    keys = _vector_key(input, dim, index, "index_add")
    d = norm_dim(dim, input.ndim)
    want = list(input.shape)
    if want:
        want[d] = int(index.numel())
    if list(source.shape) != want:
        raise EngineRuntimeError(
            "source tensor shape must match self tensor shape, excluding the specified "
            f"dimension. Got self.shape = {list(input.shape)} source.shape = "
            f"{list(source.shape)}"
        )
    if alpha != 1:
        source = source * alpha
    return input + IndexBackward.apply(source, keys=keys, shape=tuple(input.shape))


def masked_fill(input: Tensor, mask: Tensor, value) -> Tensor:
    """input with `value` (a number or 0-d tensor) where mask is True (mask broadcasts).

    >>> import engine
    >>> x = engine.tensor([1.0, -2.0, 3.0])
    >>> x.masked_fill(x < 0, 0.0)
    tensor([1., 0., 3.])
    """
    from ._util import cast
    from .binary import Where

    if mask.dtype is not dtypes.bool_:
        raise EngineRuntimeError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype {_tname(mask)}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise EngineRuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
        if value._device is not input._device:
            value = value.to(input._device)
        v = cast(value, input.dtype)
    elif isinstance(value, numbers.Number):
        with device_ctx(input._device):
            v = Tensor._wrap(input._device.backend.xp.asarray(value, dtype=input._data.dtype),
                             input._device)
    else:
        raise EngineRuntimeError(f"masked_fill(): value must be a number or a 0-d tensor, got "
                                 f"{type(value).__name__}")
    return Where.apply(mask, v, input)


def _tname(t: Tensor) -> str:
    return {"float32": "float", "float64": "double", "float16": "half", "int64": "long",
            "int32": "int", "int16": "short"}.get(t.dtype.name, t.dtype.name)


def masked_select(input: Tensor, mask: Tensor) -> Tensor:
    """The entries of input where mask (broadcast with input) is True, as a 1-d tensor.

    >>> import engine
    >>> x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> x.masked_select(x > 1.5)
    tensor([2., 3., 4.])
    """
    if mask.dtype is not dtypes.bool_:
        raise EngineRuntimeError("masked_select: expected BoolTensor for mask")
    shape = tuple(np.broadcast_shapes(tuple(input.shape), tuple(mask.shape)))
    return input.expand(*shape)[mask.expand(*shape)]


def take_along_dim(input: Tensor, indices: Tensor, dim: int | None = None) -> Tensor:
    """Values of input at `indices` along `dim` (indices broadcast with input); with
    dim=None, over the flattened input.

    >>> import engine
    >>> x = engine.tensor([[10.0, 30.0, 20.0]])
    >>> engine.take_along_dim(x, engine.tensor([[0, 2, 1]]), dim=1)
    tensor([[10., 20., 30.]])
    """
    if dim is None:
        return gather(input.reshape(-1), 0, indices.reshape(-1))
    if input.ndim != indices.ndim:
        raise EngineRuntimeError(
            "torch.take_along_dim(): input and indices should have the same number of "
            f"dimensions, but got {input.ndim} dimensions for input, and {indices.ndim} "
            "dimensions for indices"
        )
    d = norm_dim(dim, input.ndim)
    a, b = list(input.shape), list(indices.shape)
    a[d] = b[d] = 1
    shape = list(np.broadcast_shapes(tuple(a), tuple(b)))
    xs, ids = list(shape), list(shape)
    if shape:
        xs[d], ids[d] = input.shape[d], indices.shape[d]
    return gather(input.expand(*xs), d, indices.expand(*ids))


METHODS = {name: globals()[name] for name in __all__}
