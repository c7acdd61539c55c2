"""Dropout layers: Dropout, Dropout1d, Dropout2d, Dropout3d (identity in eval mode)."""

from __future__ import annotations

from ..errors import EngineValueError
from . import functional as F
from .module import Module

__all__ = ["Dropout", "Dropout1d", "Dropout2d", "Dropout3d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if p < 0 or p > 1:
            raise EngineValueError(
                f"dropout probability has to be between 0 and 1, but got {p}"
            )
        self.p, self.inplace = p, inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero elements with probability p in training (scaling the rest by 1 / (1 - p));
    the identity after `.eval()`.

    >>> import engine
    >>> from engine import nn
    >>> drop = nn.Dropout(0.5)
    >>> x = engine.ones(4)
    >>> drop.eval()(x) is x
    True
    >>> drop
    Dropout(p=0.5, inplace=False)
    """

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Zero whole channels of (N, C, L) / (C, L) inputs with probability p.

    >>> import engine
    >>> from engine import nn
    >>> nn.Dropout1d(0.2)(engine.ones(2, 3, 4)).shape
    engine.Size([2, 3, 4])
    """

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Zero whole channels of (N, C, H, W) inputs with probability p.

    >>> import engine
    >>> from engine import nn
    >>> nn.Dropout2d()(engine.ones(2, 3, 4, 4)).shape
    engine.Size([2, 3, 4, 4])
    """

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training, self.inplace)


class Dropout3d(_DropoutNd):
    """Zero whole channels of (N, C, D, H, W) / (C, D, H, W) inputs with probability p.

    >>> import engine
    >>> from engine import nn
    >>> nn.Dropout3d()(engine.ones(1, 2, 2, 2, 2)).shape
    engine.Size([1, 2, 2, 2, 2])
    """

    def forward(self, x):
        return F.dropout3d(x, self.p, self.training, self.inplace)
