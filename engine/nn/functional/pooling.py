"""Pooling: F.max_pool1d/2d, F.avg_pool1d/2d, F.adaptive_avg_pool1d/2d,
F.adaptive_max_pool1d/2d, with PyTorch's arguments, output sizes and error messages.

Windows are strided views of the padded input (`engine.ops.conv_kernels`); max pooling
keeps each window's argmax and its backward scatter-adds into the input (overlapping
windows accumulate). 1-d pooling runs as 2-d pooling with H = 1.
"""

from __future__ import annotations

import math

import numpy as np

from ...autograd.node import Op
from ...backend import xp_of
from ...errors import EngineIndexError, EngineRuntimeError
from ...ops.conv_kernels import Geom, MaxPool, WindowSum, flat_indices
from ...ops.creation import tensor as _tensor
from ...ops.indexing import add_at, device_ctx
from ...tensor import Tensor

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]


def _pair(value, name: str, fn: str, default=None) -> tuple:
    if value is None or (not isinstance(value, int) and len(value) == 0):
        value = default
    if isinstance(value, int):
        return (value, value)
    value = tuple(int(v) for v in value)
    if len(value) not in (1, 2):
        raise EngineRuntimeError(f"{fn}: {name} must either be a single int, or a tuple of "
                                 "two ints")
    return value * 2 if len(value) == 1 else value


def _out_size(n: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    """PyTorch's pooling_output_shape, with its checks."""
    if s == 0:
        raise EngineRuntimeError("stride should not be zero")
    if p < 0:
        raise EngineRuntimeError(f"pad must be non-negative, but got pad: {p}")
    if p > ((k - 1) * d + 1) // 2:
        raise EngineRuntimeError(
            f"pad should be at most half of effective kernel size, but got pad={p}, "
            f"kernel_size={k} and dilation={d}")
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + p:
        out -= 1
    return out


def _geom(x: Tensor, kernel, stride, padding, dilation, ceil: bool) -> Geom:
    """Checks of PyTorch's pool2d_shape_check and the window geometry of 4-d x."""
    size = tuple(x.shape[2:])
    out = tuple(_out_size(n, k, s, p, d, ceil)
                for n, k, s, p, d in zip(size, kernel, stride, padding, dilation))
    if min(kernel) <= 0:
        raise EngineRuntimeError("kernel size should be greater than zero, but got kH: "
                                 f"{kernel[0]} kW: {kernel[1]}")
    if min(stride) <= 0:
        raise EngineRuntimeError("stride should be greater than zero, but got dH: "
                                 f"{stride[0]} dW: {stride[1]}")
    if min(dilation) <= 0:
        raise EngineRuntimeError("dilation should be greater than zero, but got dilationH: "
                                 f"{dilation[0]} dilationW: {dilation[1]}")
    if 0 in x.shape[1:]:
        raise EngineRuntimeError(
            "Expected 3D or 4D (batch mode) tensor with optional 0 dim batch size for input, "
            f"but got:{list(x.shape)}")
    if kernel[1] // 2 < padding[1] or kernel[0] // 2 < padding[0]:
        raise EngineRuntimeError(
            "pad should be smaller than or equal to half of kernel size, but got padW = "
            f"{padding[1]}, padH = {padding[0]}, kW = {kernel[1]}, kH = {kernel[0]}")
    if min(out) < 1:
        raise EngineRuntimeError(
            f"Given input size: ({x.shape[1]}x{size[0]}x{size[1]}). Calculated output size: "
            f"({x.shape[1]}x{out[0]}x{out[1]}). Output size is too small")
    return Geom(x.shape[1], size, out, kernel, stride, padding, dilation)


def _batch4(input: Tensor, nd: int) -> Tensor:
    """input as (N, C, H, W): unbatched gets N = 1, 1-d gets H = 1."""
    x = input.unsqueeze(0) if input.dim() == nd + 1 else input
    return x.unsqueeze(-2) if nd == 1 else x


def _unbatch(y: Tensor, input: Tensor, nd: int) -> Tensor:
    y = y.squeeze(-2) if nd == 1 else y
    return y.squeeze(0) if input.dim() == nd + 1 else y


def _max_pool(input, kernel, stride, padding, dilation, ceil_mode, return_indices, nd):
    x = _batch4(input, nd)
    geom = _geom(x, kernel, stride, padding, dilation, ceil_mode)
    out, arg = MaxPool.apply(x, geom=geom)
    out = _unbatch(out, input, nd)
    if not return_indices:
        return out
    with device_ctx(x._device):
        idx = Tensor._wrap(flat_indices(arg._data, geom), x._device)
    return out, _unbatch(idx, input, nd)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over kh x kw windows of (N, C, H, W) or (C, H, W); stride defaults to the
    kernel size. With return_indices, also the flat h * W + w input index of each max.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.max_pool2d(engine.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    kernel = _pair(kernel_size, "kernel_size", "max_pool2d")
    stride = _pair(stride, "stride", "max_pool2d", kernel)
    padding = _pair(padding, "padding", "max_pool2d")
    dilation = _pair(dilation, "dilation", "max_pool2d")
    if input.dim() not in (3, 4):
        raise EngineRuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    return _max_pool(input, kernel, stride, padding, dilation, ceil_mode, return_indices, 2)


def _single(value, default=None) -> int:
    if value is None or (not isinstance(value, int) and len(value) == 0):
        value = default
    return value if isinstance(value, int) else int(tuple(value)[0])


def _check_1d(input: Tensor, name: str) -> None:
    if input.dim() not in (2, 3):
        raise EngineRuntimeError(
            f"Expected 2 to 3 dimensions, but got {input.dim()}-dimensional tensor for "
            f"argument #1 'self' (while checking arguments for {name})")


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """Max over windows of length kernel_size of (N, C, L) or (C, L).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.max_pool1d(engine.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2)
    tensor([[[3., 5.]]])
    """
    k = _single(kernel_size)
    s, p, d = _single(stride, k), _single(padding), _single(dilation)
    if input.dim() not in (2, 3):
        raise EngineRuntimeError(
            "max_pool1d: Expected 2D or 3D (batch mode) tensor with optional 0 dim batch size "
            f"for input, but got:{list(input.shape)}")
    for ok, msg in ((k > 0, f"kernel_size must be greater than zero, but got {k}"),
                    (s > 0, f"stride must be greater than zero, but got {s}"),
                    (p >= 0, f"padding must be non-negative, but got {p}"),
                    (p <= k // 2, "padding should be at most half of kernel size, but got "
                                  f"padding={p} and kernel_size={k}"),
                    (d > 0, f"dilation must be greater than zero, but got {d}")):
        if not ok:
            raise EngineRuntimeError(f"max_pool1d() {msg}")
    n = _out_size(input.shape[-1], k, s, p, d, ceil_mode)
    if n <= 0:
        raise EngineRuntimeError(f"max_pool1d() Invalid computed output size: {n}")
    return _max_pool(input, (1, k), (1, s), (0, p), (1, d), ceil_mode, return_indices, 1)


def _avg_divisor(n: int, k: int, s: int, p: int, out: int, include_pad: bool):
    start = np.arange(out) * s - p
    end = np.minimum(start + k, n + p)
    if include_pad:
        return end - start
    return np.minimum(end, n) - np.maximum(start, 0)


def _avg_pool(input, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override,
              nd):
    if divisor_override is not None and divisor_override == 0:
        raise EngineRuntimeError("divisor must be not zero")
    x = _batch4(input, nd)
    geom = _geom(x, kernel, stride, padding, (1, 1), ceil_mode)
    if divisor_override is not None:
        div = divisor_override
    else:
        dh, dw = (_avg_divisor(n, k, s, p, o, count_include_pad)
                  for n, k, s, p, o in zip(geom.size, kernel, stride, padding, geom.out))
        div = np.outer(dh, dw)
        if (div == kernel[0] * kernel[1]).all():
            div = kernel[0] * kernel[1]
    return _unbatch(WindowSum.apply(x, geom=geom, div=div), input, nd)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """Mean over kh x kw windows of (N, C, H, W) or (C, H, W) (zero padding counted in
    the divisor unless count_include_pad=False; divisor_override replaces it).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.avg_pool2d(engine.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 2.5000,  4.5000],
              [10.5000, 12.5000]]]])
    """
    kernel = _pair(kernel_size, "kernel_size", "avg_pool2d")
    stride = _pair(stride, "stride", "avg_pool2d", kernel)
    padding = _pair(padding, "padding", "avg_pool2d")
    if input.dim() < 3:
        raise EngineIndexError(
            f"Dimension out of range (expected to be in range of [{-max(input.dim(), 1)}, "
            f"{max(input.dim(), 1) - 1}], but got -3)")
    if input.dim() != 4 and input.dim() != 3:
        raise EngineRuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    return _avg_pool(input, kernel, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """Mean over windows of length kernel_size of (N, C, L) or (C, L).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.avg_pool1d(engine.tensor([[[1.0, 3.0, 2.0, 6.0]]]), 2)
    tensor([[[2., 4.]]])
    """
    _check_1d(input, "avg_pool1d")
    k = _single(kernel_size)
    s, p = _single(stride, k), _single(padding)
    return _avg_pool(input, (1, k), (1, s), (0, p), ceil_mode, count_include_pad, None, 1)


def _adaptive_size(output_size, x: Tensor, nd: int, name: str) -> tuple:
    if isinstance(output_size, int) or output_size is None:
        output_size = (output_size,) * nd
    output_size = tuple(output_size)
    if len(output_size) != nd:
        raise EngineRuntimeError(f"{name}: output_size must be {nd}")
    size = tuple(x.shape[-nd:])
    out = tuple(n if o is None else int(o) for o, n in zip(output_size, size))
    if any(o < 0 for o in out):
        raise EngineRuntimeError(
            f"{name}: elements of output_size must be greater than or equal to 0 but "
            f"received {{{', '.join(map(str, out))}}}")
    for d in range(1, x.dim()):
        if x.shape[d] == 0:
            raise EngineRuntimeError(
                f"{name}(): Expected input to have non-zero size for non-batch dimensions, "
                f"but input has sizes {list(x.shape)} with dimension {d} being empty")
    return out


def _bins(n: int, out: int) -> tuple:
    """PyTorch's adaptive windows: [floor(i * n / out), ceil((i + 1) * n / out))."""
    start = (np.arange(out) * n) // out
    end = -((-(np.arange(out) + 1) * n) // out)
    return start, end


def _avg_matrix(n: int, out: int, dtype) -> np.ndarray:
    start, end = _bins(n, out)
    cols = np.arange(n)
    inside = (cols >= start[:, None]) & (cols < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


def _adaptive_avg(input: Tensor, output_size, nd: int, name: str) -> Tensor:
    if input.dim() not in (nd + 1, nd + 2):
        raise EngineRuntimeError(
            f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got {list(input.shape)}")
    out = _adaptive_size(output_size, input, nd, name)
    size = tuple(input.shape[-nd:])
    if all(o == 1 for o in out):
        return input.mean(tuple(range(-nd, 0)), keepdim=True)
    if all(o and n % o == 0 for n, o in zip(size, out)):
        k = tuple(n // o for n, o in zip(size, out))
        if nd == 1:
            return avg_pool1d(input, k[0])
        return avg_pool2d(input, k)
    dt = input._data.dtype
    y = input
    for d, (n, o) in enumerate(zip(size, out)):  # average rows with a (o, n) matrix
        m = _tensor(_avg_matrix(n, o, dt), device=input.device)
        y = y.matmul(m.t()) if d == nd - 1 else m.matmul(y)
    return y


def adaptive_avg_pool2d(input: Tensor, output_size) -> Tensor:
    """Average pooling to a fixed (Ho, Wo) output (None keeps that input size).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.adaptive_avg_pool2d(engine.arange(16.0).reshape(1, 1, 4, 4), 1)
    tensor([[[[7.5000]]]])
    """
    return _adaptive_avg(input, output_size, 2, "adaptive_avg_pool2d")


def adaptive_avg_pool1d(input: Tensor, output_size) -> Tensor:
    """Average pooling of (N, C, L) or (C, L) to a fixed length.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.adaptive_avg_pool1d(engine.arange(10.0).reshape(1, 1, 10), 4)
    tensor([[[1., 3., 6., 8.]]])
    """
    _check_1d(input, "adaptive_avg_pool1d")
    return _adaptive_avg(input, output_size, 1, "adaptive_avg_pool1d")


class _IndexGather(Op):
    """x (N, C, *S) read at flat indices idx (N, C, *T) into the S dims."""

    def forward(self, x, *, idx):
        self.idx = idx
        xp = xp_of(x)
        n, c = x.shape[:2]
        flat = xp.take_along_axis(x.reshape(n, c, math.prod(x.shape[2:])),
                                  idx.reshape(n, c, math.prod(idx.shape[2:])), axis=2)
        return flat.reshape(idx.shape)

    def backward(self, g):
        return _IndexScatter.apply(g, idx=self.idx, shape=self._in_shapes[0])


class _IndexScatter(Op):
    """g (N, C, *T) added into zeros of `shape` at flat indices idx (repeats add up)."""

    def forward(self, g, *, idx, shape):
        self.idx = idx
        xp = xp_of(g)
        n, c = shape[:2]
        out = xp.zeros((n * c, math.prod(shape[2:])), dtype=g.dtype)
        rows = xp.arange(n * c).reshape(-1, 1)
        m = math.prod(idx.shape[2:])
        add_at(xp, out, (rows, idx.reshape(n * c, m)), g.reshape(n * c, m))
        return out.reshape(shape)

    def backward(self, gg):
        return _IndexGather.apply(gg, idx=self.idx)


def _adaptive_max(input: Tensor, output_size, return_indices: bool, nd: int, name: str):
    if input.dim() not in (nd + 1, nd + 2):
        raise EngineRuntimeError(
            f"{name}(): Expected {nd + 1}D or {nd + 2}D tensor, but got: {list(input.shape)}")
    out = _adaptive_size(output_size, input, nd, name)
    size = tuple(input.shape[-nd:])
    if all(o and n % o == 0 for n, o in zip(size, out)):  # equal windows: plain max pool
        k = tuple(n // o for n, o in zip(size, out))
        if nd == 1:
            return max_pool1d(input, k[0], return_indices=return_indices)
        return max_pool2d(input, k, return_indices=return_indices)
    x = _batch4(input, nd)
    (h, w), (ho, wo) = x.shape[2:], ((1,) + out if nd == 1 else out)
    xp = x._device.backend.xp
    idx = []
    for n, o in ((h, ho), (w, wo)):
        start, end = _bins(n, o)
        k = int((end - start).max()) if o else 1
        idx.append(np.minimum(start[:, None] + np.arange(k), end[:, None] - 1))
    (rows, cols), kw = idx, idx[1].shape[1]
    with device_ctx(x._device):  # windows gathered by fancy indexing; argmax per window
        rows, cols, raw = xp.asarray(rows), xp.asarray(cols), x._data
        win = raw[:, :, rows[:, :, None, None], cols[None, None]]
        win = win.transpose(0, 1, 2, 4, 3, 5).reshape(raw.shape[:2] + (ho, wo, rows.shape[1]
                                                                       * kw))
        a = win.argmax(axis=-1) if win.size else xp.zeros(win.shape[:-1], dtype=np.int64)
        flat = rows[xp.arange(ho)[:, None], a // kw] * w + cols[xp.arange(wo), a % kw]
    y = _unbatch(_IndexGather.apply(x, idx=flat), input, nd)
    if not return_indices:
        return y
    return y, _unbatch(Tensor._wrap(flat, x._device), input, nd)


def adaptive_max_pool2d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling to a fixed (Ho, Wo) output; with return_indices also flat indices.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.adaptive_max_pool2d(engine.arange(16.0).reshape(1, 1, 4, 4), 2)
    tensor([[[[ 5.,  7.],
              [13., 15.]]]])
    """
    return _adaptive_max(input, output_size, return_indices, 2, "adaptive_max_pool2d")


def adaptive_max_pool1d(input: Tensor, output_size, return_indices: bool = False):
    """Max pooling of (N, C, L) or (C, L) to a fixed length.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.adaptive_max_pool1d(engine.tensor([[[1.0, 3.0, 2.0, 5.0, 4.0]]]), 2)
    tensor([[[3., 5.]]])
    """
    _check_1d(input, "adaptive_max_pool1d")
    return _adaptive_max(input, output_size, return_indices, 1, "adaptive_max_pool1d")
