"""Linear maps: F.linear, F.bilinear."""

from __future__ import annotations

from ...tensor import Tensor

__all__ = ["linear", "bilinear"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """input @ weight.T + bias.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.linear(engine.ones(1, 2), engine.ones(3, 2), engine.zeros(3))
    tensor([[2., 2., 2.]])
    """
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None
             ) -> Tensor:
    """y_k = x1^T W_k x2 + b_k over the last dim of the inputs."""
    # (..., i) @ (o, i, j) -> (..., o, j), then contract j with x2
    t = input1.unsqueeze(-2).unsqueeze(-2).matmul(weight).squeeze(-2)
    out = (t * input2.unsqueeze(-2)).sum(-1)
    return out if bias is None else out + bias
