"""Validate uploaded samples and turn them into compactly stored arrays.

Rules for every upload format: at least one sample; every sample (and every target)
has the same shape, at most `max_dims - 1` dimensions, no empty axes; finite numbers
only (no NaN/Infinity, nothing beyond float32 range); as many targets as inputs; at
most `max_values` numbers in all. Inputs are stored as float32; targets as int64 when
they are all integers (class indices: `num_classes` = max + 1), otherwise float32.

Storage: the inputs `.npy` followed by the targets `.npy` (`allow_pickle=False`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import Loc, PayloadTooLarge, ValidationFailed

_NUMBER_TYPES = frozenset({int, float})
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MAX_CLASSES = 2**31 - 1


@dataclass(frozen=True)
class ArrayLimits:
    max_values: int
    max_dims: int


@dataclass(frozen=True)
class DatasetArrays:
    inputs: np.ndarray  # float32, (rows, *input_shape)
    targets: np.ndarray  # int64 or float32, (rows, *target_shape)
    num_classes: int | None

    @property
    def rows(self) -> int:
        return int(self.inputs.shape[0])


def from_json(inputs: list[Any], targets: list[Any], limits: ArrayLimits,
              loc: Loc = ("body",)) -> DatasetArrays:
    """Validate JSON samples (already parsed) and convert them to arrays."""
    in_loc, tg_loc = (*loc, "inputs"), (*loc, "targets")
    in_shape = _probe_shape(inputs, in_loc, limits.max_dims)
    tg_shape = _probe_shape(targets, tg_loc, limits.max_dims)
    _check_count(math.prod(in_shape) + math.prod(tg_shape), limits, loc)
    _check_lengths(in_shape[0], tg_shape[0], tg_loc)
    _walk(inputs, in_shape, 0, in_loc, set())
    target_types: set[type] = set()
    _walk(targets, tg_shape, 0, tg_loc, target_types)
    x = _convert(inputs, in_loc, integer=False)
    y = _convert(targets, tg_loc, integer=target_types <= {int})
    return finalize(x, y, limits, in_loc, tg_loc)


def finalize(inputs: np.ndarray, targets: np.ndarray, limits: ArrayLimits,
             inputs_loc: Loc, targets_loc: Loc) -> DatasetArrays:
    """Check shapes, counts, dtypes and finiteness; cast to the stored dtypes."""
    for arr, loc in ((inputs, inputs_loc), (targets, targets_loc)):
        if arr.ndim < 1:
            raise ValidationFailed(loc, "must be an array with one entry per sample",
                                   type="not_an_array")
        if arr.ndim > limits.max_dims:
            raise ValidationFailed(loc, f"has {arr.ndim} dimensions; at most "
                                   f"{limits.max_dims} are allowed", type="too_many_dims")
        if 0 in arr.shape:
            raise ValidationFailed(loc, f"is empty (shape {list(arr.shape)})", type="empty")
    _check_count(inputs.size + targets.size, limits, inputs_loc[:-1])
    _check_lengths(len(inputs), len(targets), targets_loc)
    x = _as_float32(inputs, inputs_loc)
    if targets.dtype.kind in "iu":
        if targets.dtype.kind == "u" and int(targets.max()) > _INT64_MAX:
            idx = np.unravel_index(int(np.argmax(targets)), targets.shape)
            raise ValidationFailed((*targets_loc, *map(int, idx)), "integer out of int64 range",
                                   type="out_of_range")
        y = np.ascontiguousarray(targets, dtype=np.int64)
    else:
        y = _as_float32(targets, targets_loc)
    num_classes = None
    if y.dtype == np.int64 and int(y.min()) >= 0 and int(y.max()) < _MAX_CLASSES:
        num_classes = int(y.max()) + 1
    return DatasetArrays(inputs=x, targets=y, num_classes=num_classes)


def encode(arrays: DatasetArrays) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arrays.inputs, allow_pickle=False)
    np.save(buf, arrays.targets, allow_pickle=False)
    return buf.getvalue()


def decode(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of `encode`: (inputs, targets)."""
    buf = io.BytesIO(data)
    inputs = np.lib.format.read_array(buf, allow_pickle=False)
    targets = np.lib.format.read_array(buf, allow_pickle=False)
    return inputs, targets


def _check_count(count: int, limits: ArrayLimits, loc: Loc) -> None:
    if count > limits.max_values:
        raise PayloadTooLarge(
            f"the dataset has {count} values; the limit is {limits.max_values}",
            code="too_many_values",
            errors=[{"loc": list(loc), "msg": f"more than {limits.max_values} values",
                     "type": "too_many_values"}],
        )


def _check_lengths(n_inputs: int, n_targets: int, targets_loc: Loc) -> None:
    if n_inputs != n_targets:
        raise ValidationFailed(targets_loc, f"has {n_targets} entries but inputs has "
                               f"{n_inputs}: give one target per sample", type="length_mismatch")


def _probe_shape(value: list[Any], loc: Loc, max_dims: int) -> tuple[int, ...]:
    """The shape implied by the first element at every depth."""
    shape: list[int] = []
    node: Any = value
    while type(node) is list:
        if len(shape) >= max_dims:
            raise ValidationFailed((*loc, *[0] * len(shape)), f"nested too deeply: at most "
                                   f"{max_dims} dimensions", type="too_many_dims")
        if not node:
            raise ValidationFailed((*loc, *[0] * len(shape)), "empty arrays are not allowed",
                                   type="empty")
        shape.append(len(node))
        node = node[0]
    return tuple(shape)


def _walk(node: Any, shape: tuple[int, ...], depth: int, loc: Loc, seen: set[type]) -> None:
    """Check that `node` is a rectangular array of numbers of `shape`, recording leaf types."""
    expected = shape[depth]
    if type(node) is not list:
        raise ValidationFailed(loc, f"expected an array of {expected} items (like the first "
                               f"one at this depth), got {_describe(node)}", type="not_rectangular")
    if len(node) != expected:
        raise ValidationFailed(loc, f"expected {expected} items (like the first one at this "
                               f"depth), got {len(node)}", type="not_rectangular")
    if depth + 1 == len(shape):
        types = set(map(type, node))
        if not types <= _NUMBER_TYPES:
            for i, item in enumerate(node):
                if type(item) not in _NUMBER_TYPES:
                    raise ValidationFailed((*loc, i), f"expected a number, got {_describe(item)}",
                                           type="not_a_number")
        seen |= types
        return
    for i, child in enumerate(node):
        _walk(child, shape, depth + 1, (*loc, i), seen)


def _describe(item: Any) -> str:
    if isinstance(item, bool):
        return "a boolean (use 0 or 1)"
    if item is None:
        return "null"
    if isinstance(item, str):
        return "a string"
    if isinstance(item, list):
        return "an array (samples must all have the same shape)"
    if isinstance(item, dict):
        return "an object"
    return "a number"


def _convert(value: list[Any], loc: Loc, *, integer: bool) -> np.ndarray:
    try:
        if integer:
            return np.array(value, dtype=np.int64)
        with np.errstate(over="ignore"):
            return np.array(value, dtype=np.float32)
    except OverflowError:
        bound = 2**63 if integer else 2.0**128
        for where, item in _leaves(value, loc):
            if isinstance(item, int) and not -bound <= item < bound:
                raise ValidationFailed(where, "number out of range", type="out_of_range") from None
        raise ValidationFailed(loc, "number out of range", type="out_of_range") from None


def _leaves(node: Any, loc: Loc) -> Iterator[tuple[Loc, Any]]:
    if type(node) is list:
        for i, child in enumerate(node):
            yield from _leaves(child, (*loc, i))
    else:
        yield loc, node


def _as_float32(arr: np.ndarray, loc: Loc) -> np.ndarray:
    if arr.dtype.kind not in "iuf":
        raise ValidationFailed(loc, f"has dtype {arr.dtype}; only integer and float arrays are "
                               "accepted", type="bad_dtype")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype=np.float32)
    finite = np.isfinite(out)
    if not finite.all():
        idx = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValidationFailed((*loc, *idx), "must be a finite number within float32 range "
                               "(NaN and Infinity are refused)", type="not_finite")
    return out
