"""Helpers shared by op modules: operand coercion and dim normalization."""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..errors import EngineIndexError, EngineTypeError
from ..tensor import Tensor


def as_operands(a, b) -> tuple[Tensor, Tensor]:
    """Two tensors of one dtype on one device from a tensor and a tensor/scalar,
    with PyTorch's promotion (`float32_tensor * 2.0` stays float32)."""
    if isinstance(a, Tensor) and isinstance(b, Tensor):
        if a._data.dtype is b._data.dtype:
            return a, b
        dt = dtypes.result_type(a, b)
        return cast(a, dt), cast(b, dt)
    t_first = isinstance(a, Tensor)
    t, other = (a, b) if t_first else (b, a)
    if not isinstance(other, numbers.Number):
        other = _coerce(other, t)
        if isinstance(other, Tensor):
            return as_operands(t, other) if t_first else as_operands(other, t)
    dt = dtypes.result_type(t, other)
    t = cast(t, dt)
    xp = t._device.backend.xp
    if isinstance(other, int) and dt.np.kind in "iu":
        # out-of-range Python ints wrap around like PyTorch's (uint8 1 + -3 -> 254)
        other = np.array(other).astype(dt.np)
    if t._device.type == "cpu":
        arr = xp.asarray(other, dtype=dt.np)
    else:
        with t._device.backend.context(t._device.index):
            arr = xp.asarray(other, dtype=dt.np)
    c = Tensor._wrap(arr, t._device)
    return (t, c) if t_first else (c, t)


def _coerce(other, like: Tensor):
    if hasattr(other, "dtype") and hasattr(other, "shape"):  # a NumPy/CuPy array or scalar
        from .creation import as_tensor

        return as_tensor(other, device=like.device)
    raise EngineTypeError(
        f"unsupported operand type(s): 'Tensor' and '{type(other).__name__}'"
    )


def cast(t: Tensor, dt: dtypes.dtype) -> Tensor:
    if t._data.dtype is dt.np or t._data.dtype == dt.np:
        return t
    from .conversion import Cast

    return Cast.apply(t, dtype=dt)


def to_tensor_like(value, like: Tensor) -> Tensor:
    """`value` (tensor or scalar) as a tensor on like's device and dtype."""
    if isinstance(value, Tensor):
        return value
    return as_operands(like, value)[1]


def norm_dim(dim: int, ndim: int) -> int:
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise EngineIndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def norm_dims(dim, ndim: int) -> tuple[int, ...] | None:
    """None for "all dims", else a sorted tuple of non-negative dims."""
    if dim is None or (isinstance(dim, tuple | list) and len(dim) == 0):
        return None
    if isinstance(dim, int):
        dims = (norm_dim(dim, ndim),)
    else:
        dims = tuple(sorted(norm_dim(d, ndim) for d in dim))
        for a, b in zip(dims, dims[1:]):
            if a == b:
                from ..errors import EngineRuntimeError

                raise EngineRuntimeError(f"dim {a} appears multiple times in the list of dims")
    return dims if ndim else None
