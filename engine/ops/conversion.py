"""Dtype casts, device transfers and copies (all differentiable)."""

from __future__ import annotations

from ..autograd.node import Op
from ..backend import transfer
from ..tensor import Tensor

__all__ = ["clone"]


class Cast(Op):
    def forward(self, x, dtype):
        self.src = x.dtype
        return x.astype(dtype.np)

    def backward(self, g):
        from ..dtypes import _BY_NP

        return Cast.apply(g, dtype=_BY_NP[self.src])


class ToDevice(Op):
    """Copy to another device; the output lives on `device`."""

    def forward(self, x, device):
        raise AssertionError("ToDevice runs through apply_transfer")

    def backward(self, g):
        return ToDevice.apply(g, device=self.src)

    @classmethod
    def apply(cls, x: Tensor, device):  # noqa: D102 - the output device differs from the input's
        from ..autograd.grad_mode import _state

        op = cls.__new__(cls)
        op.src = x._device
        arr = transfer(x._data, x._device, device)
        record = _state.enabled and x.requires_grad
        out = Tensor._wrap(arr, device, record, op if record else None)
        if record:
            op.next_functions = ((x.grad_fn, x._output_nr) if x.grad_fn else (x, -1),)
            op._in_shapes, op._in_dtypes = (x._data.shape,), (x._data.dtype,)
        return out


class Clone(Op):
    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return g


def clone(x: Tensor) -> Tensor:
    """A copy of x with its own memory; gradients flow back to x.

    >>> import engine
    >>> a = engine.zeros(2); b = a.clone(); _ = b.add_(1); a
    tensor([0., 0.])
    """
    return Clone.apply(x)


def contiguous(x: Tensor) -> Tensor:
    """x itself if its memory is C-contiguous, else a contiguous copy."""
    if x._data.flags.c_contiguous:
        return x
    return Clone.apply(x)


def is_contiguous(x: Tensor) -> bool:
    return bool(x._data.flags.c_contiguous)


METHODS = {"clone": clone, "contiguous": contiguous, "is_contiguous": is_contiguous}
