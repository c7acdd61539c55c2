"""Reductions: sum, mean, and the broadcast reduction `sum_to_shape` used by backward."""

from __future__ import annotations

from ..autograd.node import Op
from ..tensor import Tensor
from ._util import norm_dims

__all__ = ["sum", "mean", "sum_to_shape"]


def _keepdim_shape(shape: tuple, dims: tuple | None) -> tuple:
    if dims is None:
        return (1,) * len(shape)
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


class Sum(Op):
    def forward(self, x, dims, keepdim, dtype):
        self.dims, self.keepdim = dims, keepdim
        return x.sum(axis=dims, keepdims=keepdim, dtype=dtype)

    def backward(self, g):
        shape = self._in_shapes[0]
        if not self.keepdim:
            g = g.reshape(_keepdim_shape(shape, self.dims))
        return g.expand(shape)


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
        return g.expand(self._in_shapes[0])


def sum_to_shape(x: Tensor, shape: tuple) -> Tensor:
    """Reduce x to `shape` by summing the broadcast dimensions.

    >>> import engine
    >>> engine.ops.reduce.sum_to_shape(engine.ones(2, 3), (1, 3))
    tensor([[2., 2., 2.]])
    """
    if tuple(x.shape) == tuple(shape):
        return x
    return SumToShape.apply(x, shape=tuple(shape))


def sum(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    """Sum over all elements or over `dim` (int or tuple).

    >>> import engine
    >>> engine.tensor([[1.0, 2.0], [3.0, 4.0]]).sum(dim=0)
    tensor([4., 6.])
    """
    dims = norm_dims(dim, x.ndim)
    if dtype is None and x._data.dtype.kind in "bi":
        from .. import dtypes

        dtype = dtypes.int64
    np_dtype = dtype.np if dtype is not None else None
    return Sum.apply(x, dims=dims, keepdim=keepdim, dtype=np_dtype)


def mean(x: Tensor, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean over all elements or over `dim` (floating tensors only).

    >>> import engine
    >>> engine.tensor([1.0, 2.0, 6.0]).mean()
    tensor(3.)
    """
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        from ..errors import EngineRuntimeError

        raise EngineRuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating "
            f"point or complex dtype. Got: {x.dtype.name.capitalize()}"
        )
    dims = norm_dims(dim, x.ndim)
    n = x.numel() if dims is None else _count(x.shape, dims)
    return sum(x, dim, keepdim) / n if n else sum(x, dim, keepdim) * float("nan")


def _count(shape, dims) -> int:
    n = 1
    for d in dims:
        n *= shape[d]
    return n


METHODS = {"sum": sum, "mean": mean}
