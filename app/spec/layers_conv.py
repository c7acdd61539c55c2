"""Argument models of the convolution and pooling layers.

Samples are channels-first: [C, L] for the 1-d layers and [C, H, W] for the 2-d ones
(the batch dimension is added by the data loader). Sizes are an integer or a list with
one integer per spatial dimension, as in PyTorch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import model_validator

from app.spec.args import (
    Channels,
    ConvPadding1d,
    ConvPadding2d,
    Dilation1d,
    Dilation2d,
    Groups,
    Kernel1d,
    Kernel2d,
    OutputSize1d,
    OutputSize2d,
    Padding1d,
    Padding2d,
    Stride1d,
    Stride2d,
    as_tuple,
    field_error,
)
from app.spec.layers import LayerArgs


class _Conv(LayerArgs):
    if TYPE_CHECKING:  # declared by each subclass with its own bounds
        kernel_size: int | tuple[int, ...]
        stride: int | tuple[int, ...]
        padding: int | tuple[int, ...] | str
        dilation: int | tuple[int, ...]

    in_channels: Channels
    out_channels: Channels
    groups: Groups = 1
    bias: bool = True

    @model_validator(mode="after")
    def _groups_divide(self) -> _Conv:
        for name in ("in_channels", "out_channels"):
            if getattr(self, name) % self.groups:
                raise field_error("groups", f"must divide {name} ({getattr(self, name)})")
        if self.padding == "same" and any(s != 1 for s in as_tuple(self.stride, 2)):
            raise field_error("padding", "'same' padding needs stride 1")
        return self


class Conv1d(_Conv):
    """1-d convolution: [C_in, L] -> [C_out, L_out]."""

    type: Literal["Conv1d"]
    kernel_size: Kernel1d
    stride: Stride1d = 1
    padding: ConvPadding1d = 0
    dilation: Dilation1d = 1
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"


class Conv2d(_Conv):
    """2-d convolution: [C_in, H, W] -> [C_out, H_out, W_out]."""

    type: Literal["Conv2d"]
    kernel_size: Kernel2d
    stride: Stride2d = 1
    padding: ConvPadding2d = 0
    dilation: Dilation2d = 1
    padding_mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"


class _ConvTranspose(_Conv):
    if TYPE_CHECKING:
        output_padding: int | tuple[int, ...]

    @model_validator(mode="after")
    def _output_padding_small(self) -> _ConvTranspose:
        n = 1 if self.type == "ConvTranspose1d" else 2
        stride, dilation = as_tuple(self.stride, n), as_tuple(self.dilation, n)
        for op, s, d in zip(as_tuple(self.output_padding, n), stride, dilation):
            if op >= max(s, d):
                raise field_error("output_padding", "must be smaller than stride or dilation")
        return self


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution ("deconvolution"): [C_in, L] -> [C_out, L_out]."""

    type: Literal["ConvTranspose1d"]
    kernel_size: Kernel1d
    stride: Stride1d = 1
    padding: Padding1d = 0
    output_padding: Padding1d = 0
    dilation: Dilation1d = 1


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution: [C_in, H, W] -> [C_out, H_out, W_out]."""

    type: Literal["ConvTranspose2d"]
    kernel_size: Kernel2d
    stride: Stride2d = 1
    padding: Padding2d = 0
    output_padding: Padding2d = 0
    dilation: Dilation2d = 1


class _Pool(LayerArgs):
    if TYPE_CHECKING:
        kernel_size: int | tuple[int, ...]
        padding: int | tuple[int, ...]

    @model_validator(mode="after")
    def _padding_at_most_half_kernel(self) -> _Pool:
        n = 1 if self.type.endswith("1d") else 2
        kernel = as_tuple(self.kernel_size, n)
        if any(2 * p > k for p, k in zip(as_tuple(self.padding, n), kernel)):
            raise field_error("padding", "must be at most half the kernel size")
        return self


class MaxPool1d(_Pool):
    """Max over windows of [C, L] samples; `stride` defaults to `kernel_size`."""

    type: Literal["MaxPool1d"]
    kernel_size: Kernel1d
    stride: Stride1d | None = None
    padding: Padding1d = 0
    dilation: Dilation1d = 1
    ceil_mode: bool = False


class MaxPool2d(_Pool):
    """Max over windows of [C, H, W] samples; `stride` defaults to `kernel_size`."""

    type: Literal["MaxPool2d"]
    kernel_size: Kernel2d
    stride: Stride2d | None = None
    padding: Padding2d = 0
    dilation: Dilation2d = 1
    ceil_mode: bool = False


class AvgPool1d(_Pool):
    """Mean over windows of [C, L] samples; `stride` defaults to `kernel_size`."""

    type: Literal["AvgPool1d"]
    kernel_size: Kernel1d
    stride: Stride1d | None = None
    padding: Padding1d = 0
    ceil_mode: bool = False
    count_include_pad: bool = True


class AvgPool2d(_Pool):
    """Mean over windows of [C, H, W] samples; `stride` defaults to `kernel_size`."""

    type: Literal["AvgPool2d"]
    kernel_size: Kernel2d
    stride: Stride2d | None = None
    padding: Padding2d = 0
    ceil_mode: bool = False
    count_include_pad: bool = True


class AdaptiveAvgPool1d(LayerArgs):
    """Mean pooling of [C, L] samples to [C, output_size]."""

    type: Literal["AdaptiveAvgPool1d"]
    output_size: OutputSize1d


class AdaptiveAvgPool2d(LayerArgs):
    """Mean pooling of [C, H, W] samples to [C, *output_size] (1: global pooling)."""

    type: Literal["AdaptiveAvgPool2d"]
    output_size: OutputSize2d


class AdaptiveMaxPool1d(LayerArgs):
    """Max pooling of [C, L] samples to [C, output_size]."""

    type: Literal["AdaptiveMaxPool1d"]
    output_size: OutputSize1d


class AdaptiveMaxPool2d(LayerArgs):
    """Max pooling of [C, H, W] samples to [C, *output_size]."""

    type: Literal["AdaptiveMaxPool2d"]
    output_size: OutputSize2d
