"""`engine.Size`: the shape of a tensor, a tuple as in PyTorch."""

from __future__ import annotations

import math


class Size(tuple):
    """A tuple of dimension sizes.

    >>> import engine
    >>> engine.zeros(2, 3).shape
    engine.Size([2, 3])
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"engine.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, item):
        out = tuple.__getitem__(self, item)
        return Size(out) if isinstance(item, slice) else out

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))
