"""Comparisons and logical ops: not differentiable, results are bool tensors."""

from __future__ import annotations

from ..tensor import Tensor
from ._util import as_operands

__all__ = ["eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_xor",
           "logical_not", "equal", "allclose", "isclose"]


def _compare(ufunc_name: str):
    def op(a, b) -> Tensor:
        a, b = as_operands(a, b)
        xp = a._device.backend.xp
        return Tensor._wrap(getattr(xp, ufunc_name)(a._data, b._data), a._device)

    op.__name__ = ufunc_name
    op.__doc__ = f"Elementwise `{ufunc_name}` as a bool tensor (not differentiable)."
    return op


eq, ne = _compare("equal"), _compare("not_equal")
lt, le = _compare("less"), _compare("less_equal")
gt, ge = _compare("greater"), _compare("greater_equal")
logical_and, logical_or = _compare("logical_and"), _compare("logical_or")
logical_xor = _compare("logical_xor")


def logical_not(x: Tensor) -> Tensor:
    """Elementwise not, as a bool tensor.

    >>> import engine
    >>> engine.logical_not(engine.tensor([True, False]))
    tensor([False,  True])
    """
    return Tensor._wrap(x._device.backend.xp.logical_not(x._data), x._device)


def _bitwise(ufunc_name: str):
    def op(a, b) -> Tensor:
        a, b = as_operands(a, b)
        if a._data.dtype.kind == "f":
            from ..errors import EngineRuntimeError

            raise EngineRuntimeError(f"\"{ufunc_name}\" not implemented for 'Float'")
        xp = a._device.backend.xp
        return Tensor._wrap(getattr(xp, ufunc_name)(a._data, b._data), a._device)

    return op


bitwise_and, bitwise_or = _bitwise("bitwise_and"), _bitwise("bitwise_or")
bitwise_xor = _bitwise("bitwise_xor")


def bitwise_not(x: Tensor) -> Tensor:
    return Tensor._wrap(x._device.backend.xp.invert(x._data), x._device)


def equal(a: Tensor, b: Tensor) -> bool:
    """True if a and b have the same shape and elements.

    >>> import engine
    >>> engine.equal(engine.ones(2), engine.ones(2))
    True
    """
    return a.shape == b.shape and bool(eq(a, b)._data.all())


def isclose(a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    a, b = as_operands(a, b)
    xp = a._device.backend.xp
    return Tensor._wrap(xp.isclose(a._data, b._data, rtol, atol, equal_nan), a._device)


def allclose(a: Tensor, b: Tensor, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """True if every element of a is close to b: |a - b| <= atol + rtol * |b|.

    >>> import engine
    >>> engine.allclose(engine.tensor([1.0]), engine.tensor([1.0 + 1e-7]))
    True
    """
    return bool(isclose(a, b, rtol, atol, equal_nan)._data.all())


def _reflected(fn):
    return lambda self, other: fn(other, self)


METHODS = {
    "eq": eq, "ne": ne, "lt": lt, "le": le, "gt": gt, "ge": ge, "equal": equal,
    "logical_and": logical_and, "logical_or": logical_or, "logical_xor": logical_xor,
    "logical_not": logical_not, "bitwise_and": bitwise_and, "bitwise_or": bitwise_or,
    "bitwise_xor": bitwise_xor, "bitwise_not": bitwise_not, "isclose": isclose,
    "allclose": allclose,
    "__eq__": lambda self, other: False if other is None else eq(self, other),
    "__ne__": lambda self, other: True if other is None else ne(self, other),
    "__lt__": lt, "__le__": le, "__gt__": gt, "__ge__": ge,
    "__and__": bitwise_and, "__or__": bitwise_or, "__xor__": bitwise_xor,
    "__rand__": _reflected(bitwise_and), "__ror__": _reflected(bitwise_or),
    "__rxor__": _reflected(bitwise_xor), "__invert__": bitwise_not,
}
