"""dtypes (`engine.float32`, ...) and PyTorch's type-promotion rules."""

from __future__ import annotations

import builtins as _b

import numpy as np

builtins_float, builtins_int, builtins_bool = _b.float, _b.int, _b.bool


class dtype:  # noqa: N801 - mirrors torch.dtype
    """A tensor element type; wraps the NumPy dtype that both backends use.

    >>> import engine
    >>> engine.tensor([1.0]).dtype
    engine.float32
    """

    __slots__ = ("name", "np", "is_floating_point", "itemsize", "_category")

    def __init__(self, name: str, np_dtype: np.dtype, category: int) -> None:
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating

    def __repr__(self) -> str:
        return f"engine.{self.name}"

    def __reduce__(self):
        return self.name

    @property
    def is_signed(self) -> bool:
        return self._category != 0 and self.np.kind != "u"


bool_ = dtype("bool", np.bool_, 0)
uint8 = dtype("uint8", np.uint8, 1)
int8 = dtype("int8", np.int8, 1)
int16 = dtype("int16", np.int16, 1)
int32 = dtype("int32", np.int32, 1)
int64 = dtype("int64", np.int64, 1)
float16 = dtype("float16", np.float16, 2)
float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)

half, float, double = float16, float32, float64  # noqa: A001 - torch aliases
short, int, long = int16, int32, int64  # noqa: A001

_ALIASES = {"float": "float32", "double": "float64", "half": "float16", "long": "int64",
            "int": "int32", "short": "int16"}
_BY_NP = {d.np: d for d in (bool_, uint8, int8, int16, int32, int64, float16, float32, float64)}


def from_numpy_dtype(np_dtype) -> dtype:
    """The engine dtype of a NumPy/CuPy dtype; raises for unsupported ones."""
    try:
        return _BY_NP[np.dtype(np_dtype)]
    except KeyError:
        from .errors import EngineTypeError

        raise EngineTypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types "
            "are: float64, float32, float16, int64, int32, int16, int8, uint8, and bool."
        ) from None


def to_dtype(d) -> dtype:
    """Accept an engine dtype, a NumPy dtype, a Python type or a name."""
    if isinstance(d, dtype):
        return d
    if isinstance(d, str):
        d = _ALIASES.get(d, d)
    if d is builtins_float:
        return float64
    if d is builtins_int:
        return int64
    if d is builtins_bool:
        return bool_
    return from_numpy_dtype(d)


def promote_types(a: dtype, b: dtype) -> dtype:
    """PyTorch's promotion of two tensor dtypes (int64 + float32 -> float32)."""
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    return _BY_NP[np.promote_types(a.np, b.np)]


def result_type(a, b) -> dtype:
    """Result dtype of a binary op on tensors and Python scalars, as PyTorch computes it.

    Python scalars and 0-d tensors only win when they are of a higher category
    (bool < integer < floating), so `float32_tensor * 2.0` stays float32.
    """
    da, wa = _operand_kind(a)
    db, wb = _operand_kind(b)
    if wa == wb:
        return promote_types(da, db)
    strong, weak = (da, db) if wa < wb else (db, da)
    if weak._category > strong._category:
        # A weak float scalar over an integer tensor gives the default float dtype;
        # a weak 0-d tensor keeps its own dtype within its category.
        return float32 if weak._category == 2 and (wa == 2 or wb == 2) else weak
    return strong


def _operand_kind(x) -> tuple[dtype, builtins_int]:
    """(dtype, weakness): 0 for n-d tensors, 1 for 0-d tensors, 2 for Python scalars."""
    d = getattr(x, "dtype", None)
    if isinstance(d, dtype):
        return d, (1 if x._data.ndim == 0 else 0)
    if isinstance(x, builtins_bool | np.bool_):
        return bool_, 2
    if isinstance(x, builtins_int | np.integer):
        return int64, 2
    if isinstance(x, builtins_float | np.floating):
        return float64, 2
    raise TypeError(f"unsupported operand type {type(x).__name__}")
