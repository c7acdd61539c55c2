"""Elementwise math: exp, log, sqrt, trigonometry, clamp, rounding."""

from __future__ import annotations

from ..autograd.node import Op
from ..backend import xp_of
from ..tensor import Tensor
from ._util import cast

__all__ = ["exp", "log"]


def _float(x: Tensor) -> Tensor:
    """Integer inputs to float functions compute in the default dtype (float32)."""
    if x._data.dtype.kind == "f":
        return x
    from .. import dtypes

    return cast(x, dtypes.float32)


class Exp(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).exp(x)

    def backward(self, g):
        return g * self.saved_output


class Log(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).log(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / x


def exp(x: Tensor) -> Tensor:
    """e ** x, elementwise.

    >>> import engine
    >>> engine.exp(engine.tensor([0.0]))
    tensor([1.])
    """
    return Exp.apply(_float(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm, elementwise.

    >>> import engine
    >>> engine.log(engine.tensor([1.0]))
    tensor([0.])
    """
    return Log.apply(_float(x))


METHODS = {"exp": exp, "log": log}
