"""Matrix products: matmul (`@`), mm, bmm, dot, mv, outer.

Everything runs through the array module's matmul/dot (BLAS on the CPU, cuBLAS on the
GPU). Backward returns gradients of the broadcast batch shape; the backward walk sums
them down to each input's shape. 1-d operands are promoted to matrices with reshape
(differentiable), so their gradients come back 1-d.
"""

from __future__ import annotations

import math

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError, EngineTypeError
from ..tensor import Tensor

__all__ = ["matmul", "mm", "bmm", "dot", "vdot", "inner", "mv", "outer", "ger"]

_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
            "int64": "long int", "int32": "int", "int16": "short int", "int8": "signed char",
            "uint8": "unsigned char", "bool": "bool"}
_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
               "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
               "bool": "Bool"}


def _cname(t: Tensor) -> str:
    return _C_NAMES.get(t.dtype.name, t.dtype.name)


def _tname(t: Tensor) -> str:
    return _TYPE_NAMES.get(t.dtype.name, t.dtype.name)


class SwapLast(Op):
    """The last two dims swapped (a view)."""

    is_view = True

    def forward(self, x):
        return xp_of(x).swapaxes(x, -1, -2)

    def backward(self, g):
        return SwapLast.apply(g)


class MatMul(Op):
    """a @ b for a, b with at least 2 dims; batch dims broadcast."""

    def forward(self, a, b):
        self.save_inputs(0, 1)
        xp = xp_of(a)
        if a.ndim > 2 and b.ndim == 2:  # one big GEMM instead of a loop over the batch
            out = xp.matmul(a.reshape(-1, a.shape[-1]), b)
            return out.reshape(a.shape[:-1] + b.shape[-1:])
        return xp.matmul(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        ga = gb = None
        if self.needs_grad(0):
            ga = MatMul.apply(g, SwapLast.apply(b))
        if self.needs_grad(1):
            if a.ndim > 2 and b.ndim == 2:
                k, m = a.shape[-1], g.shape[-1]
                gb = MatMul.apply(SwapLast.apply(a.reshape(-1, k)), g.reshape(-1, m))
            else:
                gb = MatMul.apply(SwapLast.apply(a), g)
        return ga, gb


class Dot(Op):
    def forward(self, a, b):
        self.save_inputs(0, 1)
        return xp_of(a).dot(a, b)

    def backward(self, g):
        a, b = self.saved_inputs
        return (g * b if self.needs_grad(0) else None), (g * a if self.needs_grad(1) else None)


def _operand(x, like: Tensor | None = None, *, name: str = "matmul", pos: int = 2) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if like is not None and hasattr(x, "shape") and hasattr(x, "dtype"):  # NumPy/CuPy array
        from .creation import as_tensor

        return as_tensor(x, device=like.device)
    raise EngineTypeError(
        f"{name}(): argument '{'other' if pos == 2 else 'input'}' (position {pos}) must be "
        f"Tensor, not {type(x).__name__}"
    )


def _same_dtype_mm(a: Tensor, b: Tensor) -> None:
    if a._data.dtype != b._data.dtype:
        raise EngineRuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {_cname(a)} != {_cname(b)}"
        )


def _mat_mismatch(a_shape, b_shape) -> EngineRuntimeError:
    return EngineRuntimeError(
        f"mat1 and mat2 shapes cannot be multiplied ({a_shape[-2]}x{a_shape[-1]} and "
        f"{b_shape[-2]}x{b_shape[-1]})"
    )


def _batch_shape(a_batch: tuple, b_batch: tuple) -> tuple:
    n = max(len(a_batch), len(b_batch))
    a_batch = (1,) * (n - len(a_batch)) + tuple(a_batch)
    b_batch = (1,) * (n - len(b_batch)) + tuple(b_batch)
    out = []
    for i, (x, y) in enumerate(zip(a_batch, b_batch)):
        if x != y and x != 1 and y != 1:
            raise EngineRuntimeError(
                f"The size of tensor a ({x}) must match the size of tensor b ({y}) at "
                f"non-singleton dimension {i}"
            )
        out.append(max(x, y))
    return tuple(out)


def _matmul_nd(a: Tensor, b: Tensor) -> Tensor:
    """a @ b for operands with >= 2 dims, with PyTorch's checks."""
    sa, sb = a._data.shape, b._data.shape
    if a.ndim == 2 and b.ndim == 2:
        if sa[1] != sb[0]:
            raise _mat_mismatch(sa, sb)
    else:
        batch = _batch_shape(sa[:-2], sb[:-2])
        if sa[-1] != sb[-2]:
            if b.ndim == 2:
                raise _mat_mismatch((math.prod(sa[:-1]), sa[-1]), sb)
            n = math.prod(batch)
            raise EngineRuntimeError(
                f"Expected size for first two dimensions of batch2 tensor to be: [{n}, "
                f"{sa[-1]}] but got: [{n}, {sb[-2]}]."
            )
    _same_dtype_mm(a, b)
    return MatMul.apply(a, b)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product as torch.matmul: 1-d·1-d is a dot product (0-d), a 1-d operand is
    treated as a row (left) or column (right) vector, n-d operands are batches of
    matrices whose batch dims broadcast.

    >>> import engine
    >>> a = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> a @ engine.tensor([1.0, 1.0])
    tensor([3., 7.])
    >>> engine.matmul(engine.ones(5, 1, 2, 3), engine.ones(4, 3, 2)).shape
    engine.Size([5, 4, 2, 2])
    """
    a, b = _operand(a, b if isinstance(b, Tensor) else None, pos=1), _operand(b, a)
    if a.ndim == 0 or b.ndim == 0:
        raise EngineRuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and "
            f"{b.ndim}D"
        )
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    if a.ndim == 1:
        out = _matmul_nd(a.reshape(1, -1), b)
        return out.reshape(out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        if a.shape[-1] != b.shape[0]:
            raise _mv_mismatch(a, b)
        out = _matmul_nd(a, b.reshape(-1, 1))
        return out.reshape(out.shape[:-1])
    return _matmul_nd(a, b)


def mm(a: Tensor, b: Tensor) -> Tensor:
    """Product of two matrices (2-d only; use matmul for batches and vectors).

    >>> import engine
    >>> engine.mm(engine.ones(2, 3), engine.ones(3, 4)).shape
    engine.Size([2, 4])
    """
    a, b = _operand(a, name="mm", pos=1), _operand(b, a, name="mm")
    if a.ndim != 2:
        raise EngineRuntimeError("self must be a matrix")
    if b.ndim != 2:
        raise EngineRuntimeError("mat2 must be a matrix")
    return _matmul_nd(a, b)


def bmm(a: Tensor, b: Tensor) -> Tensor:
    """Batched product of (B, n, k) and (B, k, m) tensors (no broadcasting).

    >>> import engine
    >>> engine.bmm(engine.ones(2, 3, 4), engine.ones(2, 4, 5)).shape
    engine.Size([2, 3, 5])
    """
    a, b = _operand(a, name="bmm", pos=1), _operand(b, a, name="bmm")
    if a.ndim != 3:
        raise EngineRuntimeError("batch1 must be a 3D tensor")
    if b.ndim != 3:
        raise EngineRuntimeError("batch2 must be a 3D tensor")
    if b.shape[:2] != (a.shape[0], a.shape[2]):
        raise EngineRuntimeError(
            f"Expected size for first two dimensions of batch2 tensor to be: "
            f"[{a.shape[0]}, {a.shape[2]}] but got: [{b.shape[0]}, {b.shape[1]}]."
        )
    if a._data.dtype != b._data.dtype:
        raise EngineRuntimeError(f"expected scalar type {_tname(a)} but found {_tname(b)}")
    return MatMul.apply(a, b)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Inner product of two 1-d tensors of the same size, as a 0-d tensor.

    >>> import engine
    >>> engine.dot(engine.tensor([1.0, 2.0]), engine.tensor([3.0, 4.0]))
    tensor(11.)
    """
    a, b = _operand(a, name="dot", pos=1), _operand(b, a, name="dot")
    if a.ndim != 1 or b.ndim != 1:
        raise EngineRuntimeError(
            f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors"
        )
    if a._data.dtype != b._data.dtype:
        raise EngineRuntimeError(
            f"dot : expected both vectors to have same dtype, but found {_tname(a)} and "
            f"{_tname(b)}"
        )
    if a.shape[0] != b.shape[0]:
        raise EngineRuntimeError(
            f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src [{b.shape[0]}] "
            f"to have the same number of elements, but got {a.shape[0]} and {b.shape[0]} "
            "elements respectively"
        )
    return Dot.apply(a, b)


vdot = dot  # real tensors only: no conjugation


def inner(a: Tensor, b: Tensor) -> Tensor:
    """Inner product over the last dim (a scalar times a tensor for 0-d operands).

    >>> import engine
    >>> engine.inner(engine.ones(2, 3), engine.ones(4, 3)).shape
    engine.Size([2, 4])
    """
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    if a.ndim == 1 and b.ndim == 1:
        return dot(a, b)
    out = matmul(a.reshape(-1, a.shape[-1]), SwapLast.apply(b.reshape(-1, b.shape[-1])))
    return out.reshape(a.shape[:-1] + b.shape[:-1])


def _mv_mismatch(a: Tensor, b: Tensor) -> EngineRuntimeError:
    rows = math.prod(a.shape[:-1])
    return EngineRuntimeError(
        f"size mismatch, got input ({rows}), mat ({rows}x{a.shape[-1]}), vec ({b.shape[0]})"
    )


def mv(a: Tensor, v: Tensor) -> Tensor:
    """Matrix-vector product: (n, m) @ (m,) -> (n,).

    >>> import engine
    >>> engine.mv(engine.tensor([[1.0, 2.0], [3.0, 4.0]]), engine.tensor([1.0, 0.0]))
    tensor([1., 3.])
    """
    a, v = _operand(a, name="mv", pos=1), _operand(v, a, name="mv")
    if a.ndim != 2 or v.ndim != 1:
        raise EngineRuntimeError(
            f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}"
        )
    return matmul(a, v)


def outer(a: Tensor, b: Tensor) -> Tensor:
    """Outer product of two 1-d tensors: (n,), (m,) -> (n, m).

    >>> import engine
    >>> engine.outer(engine.tensor([1.0, 2.0]), engine.tensor([1.0, 10.0]))
    tensor([[ 1., 10.],
            [ 2., 20.]])
    """
    a, b = _operand(a, name="outer", pos=1), _operand(b, a, name="outer")
    for t, name in ((a, "self"), (b, "vec2")):
        if t.ndim != 1:
            raise EngineRuntimeError(
                f"outer: Expected 1-D argument {name}, but got {t.ndim}-D"
            )
    return a.reshape(-1, 1) * b.reshape(1, -1)


ger = outer


METHODS = {
    "matmul": matmul, "mm": mm, "bmm": bmm, "dot": dot, "vdot": vdot, "inner": inner,
    "mv": mv, "outer": outer, "ger": ger,
    "__matmul__": matmul,
    "__rmatmul__": lambda self, other: matmul(_operand(other, self), self),
}
