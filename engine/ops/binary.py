"""Binary arithmetic with broadcasting: + - * / ** maximum minimum where.

Each backward returns gradients of the broadcast shape; the backward walk reduces
them to each input's shape (engine.autograd.backward._fit).
"""

from __future__ import annotations

from ..autograd.node import Op
from ..backend import xp_of
from ..tensor import Tensor
from ._util import as_operands

__all__ = ["add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "pow",
           "maximum", "minimum", "where", "neg", "negative", "rsub", "floor_divide",
           "remainder", "fmod"]


class Add(Op):
    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Sub(Op):
    def forward(self, a, b):
        return a - b

    def backward(self, g):
        return g, (-g if self.needs_grad(1) else None)


class Mul(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return a * b

    def backward(self, g):
        a, b = self.saved_inputs
        return (g * b if self.needs_grad(0) else None), (g * a if self.needs_grad(1) else None)


class Div(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return a / b

    def backward(self, g):
        a, b = self.saved_inputs
        ga = g / b if self.needs_grad(0) else None
        gb = -g * a / (b * b) if self.needs_grad(1) else None
        return ga, gb


class Pow(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        self.save_output()
        return a**b

    def backward(self, g):
        a, b = self.saved_inputs
        ga = gb = None
        if self.needs_grad(0):
            ga = g * b * a ** (b - 1)
        if self.needs_grad(1):
            # d(a^b)/db = a^b * log(a), taken as 0 where a == 0 (as PyTorch does)
            out = self.saved_output
            gb = g * where(a == 0, 0.0, out * a.log())
        return ga, gb


class PowScalar(Op):
    """x ** c for a Python number c (saves nothing but x)."""

    def forward(self, x, exponent):
        self.save_inputs(0)
        self.exponent = exponent
        return x**exponent

    def backward(self, g):
        (x,) = self.saved_inputs
        c = self.exponent
        if c == 0:
            return g * 0
        return g * c * (x ** (c - 1) if c != 2 else x)


class Neg(Op):
    def forward(self, x):
        return -x

    def backward(self, g):
        return -g


class Maximum(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return xp_of(a).maximum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        # ties split the gradient evenly, as PyTorch does
        ga = g * ((a > b) + (a == b) * 0.5).to(g.dtype)
        return ga, g - ga


class Minimum(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return xp_of(a).minimum(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = g * ((a < b) + (a == b) * 0.5).to(g.dtype)
        return ga, g - ga


class Where(Op):
    def forward(self, cond, a, b):
        self.save_inputs(0)
        return xp_of(a).where(cond, a, b)

    def backward(self, g):
        (cond,) = self.saved_inputs
        zero = g.new_zeros(())
        ga = Where.apply(cond, g, zero) if self.needs_grad(1) else None
        gb = Where.apply(cond, zero, g) if self.needs_grad(2) else None
        return None, ga, gb


def add(a, b, *, alpha=1) -> Tensor:
    """a + alpha * b, broadcasting.

    >>> import engine
    >>> engine.add(engine.ones(2), 2.0)
    tensor([3., 3.])
    """
    if alpha != 1:
        b = b * alpha
    return Add.apply(*as_operands(a, b))


def sub(a, b, *, alpha=1) -> Tensor:
    """a - alpha * b, broadcasting.

    >>> import engine
    >>> engine.sub(engine.ones(2), 1)
    tensor([0., 0.])
    """
    if alpha != 1:
        b = b * alpha
    return Sub.apply(*as_operands(a, b))


def rsub(a, b, *, alpha=1) -> Tensor:
    """b - alpha * a."""
    return sub(b, a, alpha=alpha)


def mul(a, b) -> Tensor:
    """a * b, broadcasting.

    >>> import engine
    >>> engine.mul(engine.tensor([1.0, 2.0]), engine.tensor([[3.0], [4.0]]))
    tensor([[3., 6.],
            [4., 8.]])
    """
    return Mul.apply(*as_operands(a, b))


def div(a, b, *, rounding_mode: str | None = None) -> Tensor:
    """a / b (true division: integer inputs give float32).

    >>> import engine
    >>> engine.div(engine.tensor([1, 2]), 2)
    tensor([0.5000, 1.0000])
    """
    a, b = as_operands(a, b)
    if rounding_mode is not None:
        return _rounded_div(a, b, rounding_mode)
    if not a.is_floating_point():
        from .. import dtypes
        from ._util import cast

        a, b = cast(a, dtypes.float32), cast(b, dtypes.float32)
    return Div.apply(a, b)


def _rounded_div(a: Tensor, b: Tensor, mode: str) -> Tensor:
    from ..errors import EngineValueError

    if mode not in ("trunc", "floor"):
        raise EngineValueError(
            f"div expected rounding_mode to be one of None, 'trunc', or 'floor' but found '{mode}'"
        )
    xp = a._device.backend.xp
    if a.is_floating_point():
        q = a._data / b._data
        arr = xp.trunc(q) if mode == "trunc" else xp.floor(q)
    else:
        arr = xp.floor_divide(a._data, b._data)
        if mode == "trunc":
            arr = xp.where((arr < 0) & (arr * b._data != a._data), arr + 1, arr)
    return Tensor._wrap(arr.astype(a._data.dtype, copy=False), a._device)


def floor_divide(a, b) -> Tensor:
    return div(a, b, rounding_mode="floor")


def remainder(a, b) -> Tensor:
    """Python-style modulus (sign of the divisor); not differentiable in b."""
    a, b = as_operands(a, b)
    return a - floor_divide(a, b).detach() * b


def fmod(a, b) -> Tensor:
    """C-style modulus (sign of the dividend)."""
    a, b = as_operands(a, b)
    return a - div(a, b, rounding_mode="trunc").detach() * b


def pow(a, b) -> Tensor:  # noqa: A001 - mirrors torch.pow
    """a ** b, broadcasting; b may be a number or a tensor.

    >>> import engine
    >>> engine.pow(engine.tensor([2.0, 3.0]), 2)
    tensor([4., 9.])
    """
    if isinstance(a, Tensor) and isinstance(b, int | float) and not isinstance(b, bool):
        if a.is_floating_point() or (isinstance(b, int) and b >= 0):
            return PowScalar.apply(a, exponent=b)
    a, b = as_operands(a, b)
    if not a.is_floating_point() and (b._data < 0).any():
        from ..errors import EngineRuntimeError

        raise EngineRuntimeError("Integers to negative integer powers are not allowed.")
    return Pow.apply(a, b)


def neg(x: Tensor) -> Tensor:
    """-x.

    >>> import engine
    >>> -engine.tensor([1.0])
    tensor([-1.])
    """
    return Neg.apply(x)


def maximum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise max (gradient split evenly on ties).

    >>> import engine
    >>> engine.maximum(engine.tensor([1.0, 5.0]), engine.tensor([3.0, 2.0]))
    tensor([3., 5.])
    """
    return Maximum.apply(*as_operands(a, b))


def minimum(a: Tensor, b: Tensor) -> Tensor:
    """Elementwise min (gradient split evenly on ties).

    >>> import engine
    >>> engine.minimum(engine.tensor([1.0, 5.0]), engine.tensor([3.0, 2.0]))
    tensor([1., 2.])
    """
    return Minimum.apply(*as_operands(a, b))


def where(condition: Tensor, input, other) -> Tensor:
    """input where condition is true, else other (tensors or numbers), broadcasting.

    >>> import engine
    >>> x = engine.tensor([-1.0, 2.0])
    >>> engine.where(x > 0, x, 0.0)
    tensor([0., 2.])
    """
    from .. import dtypes
    from ._util import cast

    if not isinstance(input, Tensor) and not isinstance(other, Tensor):
        from .creation import tensor

        input = tensor(input, device=condition.device)
    if condition.dtype is not dtypes.bool_ and condition.dtype is not dtypes.uint8:
        from ..errors import EngineRuntimeError

        raise EngineRuntimeError(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{condition.dtype.name.capitalize()}"
        )
    a, b = as_operands(input, other)
    return Where.apply(cast(condition, dtypes.bool_), a, b)


subtract, multiply, divide, true_divide, negative = sub, mul, div, div, neg


def _reflected(fn):
    return lambda self, other: fn(other, self)


METHODS = {
    "add": add, "sub": sub, "subtract": sub, "mul": mul, "multiply": mul, "div": div,
    "divide": div, "true_divide": div, "pow": pow, "neg": neg, "negative": neg,
    "maximum": maximum, "minimum": minimum, "floor_divide": floor_divide,
    "remainder": remainder, "fmod": fmod,
    "where": lambda self, condition, other: where(condition, self, other),
    "__add__": add, "__radd__": _reflected(add), "__sub__": sub, "__rsub__": _reflected(sub),
    "__mul__": mul, "__rmul__": _reflected(mul), "__truediv__": div,
    "__rtruediv__": _reflected(div), "__pow__": pow, "__rpow__": _reflected(pow),
    "__neg__": neg, "__pos__": lambda self: self, "__floordiv__": floor_divide,
    "__rfloordiv__": _reflected(floor_divide), "__mod__": remainder,
    "__rmod__": _reflected(remainder),
}
