"""Joining and splitting: cat/concat, stack, hstack, vstack, split, chunk, unbind
(re-exported by `engine.ops.movement`). The pieces of split/chunk/unbind are views."""

from __future__ import annotations

import numbers

from .. import dtypes
from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError, EngineTypeError, EngineValueError
from ..tensor import Tensor
from ._util import cast, norm_dim

__all__ = ["cat", "concat", "concatenate", "stack", "hstack", "vstack", "split", "chunk",
           "unbind"]


class Cat(Op):
    """Concatenation along dim; inputs with keep[i] False (1-d empty) are skipped."""

    def forward(self, *arrays, dim, keep):
        self.dim, self.keep = dim, keep
        self.sizes = [a.shape[dim] if k else 0 for a, k in zip(arrays, keep)]
        return xp_of(arrays[0]).concatenate([a for a, k in zip(arrays, keep) if k], axis=dim)

    def backward(self, g):
        from .movement import narrow

        grads, start = [], 0
        for i, n in enumerate(self.sizes):
            if not self.needs_grad(i):
                grads.append(None)
            elif not self.keep[i]:
                grads.append(g.new_zeros(0))
            else:
                grads.append(narrow(g, self.dim, start, n))
            start += n
        return tuple(grads)


class Split(Op):
    """Consecutive pieces of `sizes` along dim (or, with squeeze, the slices of unbind)."""

    is_view = True

    def forward(self, x, dim, sizes, squeeze):
        self.dim, self.squeeze = dim, squeeze
        outs, start = [], 0
        lead = (slice(None),) * dim
        for n in sizes:
            outs.append(x[lead + (start if squeeze else slice(start, start + n), Ellipsis)])
            start += n
        return tuple(outs)

    def backward(self, *grads):
        return stack(grads, self.dim) if self.squeeze else cat(grads, self.dim)


def _tensors(tensors, name: str) -> list:
    if isinstance(tensors, Tensor):
        raise EngineTypeError(f"{name}(): argument 'tensors' must be tuple of Tensors, not Tensor")
    tensors = list(tensors)
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise EngineTypeError(
                f"expected Tensor as element {i} in argument 0, but got {type(t).__name__}"
            )
    return tensors


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate tensors along an existing dim (mixed dtypes are promoted).

    >>> import engine
    >>> engine.cat([engine.zeros(1, 2), engine.ones(2, 2)]).shape
    engine.Size([3, 2])
    """
    tensors = _tensors(tensors, "cat")
    if not tensors:
        raise EngineValueError("torch.cat(): expected a non-empty list of Tensors")
    for i, t in enumerate(tensors):
        if t.ndim == 0:
            raise EngineRuntimeError(
                f"zero-dimensional tensor (at position {i}) cannot be concatenated"
            )
    # PyTorch's legacy rule: 1-d empty tensors are skipped
    keep = tuple(t._data.shape != (0,) for t in tensors)
    if not any(keep):
        keep = (True,) + keep[1:]
    live = [(i, t) for i, t in enumerate(tensors) if keep[i]]
    ref = live[0][1]
    d = norm_dim(dim, ref.ndim)
    for i, t in live:
        if t.ndim != ref.ndim:
            raise EngineRuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {t.ndim}"
            )
        for k, (a, b) in enumerate(zip(ref._data.shape, t._data.shape)):
            if k != d and a != b:
                raise EngineRuntimeError(
                    f"Sizes of tensors must match except in dimension {d}. Expected size {a} "
                    f"but got size {b} for tensor number {i} in the list."
                )
    dt = ref.dtype
    for t in tensors:
        dt = dtypes.promote_types(dt, t.dtype)
    return Cat.apply(*[cast(t, dt) for t in tensors], dim=d, keep=keep)


concat = concatenate = cat


def stack(tensors, dim: int = 0) -> Tensor:
    """Join equal-shaped tensors along a new dim.

    >>> import engine
    >>> engine.stack([engine.zeros(2), engine.ones(2)], dim=1)
    tensor([[0., 1.],
            [0., 1.]])
    """
    tensors = _tensors(tensors, "stack")
    if not tensors:
        raise EngineRuntimeError("stack expects a non-empty TensorList")
    ref = tensors[0]
    for i, t in enumerate(tensors):
        if t.shape != ref.shape:
            raise EngineRuntimeError(
                f"stack expects each tensor to be equal size, but got {list(ref.shape)} at "
                f"entry 0 and {list(t.shape)} at entry {i}"
            )
    d = norm_dim(dim, ref.ndim + 1)
    return cat([t.unsqueeze(d) for t in tensors], d)


def hstack(tensors) -> Tensor:
    """Concatenate along dim 1 (dim 0 for 1-d tensors).

    >>> import engine
    >>> engine.hstack([engine.zeros(2), engine.ones(1)])
    tensor([0., 0., 1.])
    """
    tensors = [t.reshape(1) if t.ndim == 0 else t for t in _tensors(tensors, "hstack")]
    return cat(tensors, 0 if tensors and tensors[0].ndim == 1 else 1)


def vstack(tensors) -> Tensor:
    """Stack rows: 1-d tensors become rows, then concatenate along dim 0.

    >>> import engine
    >>> engine.vstack([engine.zeros(2), engine.ones(2)]).shape
    engine.Size([2, 2])
    """
    tensors = [t.reshape(1, -1) if t.ndim < 2 else t for t in _tensors(tensors, "vstack")]
    return cat(tensors, 0)


def split(x: Tensor, split_size_or_sections, dim: int = 0) -> tuple:
    """Split into pieces of `split_size` (the last may be smaller) or of the given sizes.

    >>> import engine
    >>> [p.tolist() for p in engine.arange(5).split(2)]
    [[0, 1], [2, 3], [4]]
    """
    d = norm_dim(dim, x.ndim)
    n = x._data.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        s = int(split_size_or_sections)
        if s < 0:
            raise EngineRuntimeError(
                f"split expects split_size be non-negative, but got split_size={s}"
            )
        if s == 0 and n != 0:
            raise EngineRuntimeError(
                f"split_size can only be 0 if dimension size is 0, but got dimension size of {n}"
            )
        sizes = [s] * (n // s) + ([n % s] if n % s else []) if s else [0]
        sizes = sizes or [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise EngineRuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's "
                f"size at dimension {d}), but got split_sizes={sizes}"
            )
        if not sizes:
            return ()
    return Split.apply(x, dim=d, sizes=tuple(sizes), squeeze=False)


def chunk(x: Tensor, chunks: int, dim: int = 0) -> tuple:
    """Split into `chunks` pieces of ceil(size / chunks) (fewer if they run out).

    >>> import engine
    >>> [p.tolist() for p in engine.arange(5).chunk(3)]
    [[0, 1], [2, 3], [4]]
    """
    if chunks <= 0:
        raise EngineRuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = norm_dim(dim, x.ndim)
    n = x._data.shape[d]
    size = -(-n // chunks)
    if size == 0:
        return split(x, [0] * chunks, d)
    return split(x, size, d)


def unbind(x: Tensor, dim: int = 0) -> tuple:
    """The slices of x along `dim` (each a view without that dim).

    >>> import engine
    >>> engine.tensor([[1, 2], [3, 4]]).unbind(1)
    (tensor([1, 3]), tensor([2, 4]))
    """
    d = norm_dim(dim, x.ndim)
    n = x._data.shape[d]
    if n == 0:
        return ()
    return Split.apply(x, dim=d, sizes=(1,) * n, squeeze=True)


METHODS = {"split": split, "chunk": chunk, "unbind": unbind}
