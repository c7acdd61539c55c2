"""`default_collate` and `default_convert`, with PyTorch's rules: tensors are stacked,
NumPy arrays and scalars become tensors of their dtype, Python floats float64 tensors,
ints int64 (bools bool), strings stay lists, and mappings / namedtuples / sequences are
collated field by field (a batch of tuples gives a *list* of batched fields, as PyTorch).
"""

from __future__ import annotations

import collections.abc
import copy
import re
from collections.abc import Callable

import numpy as np

from ... import dtypes
from ...autograd.grad_mode import is_grad_enabled
from ...ops.creation import as_tensor, tensor
from ...ops.join import stack
from ...tensor import Tensor

__all__ = ["collate", "default_collate", "default_convert", "default_collate_fn_map"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists;"
        " found {}")
_STR_OBJ = re.compile(r"[SaUO]")


def _collate_tensor(batch, *, collate_fn_map=None) -> Tensor:
    first = batch[0]
    arrays = [t._data for t in batch]
    if (not is_grad_enabled() or not any(t._rg for t in batch)) and \
            all(t._device is first._device and a.dtype == arrays[0].dtype
                and a.shape == arrays[0].shape for t, a in zip(batch, arrays)):
        xp = first._device.backend.xp
        if first._device.type == "cpu":
            return Tensor._wrap(xp.stack(arrays), first._device)
        with first._device.backend.context(first._device.index):
            return Tensor._wrap(xp.stack(arrays), first._device)
    return stack(list(batch), 0)  # autograd, dtype promotion and PyTorch's errors


def _collate_ndarray(batch, *, collate_fn_map=None):
    if _STR_OBJ.search(batch[0].dtype.str) is not None:
        raise TypeError(_ERR.format(batch[0].dtype))
    return collate([as_tensor(np.asarray(b)) for b in batch], collate_fn_map=collate_fn_map)


def _collate_np_scalar(batch, *, collate_fn_map=None) -> Tensor:
    return as_tensor(np.asarray(batch))


def _collate_float(batch, *, collate_fn_map=None) -> Tensor:
    return tensor(batch, dtype=dtypes.float64)


def _collate_int(batch, *, collate_fn_map=None) -> Tensor:
    return tensor(batch)


def _collate_str(batch, *, collate_fn_map=None):
    return batch


default_collate_fn_map: dict[type | tuple, Callable] = {
    Tensor: _collate_tensor,
    np.ndarray: _collate_ndarray,
    (np.bool_, np.number, np.object_): _collate_np_scalar,
    float: _collate_float,
    int: _collate_int,
    str: _collate_str,
    bytes: _collate_str,
}
"""How `default_collate` batches each element type (extend a copy for `collate`)."""


def collate(batch, *, collate_fn_map: dict | None = None):
    """Collate a batch (a list of samples) by the type of its first element, using
    `collate_fn_map` (`{type: fn(batch, *, collate_fn_map)}`) for the leaves and
    recursing into mappings, namedtuples and sequences.

    >>> import engine
    >>> from engine.utils.data.collate import collate, default_collate_fn_map
    >>> m = {**default_collate_fn_map, str: lambda b, *, collate_fn_map=None: "".join(b)}
    >>> collate([("a", 1), ("b", 2)], collate_fn_map=m)
    ['ab', tensor([1, 2])]
    """
    elem = batch[0]
    elem_type = type(elem)
    if collate_fn_map is not None:
        if elem_type in collate_fn_map:
            return collate_fn_map[elem_type](batch, collate_fn_map=collate_fn_map)
        for kind, fn in collate_fn_map.items():
            if isinstance(elem, kind):
                return fn(batch, collate_fn_map=collate_fn_map)
    if isinstance(elem, collections.abc.Mapping):
        fields = {k: collate([d[k] for d in batch], collate_fn_map=collate_fn_map) for k in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                out = copy.copy(elem)
                out.update(fields)
                return out
            return elem_type(fields)
        except TypeError:  # the mapping type cannot be rebuilt from a dict
            return fields
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return elem_type(*(collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [collate(s, collate_fn_map=collate_fn_map) for s in zip(*batch)]
        if isinstance(elem, tuple):
            return fields  # PyTorch returns a list for tuples (backwards compatibility)
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                out = copy.copy(elem)
                for i, f in enumerate(fields):
                    out[i] = f
                return out
            return elem_type(fields)
        except TypeError:
            return fields
    raise TypeError(_ERR.format(elem_type))


def default_collate(batch):
    """Merge a list of samples into a batch, as `torch.utils.data.default_collate`.

    >>> import engine
    >>> from engine.utils.data import default_collate
    >>> default_collate([(engine.tensor([1.0]), 0), (engine.tensor([2.0]), 1)])
    [tensor([[1.],
            [2.]]), tensor([0, 1])]
    >>> default_collate([{"x": 0.5}, {"x": 1.5}])
    {'x': tensor([0.5000, 1.5000], dtype=engine.float64)}
    """
    return collate(batch, collate_fn_map=default_collate_fn_map)


def default_convert(data):
    """Turn NumPy arrays and scalars into tensors, recursively, leaving everything else
    as is (the DataLoader's collate when `batch_size=None`).

    >>> import numpy as np
    >>> from engine.utils.data import default_convert
    >>> default_convert({"a": np.arange(2), "b": "text"})
    {'a': tensor([0, 1]), 'b': 'text'}
    """
    if isinstance(data, Tensor):
        return data
    if isinstance(data, np.ndarray | np.bool_ | np.number):
        if isinstance(data, np.ndarray) and _STR_OBJ.search(data.dtype.str) is not None:
            return data
        return as_tensor(np.asarray(data))
    if isinstance(data, collections.abc.Mapping):
        fields = {k: default_convert(v) for k, v in data.items()}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                out = copy.copy(data)
                out.update(fields)
                return out
            return type(data)(fields)
        except TypeError:
            return fields
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]  # as PyTorch
    if isinstance(data, collections.abc.Sequence) and not isinstance(data, str | bytes):
        try:
            if isinstance(data, collections.abc.MutableSequence):
                out = copy.copy(data)
                for i, d in enumerate(data):
                    out[i] = default_convert(d)
                return out
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
