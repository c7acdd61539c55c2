"""Shape and movement ops: reshape/view and expand (the rest of the family lands here too)."""

from __future__ import annotations

import math

from ..autograd.node import Op
from ..errors import EngineRuntimeError
from ..tensor import Tensor

__all__ = ["reshape"]


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _infer(shape: tuple, numel: int, src: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise EngineRuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise EngineRuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise EngineRuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    is_view = True

    def forward(self, x, shape):
        return x.reshape(shape)

    def backward(self, g):
        return g.reshape(self._in_shapes[0])


class Expand(Op):
    is_view = True

    def forward(self, x, shape):
        from ..backend import xp_of

        return xp_of(x).broadcast_to(x, shape)

    def backward(self, g):
        from .reduce import sum_to_shape

        return sum_to_shape(g, self._in_shapes[0])


def reshape(x: Tensor, *shape) -> Tensor:
    """x with a new shape of the same number of elements (-1 infers one dimension).

    >>> import engine
    >>> engine.arange(6).reshape(2, -1)
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    shape = _infer(_shape_arg(shape), x._data.size, x._data.shape)
    if shape == x._data.shape:
        return x
    return Reshape.apply(x, shape=shape)


def view(x: Tensor, *shape) -> Tensor:
    """Like reshape (the result shares memory with x when the layout allows)."""
    if len(shape) == 1 and not isinstance(shape[0], int | list | tuple):
        return x.to(shape[0])  # view(dtype) is not supported as a reinterpretation
    return reshape(x, *shape)


def expand(x: Tensor, *shape) -> Tensor:
    """Broadcast x to a larger shape without copying (-1 keeps a dimension).

    >>> import engine
    >>> engine.tensor([[1.0], [2.0]]).expand(2, 3)
    tensor([[1., 1., 1.],
            [2., 2., 2.]])
    """
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise EngineRuntimeError(
            f"expand(): the number of sizes provided ({len(shape)}) must be greater or equal "
            f"to the number of dimensions in the tensor ({x.ndim})"
        )
    full = tuple(
        x._data.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape)
    )
    for i, s in enumerate(x._data.shape):
        if s != 1 and s != full[i + lead]:
            raise EngineRuntimeError(
                f"The expanded size of the tensor ({full[i + lead]}) must match the existing "
                f"size ({s}) at non-singleton dimension {i + lead}.  Target sizes: "
                f"{list(shape)}.  Tensor sizes: {list(x._data.shape)}"
            )
    if full == x._data.shape:
        return x
    return Expand.apply(x, shape=full)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, *other.shape)


METHODS = {"reshape": reshape, "view": view, "expand": expand, "expand_as": expand_as}
