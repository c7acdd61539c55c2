"""Modules that exist only in specs, and adapters that give tuple-returning layers one
output, so every spec layer maps one tensor to one tensor.

The adapters subclass the engine layer they adapt and add no parameters, so state-dict
keys are exactly those of the plain layer: weights trained here load into the same
PyTorch architecture (with `batch_first=True`, taking `output` from the tuple).
"""

from __future__ import annotations

from typing import Any

from engine import Tensor, nn


class Residual(nn.Sequential):
    """`x + block(x)`, the block being its children in order (state-dict keys as
    `nn.Sequential`'s). The block must keep the shape of its input."""

    def forward(self, x: Tensor) -> Tensor:
        return x + super().forward(x)


class SequencePool(nn.Module):
    """[N, T, F] -> [N, F]: mean or max over the step dimension, or its first or last step."""

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in ("mean", "max", "first", "last"):
            raise ValueError(f"unknown SequencePool mode {mode!r}")
        self.mode = mode

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"SequencePool needs [steps, features] samples, got "
                             f"{list(x.shape[1:])}")
        if self.mode == "mean":
            return x.mean(dim=1)
        if self.mode == "max":
            return x.amax(dim=1)
        return x[:, 0] if self.mode == "first" else x[:, -1]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


class Transpose(nn.Module):
    """Swaps two dimensions (0 is the batch)."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: Tensor) -> Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"


class RNNOutput(nn.RNN):
    """`nn.RNN(..., batch_first=True)` yielding only its output sequence."""

    def forward(self, x: Tensor, hx: Any = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, hx)[0]


class LSTMOutput(nn.LSTM):
    """`nn.LSTM(..., batch_first=True)` yielding only its output sequence."""

    def forward(self, x: Tensor, hx: Any = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, hx)[0]


class GRUOutput(nn.GRU):
    """`nn.GRU(..., batch_first=True)` yielding only its output sequence."""

    def forward(self, x: Tensor, hx: Any = None) -> Tensor:  # type: ignore[override]
        return super().forward(x, hx)[0]


class SelfAttention(nn.MultiheadAttention):
    """`nn.MultiheadAttention(..., batch_first=True)` applied as self-attention
    (query = key = value = x), yielding the attended sequence only."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]
