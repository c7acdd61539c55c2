"""Indexing: `x[idx]` and `x[idx] = value`, with PyTorch's semantics.

An index is parsed into two keys applied one after the other: a basic key (ints, slices,
None; always a view) and an advanced key (integer arrays, from index tensors, lists and
boolean masks; always a copy). Splitting at the ints reproduces PyTorch, which selects
the int dims first: `x[0, :, [0, 1]]` has shape (3, 2) for x of shape (2, 3, 4), where
NumPy gives (2, 3). The backward scatters the gradient into zeros, summing repeated
indices (`add.at`). gather/scatter/index_select/masked_* live in `.gather`.
"""

from __future__ import annotations

import contextlib
import numbers
import operator

import numpy as np

from ..autograd.grad_mode import _state
from ..autograd.node import Op, device_mismatch
from ..backend import transfer, xp_of
from ..errors import EngineIndexError, EngineRuntimeError, EngineValueError
from ..tensor import Tensor

__all__: list[str] = []

_FULL = slice(None)
_LEAF_ERROR = "a leaf Variable that requires grad is being used in an in-place operation."
_OVERLAP_ERROR = (
    "unsupported operation: more than one element of the written-to tensor refers to a "
    "single memory location. Please clone() the tensor before performing the operation."
)


def device_ctx(dev):
    """The context that makes `dev` current while raw arrays are created."""
    return contextlib.nullcontext() if dev.type == "cpu" else dev.backend.context(dev.index)


def add_at(xp, out, key, values) -> None:
    """out[key] += values, accumulating repeated indices (NumPy `add.at`, CuPy scatter)."""
    if xp is np:
        np.add.at(out, key, values)
        return
    at = getattr(xp.add, "at", None)
    if at is not None:
        at(out, key, values)
    else:  # older CuPy
        import cupyx

        cupyx.scatter_add(out, key, values)


def _apply(arr, keys):
    basic, adv = keys
    if basic is not None:
        arr = arr[basic]
    return arr[adv] if adv is not None else arr


class Index(Op):
    """x[basic][adv] (a copy when there is an advanced key)."""

    def forward(self, x, keys):
        self.keys = keys
        return _apply(x, keys)

    def backward(self, g):
        return IndexBackward.apply(g, keys=self.keys, shape=self._in_shapes[0])


class View(Index):
    """x[basic]: ints, slices and None only; the output shares x's memory."""

    is_view = True


class IndexBackward(Op):
    """Zeros of `shape` with g scattered into [keys] (repeated indices accumulate)."""

    def forward(self, g, keys, shape):
        self.keys = keys
        xp = xp_of(g)
        out = xp.zeros(shape, dtype=g.dtype)
        basic, adv = keys
        sub = out[basic] if basic is not None else out
        if adv is None:
            sub[...] = g
        else:
            add_at(xp, sub, adv, g)
        return out

    def backward(self, g):
        return index_with(g, self.keys)


class IndexPut(Op):
    """x with x[keys] = v; written into x's own memory when `inplace`."""

    def forward(self, x, v, keys, inplace):
        self.keys = keys
        out = x if inplace else x.copy()
        write(out, keys, v)
        return out

    def backward(self, g):
        gx = gv = None
        if self.needs_grad(0):
            gx = IndexPut.apply(g, g.new_zeros(()), keys=self.keys, inplace=False)
        if self.needs_grad(1):
            gv = index_with(g, self.keys)
            extra = len(self._in_shapes[1]) - gv.ndim
            if extra > 0:  # the value had leading size-1 dims
                gv = gv.reshape((1,) * extra + tuple(gv.shape))
        return gx, gv


def index_with(x: Tensor, keys) -> Tensor:
    """x[keys] for parsed keys, as a view when there is no advanced part."""
    return (View if keys[1] is None else Index).apply(x, keys=keys)


def write(arr, keys, value) -> None:
    """arr[keys] = value on raw arrays, with PyTorch's errors."""
    basic, adv = keys
    sub = arr[basic] if basic is not None else arr
    if any(st == 0 and n > 1 for st, n in zip(sub.strides, sub.shape)):
        raise EngineRuntimeError(_OVERLAP_ERROR)
    try:
        if adv is None:
            sub[...] = value
        else:
            sub[adv] = value
    except ValueError as e:
        if "read-only" in str(e):
            raise EngineRuntimeError(_OVERLAP_ERROR) from None
        target = sub[adv].shape if adv is not None else sub.shape
        raise EngineRuntimeError(
            f"shape mismatch: value tensor of shape {list(np.shape(value))} cannot be "
            f"broadcast to indexing result of shape {list(target)}"
        ) from None


# -- parsing -----------------------------------------------------------------
def _bad_index(item) -> EngineIndexError:
    return EngineIndexError(
        "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables are "
        f"valid indices (got {type(item).__name__})"
    )


def _array_item(arr, dev, src_dev):
    """('mask' | 'index' | 'int' | 'bool', value) for an index array."""
    kind = arr.dtype.kind
    if kind == "b" or arr.dtype == np.uint8:
        if arr.ndim == 0:
            return "bool", bool(src_dev.backend.to_host(arr))
        return "mask", transfer(arr.astype(bool, copy=False), src_dev, dev)
    if kind not in "iu":
        raise EngineIndexError("tensors used as indices must be long, int, byte or bool tensors")
    if arr.ndim == 0:
        return "int", int(src_dev.backend.to_host(arr))
    return "index", transfer(arr, src_dev, dev)


def _classify(item, dev):
    from ..backend import CPU

    if item is None:
        return "none", None
    if item is Ellipsis:
        return "ell", None
    if isinstance(item, bool | np.bool_):
        return "bool", bool(item)
    if isinstance(item, numbers.Integral):
        return "int", int(item)
    if isinstance(item, slice):
        start, stop, step = (None if s is None else operator.index(s)
                             for s in (item.start, item.stop, item.step))
        if step is not None and step <= 0:
            raise EngineValueError("step must be greater than zero")
        return "slice", slice(start, stop, step)
    if isinstance(item, Tensor):
        return _array_item(item._data, dev, item._device)
    if isinstance(item, np.ndarray):
        return _array_item(item, dev, CPU)
    if isinstance(item, list | tuple):
        if len(item) == 0:
            return "index", transfer(np.zeros(0, dtype=np.int64), CPU, dev)
        from .creation import tensor

        t = tensor(list(item))
        return _array_item(t._data, dev, t._device)
    raise _bad_index(item)


def _checked(arr, size: int, dim: int, xp, negative: bool = True):
    """An index array bounds-checked against `size`, negatives made positive."""
    if arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    if arr.size == 0:
        return arr
    lo, hi = int(arr.min()), int(arr.max())
    low = -size if negative else 0
    if hi >= size or lo < low:
        raise EngineIndexError(
            f"index {hi if hi >= size else lo} is out of bounds for dimension {dim} with "
            f"size {size}"
        )
    return xp.where(arr < 0, arr + size, arr) if lo < 0 else arr


def parse_index(x: Tensor, index) -> tuple:
    """(basic key or None, advanced key or None) for `x[index]`."""
    dev = x._device
    with device_ctx(dev):
        return _parse(x._data.shape, index, dev)


def _parse(shape: tuple, index, dev):
    xp = dev.backend.xp
    ndim = len(shape)
    items = [_classify(it, dev) for it in (index if isinstance(index, tuple) else (index,))]
    consumed = sum(1 if k in ("int", "slice", "index") else v.ndim if k == "mask" else 0
                   for k, v in items)
    if sum(k == "ell" for k, _ in items) > 1:
        raise EngineIndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        if ndim == 0:
            raise EngineIndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        raise EngineIndexError(f"too many indices for tensor of dimension {ndim}")
    basic: list = []
    adv: dict = {}
    pos = od = 0  # the input dim consumed next, the dim of the basic result
    for kind, val in items:
        if kind == "none":
            basic.append(None)
            od += 1
        elif kind == "ell":
            n = ndim - consumed
            basic.extend([_FULL] * n)
            pos, od = pos + n, od + n
        elif kind == "bool":  # PyTorch: a new dim indexed by [0] (True) or [] (False)
            basic.append(None)
            adv[od] = xp.zeros(1 if val else 0, dtype=np.int64)
            od += 1
        elif kind == "int":
            size = shape[pos]
            if not -size <= val < size:
                raise EngineIndexError(
                    f"index {val} is out of bounds for dimension {pos} with size {size}"
                )
            basic.append(val)
            pos += 1
        elif kind == "slice":
            basic.append(val)
            pos, od = pos + 1, od + 1
        elif kind == "index":
            adv[od] = _checked(val, shape[pos], pos, xp)
            basic.append(_FULL)
            pos, od = pos + 1, od + 1
        else:  # boolean mask over val.ndim dims
            for j, s in enumerate(val.shape):
                if s != shape[pos + j]:
                    raise EngineIndexError(
                        f"The shape of the mask {list(val.shape)} at index {j} does not match "
                        f"the shape of the indexed tensor {list(shape)} at index {pos + j}"
                    )
            for nz in xp.nonzero(val):
                adv[od] = nz
                basic.append(_FULL)
                pos, od = pos + 1, od + 1
    adv_key = tuple(adv.get(i, _FULL) for i in range(max(adv) + 1)) if adv else None
    if adv_key is not None and all(isinstance(b, slice) and b == _FULL for b in basic):
        return None, adv_key
    return tuple(basic) + (Ellipsis,), adv_key  # the Ellipsis keeps 0-d results arrays


# -- x[idx], x[idx] = v ------------------------------------------------------------
def getitem(x: Tensor, index) -> Tensor:
    """x[index]: ints, slices, None, ..., index tensors/lists and boolean masks.

    >>> import engine
    >>> x = engine.arange(6).reshape(2, 3)
    >>> x[1], x[:, [0, 0]], x[x > 3]
    (tensor([3, 4, 5]), tensor([[0, 0],
            [3, 3]]), tensor([4, 5]))
    """
    return index_with(x, parse_index(x, index))


def _value_tensor(x: Tensor, value) -> Tensor:
    from ._util import cast

    if isinstance(value, Tensor):
        if value._device is not x._device:
            if value._data.ndim != 0 or value._device.type != "cpu":
                raise device_mismatch(x._device, value._device)
            value = value.to(x._device)
        return cast(value, x.dtype)
    if isinstance(value, numbers.Number):
        with device_ctx(x._device):
            return Tensor._wrap(x._device.backend.xp.asarray(value, dtype=x._data.dtype),
                                x._device)
    from .creation import tensor

    return tensor(value, dtype=x.dtype, device=x._device)


def _views_leaf(x: Tensor) -> bool:
    """Whether x is a view (through view ops) of a leaf that requires grad."""
    node = x.grad_fn
    while node is not None and getattr(node, "is_view", False):
        edge = node.next_functions[0]
        if edge is None:
            return False
        node, nr = edge
        if nr < 0:
            return node._rg and node._vc is x._vc
    return False


def setitem(x: Tensor, index, value) -> None:
    """x[index] = value (a tensor or number), in place; differentiable like PyTorch.

    >>> import engine
    >>> x = engine.zeros(2, 3)
    >>> x[0, 1:] = 5.0; x
    tensor([[0., 5., 5.],
            [0., 0., 0.]])
    """
    keys = parse_index(x, index)
    v = _value_tensor(x, value)
    if _state.enabled and (x._rg or v._rg):
        if x._rg and x.grad_fn is None:
            raise EngineRuntimeError(_LEAF_ERROR)
        if x._rg and _views_leaf(x):
            raise EngineRuntimeError("a view of " + _LEAF_ERROR)
        r = IndexPut.apply(x, v, keys=keys, inplace=True)
        x.grad_fn, x._output_nr, x._rg = r.grad_fn, r._output_nr, r._rg
    else:
        with device_ctx(x._device):
            write(x._data, keys, v._data)
    x._vc.value += 1


METHODS: dict = {"__getitem__": getitem, "__setitem__": setitem}

# the gather/scatter family, re-exported here (it imports the ops above)
from . import gather as _gather  # noqa: E402

globals().update({name: getattr(_gather, name) for name in _gather.__all__})
__all__ += _gather.__all__
METHODS.update(_gather.METHODS)
