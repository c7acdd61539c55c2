"""Activation layers: ReLU, LeakyReLU, ELU, GELU, SiLU, Tanh, Sigmoid, Softplus, Softmax,
LogSoftmax, Hardtanh, ReLU6, Mish, LogSigmoid (PyTorch's arguments and repr).

`inplace=True` is accepted where PyTorch has it; ReLU then modifies its input, the others
compute out of place (see engine.ops.activation)."""

from __future__ import annotations

import warnings

from ..ops.elementwise import sigmoid, tanh
from . import functional as F
from .module import Module

__all__ = ["ReLU", "LeakyReLU", "ELU", "GELU", "SiLU", "Tanh", "Sigmoid", "Softplus",
           "Softmax", "LogSoftmax", "Hardtanh", "ReLU6", "Mish", "LogSigmoid"]


def _inplace_only(inplace: bool) -> str:
    return "inplace=True" if inplace else ""


class ReLU(Module):
    """max(x, 0), elementwise.

    >>> import engine
    >>> from engine import nn
    >>> nn.ReLU()(engine.tensor([-1.0, 2.0]))
    tensor([0., 2.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.relu(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_only(self.inplace)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x.

    >>> import engine
    >>> from engine import nn
    >>> nn.LeakyReLU(0.1)(engine.tensor([-1.0, 2.0]))
    tensor([-0.1000,  2.0000])
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope, self.inplace = negative_slope, inplace

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{', inplace=True' if self.inplace else ''}"


class ELU(Module):
    """x for x > 0, else alpha * (exp(x) - 1).

    >>> import engine
    >>> from engine import nn
    >>> nn.ELU()(engine.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.elu(x, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{', inplace=True' if self.inplace else ''}"


class GELU(Module):
    """x * Phi(x); approximate='tanh' uses the tanh approximation.

    >>> import engine
    >>> from engine import nn
    >>> nn.GELU()(engine.tensor([1.0]))
    tensor([0.8413])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x).

    >>> import engine
    >>> from engine import nn
    >>> nn.SiLU()(engine.tensor([1.0]))
    tensor([0.7311])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_only(self.inplace)


class Tanh(Module):
    """tanh(x), elementwise.

    >>> import engine
    >>> from engine import nn
    >>> nn.Tanh()(engine.tensor([0.0]))
    tensor([0.])
    """

    def forward(self, x):
        return tanh(x)


class Sigmoid(Module):
    """1 / (1 + exp(-x)), elementwise.

    >>> import engine
    >>> from engine import nn
    >>> nn.Sigmoid()(engine.tensor([0.0]))
    tensor([0.5000])
    """

    def forward(self, x):
        return sigmoid(x)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta (x itself where beta x > threshold).

    >>> import engine
    >>> from engine import nn
    >>> nn.Softplus()(engine.tensor([0.0]))
    tensor([0.6931])
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class _AlongDim(Module):
    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def __setstate__(self, state: dict) -> None:
        super().__setstate__(state)
        if not hasattr(self, "dim"):
            self.dim = None

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Softmax(_AlongDim):
    """exp(x) / sum(exp(x)) along dim.

    >>> import engine
    >>> from engine import nn
    >>> nn.Softmax(dim=-1)(engine.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(_AlongDim):
    """log(softmax(x)) along dim, computed stably.

    >>> import engine
    >>> from engine import nn
    >>> nn.LogSoftmax(dim=0)(engine.tensor([0.0, 0.0]))
    tensor([-0.6931, -0.6931])
    """

    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Hardtanh(Module):
    """x clamped to [min_val, max_val].

    >>> import engine
    >>> from engine import nn
    >>> nn.Hardtanh(-2.0, 2.0)(engine.tensor([-3.0, 1.0, 3.0]))
    tensor([-2.,  1.,  2.])
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`",
                          FutureWarning, stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`",
                          FutureWarning, stacklevel=2)
            max_val = max_value
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace
        if self.max_val <= self.min_val:
            raise AssertionError(
                f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})"
            )

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return (f"min_val={self.min_val}, max_val={self.max_val}"
                f"{', inplace=True' if self.inplace else ''}")


class ReLU6(Hardtanh):
    """min(max(x, 0), 6).

    >>> import engine
    >>> from engine import nn
    >>> nn.ReLU6()(engine.tensor([-1.0, 8.0]))
    tensor([0., 6.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return _inplace_only(self.inplace)


class Mish(Module):
    """x * tanh(softplus(x)).

    >>> import engine
    >>> from engine import nn
    >>> nn.Mish()(engine.tensor([1.0]))
    tensor([0.8651])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.mish(x, inplace=self.inplace)

    def extra_repr(self) -> str:
        return _inplace_only(self.inplace)


class LogSigmoid(Module):
    """log(sigmoid(x)), stable for large |x|.

    >>> import engine
    >>> from engine import nn
    >>> nn.LogSigmoid()(engine.tensor([0.0]))
    tensor([-0.6931])
    """

    def forward(self, x):
        return F.logsigmoid(x)
