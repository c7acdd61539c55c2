"""Convolution layers: Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d, with PyTorch's
constructor arguments, parameter shapes, initialization and repr."""

from __future__ import annotations

from ..errors import EngineValueError
from ..ops.creation import empty
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter

__all__ = ["Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(value, n: int) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    return value * n if len(value) == 1 else value


class _ConvNd(Module):
    """Shared constructor, initialization and repr of the conv layers."""

    _nd = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride, padding,
                 dilation, transposed: bool, output_padding, groups: int, bias: bool,
                 padding_mode: str, device=None, dtype=None) -> None:
        super().__init__()
        n = self._nd
        if groups <= 0:
            raise EngineValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise EngineValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise EngineValueError("out_channels must be divisible by groups")
        kernel_size, stride, dilation = (_ntuple(kernel_size, n), _ntuple(stride, n),
                                         _ntuple(dilation, n))
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise EngineValueError(
                    f"Invalid padding string {padding!r}, should be one of {{'valid', 'same'}}")
            if padding == "same" and any(s != 1 for s in stride):
                raise EngineValueError(
                    "padding='same' is not supported for strided convolutions")
        else:
            padding = _ntuple(padding, n)
        if padding_mode not in _PADDING_MODES:
            raise EngineValueError(
                f"padding_mode must be one of {{'zeros', 'reflect', 'replicate', 'circular'}}, "
                f"but got padding_mode='{padding_mode}'")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.transposed = dilation, transposed
        self.output_padding, self.groups = _ntuple(output_padding, n), groups
        self.padding_mode = padding_mode
        if isinstance(padding, str):
            rev = [0, 0] * n
            if padding == "same":
                for d, k, i in zip(dilation, kernel_size, range(n - 1, -1, -1)):
                    total = d * (k - 1)
                    rev[2 * i], rev[2 * i + 1] = total // 2, total - total // 2
            self._reversed_padding_repeated_twice = rev
        else:
            self._reversed_padding_repeated_twice = tuple(p for p in padding[::-1] for _ in (0, 1))
        shape = ((in_channels, out_channels // groups) if transposed
                 else (out_channels, in_channels // groups)) + kernel_size
        self.weight = Parameter(empty(*shape, device=device, dtype=dtype))
        if bias:
            self.bias = Parameter(empty(out_channels, device=device, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=sqrt(5)) weight, U(+-1/sqrt(fan_in)) bias."""
        init.reset_weight_and_bias(self.weight, self.bias)

    def extra_repr(self) -> str:
        n = self._nd
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * n:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 device=None, dtype=None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         False, 0, groups, bias, padding_mode, device, dtype)

    def forward(self, input):
        fn = F.conv1d if self._nd == 1 else F.conv2d
        if self.padding_mode != "zeros":
            padded = F.pad(input, self._reversed_padding_repeated_twice,
                           mode=self.padding_mode)
            return fn(padded, self.weight, self.bias, self.stride, 0, self.dilation,
                      self.groups)
        return fn(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                  self.groups)


class Conv1d(_Conv):
    """1-d convolution over (N, C_in, L) or (C_in, L); weight (out, in/groups, k).

    >>> import engine
    >>> from engine import nn
    >>> nn.Conv1d(4, 8, 3, padding=1)(engine.randn(2, 4, 10)).shape
    engine.Size([2, 8, 10])
    """

    _nd = 1


class Conv2d(_Conv):
    """2-d convolution over (N, C_in, H, W) or (C_in, H, W); weight (out, in/groups,
    kh, kw). padding_mode 'zeros' (default), 'reflect', 'replicate' or 'circular'.

    >>> import engine
    >>> from engine import nn
    >>> conv = nn.Conv2d(3, 64, 3, padding=1)
    >>> conv
    Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv(engine.randn(2, 3, 8, 8)).shape
    engine.Size([2, 64, 8, 8])
    """

    _nd = 2


class _ConvTranspose(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1,
                 padding_mode: str = "zeros", device=None, dtype=None) -> None:
        if padding_mode != "zeros":
            raise EngineValueError(
                f'Only "zeros" padding mode is supported for {type(self).__name__}')
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         True, output_padding, groups, bias, padding_mode, device, dtype)

    def _output_padding(self, input, output_size) -> tuple:
        n = self._nd
        if output_size is None:
            return self.output_padding
        lead = 2 if input.dim() == n + 2 else 1
        output_size = tuple(output_size)
        if len(output_size) == lead + n:
            output_size = output_size[lead:]
        if len(output_size) != n:
            raise EngineValueError(
                f"ConvTranspose{n}D: for {input.dim()}D input, output_size must have {n} or "
                f"{lead + n} elements (got {len(output_size)})")
        mins = [(input.shape[d + lead] - 1) * self.stride[d] - 2 * self.padding[d]
                + self.dilation[d] * (self.kernel_size[d] - 1) + 1 for d in range(n)]
        maxs = [m + s - 1 for m, s in zip(mins, self.stride)]
        for size, lo, hi in zip(output_size, mins, maxs):
            if not lo <= size <= hi:
                raise EngineValueError(
                    f"requested an output size of {list(output_size)}, but valid sizes range "
                    f"from {mins} to {maxs} (for an input of {list(input.shape[lead:])})")
        return tuple(o - m for o, m in zip(output_size, mins))

    def forward(self, input, output_size=None):
        fn = F.conv_transpose1d if self._nd == 1 else F.conv_transpose2d
        return fn(input, self.weight, self.bias, self.stride, self.padding,
                  self._output_padding(input, output_size), self.groups, self.dilation)


class ConvTranspose1d(_ConvTranspose):
    """1-d transposed convolution; weight (in, out/groups, k).

    >>> import engine
    >>> from engine import nn
    >>> nn.ConvTranspose1d(4, 2, 3, stride=2)(engine.randn(1, 4, 5)).shape
    engine.Size([1, 2, 11])
    """

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-d transposed convolution (upsampling); weight (in, out/groups, kh, kw).
    `forward(input, output_size=None)` picks output_padding to reach output_size.

    >>> import engine
    >>> from engine import nn
    >>> up = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)
    >>> up(engine.randn(1, 8, 5, 5)).shape
    engine.Size([1, 4, 10, 10])
    """

    _nd = 2
