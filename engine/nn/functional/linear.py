"""Linear maps: F.linear (one fused op: x W^T + b), F.bilinear."""

from __future__ import annotations

from ...autograd.grad_mode import _state
from ...autograd.node import Op
from ...backend import xp_of
from ...tensor import Tensor

__all__ = ["linear", "bilinear"]


class Linear(Op):
    """y = x @ W^T (+ b) for x of shape (..., in); one GEMM forward, two backward."""

    def forward(self, x, w, b=None):
        self.save_inputs(0, 1)
        xp = xp_of(x)
        if x.ndim > 2:  # one 2-d GEMM instead of a batched loop over leading dims
            out = xp.matmul(x.reshape(-1, x.shape[-1]), w.T).reshape(*x.shape[:-1], -1)
        else:
            out = xp.matmul(x, w.T)
        if b is not None:
            out += b
        return out

    def backward(self, g):
        x, w = self.saved_inputs
        if not _state.enabled:  # no graph of the backward: the GEMMs on the arrays
            return self._backward_arrays(g, x, w)
        gx = g.matmul(w) if self.needs_grad(0) else None
        g2 = g if g.dim() == 2 else g.reshape(-1, g.shape[-1])
        gw = None
        if self.needs_grad(1):
            x2 = x if x.dim() == 2 else x.reshape(-1, x.shape[-1])
            gw = g2.t().matmul(x2)
        if len(self.next_functions) == 2:
            return gx, gw
        return gx, gw, (g2.sum(0) if self.needs_grad(2) else None)

    def _backward_arrays(self, g, x, w):
        """The same three products on raw arrays: g @ W and g^T @ x are plain BLAS
        GEMMs (g^T is a transposed view, passed to BLAS as a flag, never copied)."""
        dev, ga = g._device, g._data
        wrap = Tensor._wrap
        g2 = ga if ga.ndim == 2 else ga.reshape(-1, ga.shape[-1])
        xp = xp_of(ga)
        gx = gw = None
        if self.needs_grad(0):
            gx = xp.matmul(g2, w._data)
            gx = wrap(gx if ga.ndim == 2 else gx.reshape(x._data.shape), dev)
        if self.needs_grad(1):
            xa = x._data
            gw = wrap(xp.matmul(g2.T, xa if xa.ndim == 2 else xa.reshape(-1, xa.shape[-1])),
                      dev)
        if len(self.next_functions) == 2:
            return gx, gw
        return gx, gw, (wrap(g2.sum(0), dev) if self.needs_grad(2) else None)


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.linear(engine.ones(1, 2), engine.ones(3, 2), engine.zeros(3))
    tensor([[2., 2., 2.]])
    """
    if input.dim() == 0 or weight.dim() != 2 or input.shape[-1] != weight.shape[1]:
        from ...errors import EngineRuntimeError

        rows = input.shape[:-1].numel() if input.dim() > 1 else 1
        raise EngineRuntimeError(
            f"mat1 and mat2 shapes cannot be multiplied ({rows}x"
            f"{input.shape[-1] if input.dim() else 0} and "
            f"{weight.shape[-1] if weight.dim() else 0}x{weight.shape[0] if weight.dim() else 0})"
        )
    if input.dtype is not weight.dtype:
        from ...errors import EngineRuntimeError

        raise EngineRuntimeError(
            "mat1 and mat2 must have the same dtype, but got "
            f"{input.dtype.name.capitalize()} and {weight.dtype.name.capitalize()}"
        )
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """y_k = x1^T W_k x2 + b_k over the last dim of the inputs.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.bilinear(engine.ones(1, 2), engine.ones(1, 3), engine.ones(4, 2, 3)).shape
    engine.Size([1, 4])
    """
    # (..., i) @ (o, i, j) -> (..., o, j), then contract j with x2
    t = input1.unsqueeze(-2).unsqueeze(-2).matmul(weight).squeeze(-2)
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias
