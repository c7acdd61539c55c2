"""Elementwise math: exp/log families, roots, trigonometry, tanh and sigmoid.

Piecewise ops (abs, sign, clamp, rounding, isnan, nan_to_num) live in `piecewise` and
erf in `special`; both are re-exported here (in `__all__` and `METHODS`), so this
family exposes them all. Integer inputs to float functions compute in float32.
"""

from __future__ import annotations

import math

from ..autograd.node import Op
from ..backend import xp_of
from ..tensor import Tensor
from . import cuda_kernels, piecewise, special
from ._util import cast
from .piecewise import (  # noqa: F401  (re-exported: part of this family)
    abs,
    absolute,
    ceil,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    fix,
    floor,
    frac,
    isfinite,
    isinf,
    isnan,
    nan_to_num,
    round,
    sign,
    trunc,
)
from .special import erf  # noqa: F401

_LN2, _LN10 = math.log(2.0), math.log(10.0)


def _float(x: Tensor) -> Tensor:
    """Integer inputs to float functions compute in the default dtype (float32)."""
    if x._data.dtype.kind == "f":
        return x
    from .. import dtypes

    return cast(x, dtypes.float32)


def sigmoid_array(x):
    """Logistic function of a raw float array, without overflow for large |x|."""
    xp = xp_of(x)
    e = xp.exp(-xp.abs(x))  # in (0, 1]
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


class Exp(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).exp(x)

    def backward(self, g):
        return g * self.saved_output


class Exp2(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).exp2(x)

    def backward(self, g):
        return g * self.saved_output * _LN2


class Expm1(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).expm1(x)

    def backward(self, g):
        return g * (self.saved_output + 1)


class Log(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).log(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / x


class Log2(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).log2(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x * _LN2)


class Log10(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).log10(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x * _LN10)


class Log1p(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).log1p(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g / (x + 1)


class Sqrt(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).sqrt(x)

    def backward(self, g):
        return g / (self.saved_output * 2)


class Rsqrt(Op):
    def forward(self, x):
        self.save_output()
        return 1 / xp_of(x).sqrt(x)

    def backward(self, g):
        y = self.saved_output
        return g * (y * y * y) * -0.5


class Reciprocal(Op):
    def forward(self, x):
        self.save_output()
        return 1 / x

    def backward(self, g):
        y = self.saved_output
        return -(g * y * y)


class Square(Op):
    def forward(self, x):
        self.save_inputs(0)
        return x * x

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * x * 2


class Sin(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).sin(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * cos(x)


class Cos(Op):
    def forward(self, x):
        self.save_inputs(0)
        return xp_of(x).cos(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        return -(g * sin(x))


class Tan(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).tan(x)

    def backward(self, g):
        y = self.saved_output
        return g * (y * y + 1)


class Tanh(Op):
    def forward(self, x):
        self.save_output()
        return xp_of(x).tanh(x)

    def backward(self, g):
        y = self.saved_output
        if cuda_kernels.usable(g):
            return cuda_kernels.run_backward("tanh_backward", g, y)
        return g * (1 - y * y)


class Sigmoid(Op):
    def forward(self, x):
        self.save_output()
        return sigmoid_array(x)

    def backward(self, g):
        y = self.saved_output
        if cuda_kernels.usable(g):
            return cuda_kernels.run_backward("sigmoid_backward", g, y)
        return g * y * (1 - y)


def exp(x: Tensor) -> Tensor:
    """e ** x, elementwise.

    >>> import engine
    >>> engine.exp(engine.tensor([0.0]))
    tensor([1.])
    """
    return Exp.apply(_float(x))


def exp2(x: Tensor) -> Tensor:
    """2 ** x, elementwise.

    >>> import engine
    >>> engine.exp2(engine.tensor([3.0]))
    tensor([8.])
    """
    return Exp2.apply(_float(x))


def expm1(x: Tensor) -> Tensor:
    """exp(x) - 1, accurate for small x.

    >>> import engine
    >>> engine.expm1(engine.tensor([0.0]))
    tensor([0.])
    """
    return Expm1.apply(_float(x))


def log(x: Tensor) -> Tensor:
    """Natural logarithm, elementwise.

    >>> import engine
    >>> engine.log(engine.tensor([1.0]))
    tensor([0.])
    """
    return Log.apply(_float(x))


def log2(x: Tensor) -> Tensor:
    """Base-2 logarithm, elementwise.

    >>> import engine
    >>> engine.log2(engine.tensor([8.0]))
    tensor([3.])
    """
    return Log2.apply(_float(x))


def log10(x: Tensor) -> Tensor:
    """Base-10 logarithm, elementwise.

    >>> import engine
    >>> engine.log10(engine.tensor([10.0]))
    tensor([1.])
    """
    return Log10.apply(_float(x))


def log1p(x: Tensor) -> Tensor:
    """log(1 + x), accurate for small x.

    >>> import engine
    >>> engine.log1p(engine.tensor([0.0]))
    tensor([0.])
    """
    return Log1p.apply(_float(x))


def sqrt(x: Tensor) -> Tensor:
    """Square root, elementwise.

    >>> import engine
    >>> engine.sqrt(engine.tensor([4.0, 9.0]))
    tensor([2., 3.])
    """
    return Sqrt.apply(_float(x))


def rsqrt(x: Tensor) -> Tensor:
    """1 / sqrt(x), elementwise.

    >>> import engine
    >>> engine.rsqrt(engine.tensor([4.0]))
    tensor([0.5000])
    """
    return Rsqrt.apply(_float(x))


def reciprocal(x: Tensor) -> Tensor:
    """1 / x, elementwise (integer inputs give float32).

    >>> import engine
    >>> engine.reciprocal(engine.tensor([2, 4]))
    tensor([0.5000, 0.2500])
    """
    return Reciprocal.apply(_float(x))


def square(x: Tensor) -> Tensor:
    """x * x, elementwise (integer tensors stay integer, bool gives int64).

    >>> import engine
    >>> engine.square(engine.tensor([-3.0]))
    tensor([9.])
    """
    if x._data.dtype.kind == "b":
        from .. import dtypes

        x = cast(x, dtypes.int64)
    return Square.apply(x)


def sin(x: Tensor) -> Tensor:
    """Sine (radians), elementwise.

    >>> import engine
    >>> engine.sin(engine.tensor([0.0]))
    tensor([0.])
    """
    return Sin.apply(_float(x))


def cos(x: Tensor) -> Tensor:
    """Cosine (radians), elementwise.

    >>> import engine
    >>> engine.cos(engine.tensor([0.0]))
    tensor([1.])
    """
    return Cos.apply(_float(x))


def tan(x: Tensor) -> Tensor:
    """Tangent (radians), elementwise.

    >>> import engine
    >>> engine.tan(engine.tensor([0.0]))
    tensor([0.])
    """
    return Tan.apply(_float(x))


def tanh(x: Tensor) -> Tensor:
    """Hyperbolic tangent, elementwise.

    >>> import engine
    >>> engine.tanh(engine.tensor([0.0]))
    tensor([0.])
    """
    return Tanh.apply(_float(x))


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + exp(-x)), elementwise, without overflow for large |x|.

    >>> import engine
    >>> engine.sigmoid(engine.tensor([0.0, -1000.0]))
    tensor([0.5000, 0.0000])
    """
    return Sigmoid.apply(_float(x))


__all__ = ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt",
           "reciprocal", "square", "sin", "cos", "tan", "tanh", "sigmoid",
           *piecewise.__all__, *special.__all__]

METHODS = {
    "exp": exp, "exp2": exp2, "expm1": expm1, "log": log, "log2": log2, "log10": log10,
    "log1p": log1p, "sqrt": sqrt, "rsqrt": rsqrt, "reciprocal": reciprocal,
    "square": square, "sin": sin, "cos": cos, "tan": tan, "tanh": tanh, "sigmoid": sigmoid,
    **piecewise.METHODS, **special.METHODS,
}
