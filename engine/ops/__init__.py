"""Ops, one module per family. Each module lists its public functions in `__all__`
(exported as `engine.<name>`) and its Tensor methods in `METHODS` (attached here)."""

from __future__ import annotations

from ..tensor import Tensor
from . import (
    activation,
    binary,
    compare,
    conversion,
    creation,
    elementwise,
    indexing,
    inplace,
    matmul,
    movement,
    reduce,
    sorting,
)

FAMILIES = [activation, binary, compare, conversion, creation, elementwise, indexing, inplace,
            matmul, movement, reduce, sorting]

__all__: list[str] = []
for _module in FAMILIES:
    for _name in getattr(_module, "__all__", ()):
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
    for _name, _fn in getattr(_module, "METHODS", {}).items():
        setattr(Tensor, _name, _fn)

inplace.attach(Tensor)  # in-place forms wrap the out-of-place ops attached above
