"""Copying rearrangements: flip, roll, tril/triu, repeat/tile (re-exported by
`engine.ops.movement`). Unlike views, their outputs own their memory, as in PyTorch."""

from __future__ import annotations

import numbers

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from ._util import norm_dim, norm_dims
from .movement import _shape_arg

__all__ = ["flip", "roll", "tril", "triu", "repeat", "tile"]


class Flip(Op):
    def forward(self, x, dims):
        self.dims = dims
        return xp_of(x).flip(x, dims).copy()

    def backward(self, g):
        return Flip.apply(g, dims=self.dims)


class Roll(Op):
    def forward(self, x, shifts, dims):
        self.shifts, self.dims = shifts, dims
        return xp_of(x).roll(x, shifts, dims)

    def backward(self, g):
        neg = tuple(-s for s in self.shifts) if isinstance(self.shifts, tuple) else -self.shifts
        return Roll.apply(g, shifts=neg, dims=self.dims)


class Tri(Op):
    """tril (upper=False) / triu (upper=True) over the last two dims."""

    def forward(self, x, k, upper):
        self.k, self.upper = k, upper
        xp = xp_of(x)
        n, m = x.shape[-2:]
        mask = xp.tri(n, m, k - 1 if upper else k, dtype=bool)
        return xp.where(~mask if upper else mask, x, x.dtype.type(0))

    def backward(self, g):
        return Tri.apply(g, k=self.k, upper=self.upper)


class Repeat(Op):
    def forward(self, x, reps):
        self.reps = reps
        lead = (1,) * (len(reps) - x.ndim) + x.shape
        self.padded = lead
        return xp_of(x).tile(x.reshape(lead), reps)

    def backward(self, g):
        inter = tuple(s for r, n in zip(self.reps, self.padded) for s in (r, n))
        g = g.reshape(inter).sum(dim=tuple(range(0, len(inter), 2)))
        return g.reshape(self._in_shapes[0])


def flip(x: Tensor, *dims) -> Tensor:
    """Reverse the order of elements along `dims` (a copy, as in PyTorch).

    >>> import engine
    >>> engine.arange(3).flip(0)
    tensor([2, 1, 0])
    """
    dims = norm_dims(_shape_arg(dims), x.ndim) or ()
    return Flip.apply(x, dims=tuple(dims))


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """Shift elements circularly along `dims` (over the flattened tensor when None).

    >>> import engine
    >>> engine.arange(4).roll(1)
    tensor([3, 0, 1, 2])
    """
    shifts = (shifts,) if isinstance(shifts, numbers.Integral) else tuple(shifts)
    if dims is None:
        if len(shifts) != 1:
            raise EngineRuntimeError(
                f"shifts and dimensions must align. shifts: {len(shifts)}, dims:0"
            )
        return Roll.apply(x, shifts=int(shifts[0]), dims=None)
    dims = (dims,) if isinstance(dims, numbers.Integral) else tuple(dims)
    if len(shifts) != len(dims):
        raise EngineRuntimeError(
            f"shifts and dimensions must align. shifts: {len(shifts)}, dims:{len(dims)}"
        )
    dims = tuple(norm_dim(d, x.ndim) for d in dims)
    return Roll.apply(x, shifts=tuple(int(s) for s in shifts), dims=dims)


def _tri(x: Tensor, diagonal: int, upper: bool) -> Tensor:
    if x.ndim < 2:
        name = "triu" if upper else "tril"
        raise EngineRuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    return Tri.apply(x, k=int(diagonal), upper=upper)


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two dims (j - i <= diagonal); the rest zero.

    >>> import engine
    >>> engine.ones(2, 2).tril()
    tensor([[1., 0.],
            [1., 1.]])
    """
    return _tri(x, diagonal, False)


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two dims (j - i >= diagonal); the rest zero.

    >>> import engine
    >>> engine.ones(2, 2).triu(1)
    tensor([[0., 1.],
            [0., 0.]])
    """
    return _tri(x, diagonal, True)


def repeat(x: Tensor, *sizes) -> Tensor:
    """Tile x `sizes[i]` times along each dim (sizes may add leading dims).

    >>> import engine
    >>> engine.tensor([1, 2]).repeat(2, 2)
    tensor([[1, 2, 1, 2],
            [1, 2, 1, 2]])
    """
    sizes = _shape_arg(sizes)
    if len(sizes) < x.ndim:
        raise EngineRuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    return Repeat.apply(x, reps=sizes)


def tile(x: Tensor, *dims) -> Tensor:
    """Like repeat, but missing leading `dims` count as 1.

    >>> import engine
    >>> engine.tensor([[1, 2]]).tile(2)
    tensor([[1, 2, 1, 2]])
    """
    dims = _shape_arg(dims)
    return repeat(x, *((1,) * (x.ndim - len(dims)) + dims))


METHODS = {name: globals()[name] for name in __all__}
