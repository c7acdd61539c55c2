"""Convolutions and padding: F.conv1d, F.conv2d, F.conv_transpose1d, F.conv_transpose2d,
F.pad, with PyTorch's arguments, shapes and error messages.

The arithmetic lives in `engine.ops.conv_kernels` (im2col + one GEMM, col2im for the
input gradient; derivatives of any order). 1-d convolutions run as 2-d ones with H = 1.
"""

from __future__ import annotations

import numpy as np

from ...autograd.node import Op
from ...backend import xp_of
from ...errors import EngineRuntimeError, EngineTypeError
from ...ops.conv_kernels import Conv, ConvTranspose, Geom
from ...ops.creation import tensor as _tensor
from ...ops.matmul import _cname
from ...tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv_transpose1d", "conv_transpose2d", "pad"]


def _expand_param(value, n: int, name: str) -> tuple:
    """An int or a sequence of n ints as an n-tuple (PyTorch's message otherwise)."""
    if isinstance(value, int):
        return (value,) * n
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        return value * n
    if len(value) != n:
        raise EngineRuntimeError(
            f"expected {name} to be a single integer value or a list of {n} values to match "
            f"the convolution dimensions, but got {name}={list(value)}"
        )
    return value


def _check_rank(input: Tensor, nd: int, name: str) -> None:
    if input.dim() not in (nd + 1, nd + 2):
        raise EngineRuntimeError(
            f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to {name}, but got "
            f"input of size: {list(input.shape)}"
        )


def _check_common(x: Tensor, weight: Tensor, bias, nd: int, stride, padding, dilation,
                  groups: int, stride_arg) -> None:
    if weight.dim() != nd + 2:
        if weight.dim() >= 3 and weight.dim() - 2 != len(stride):
            raise EngineRuntimeError(
                f"expected stride to be a single integer value or a list of {weight.dim() - 2}"
                f" values to match the convolution dimensions, but got stride={list(stride)}")
        raise EngineRuntimeError(
            f"Expected {weight.dim()}-dimensional input for {weight.dim()}-dimensional weight "
            f"{list(weight.shape)}, but got {x.dim()}-dimensional input of size "
            f"{list(x.shape)} instead")
    if any(s <= 0 for s in stride):
        raise EngineRuntimeError("non-positive stride is not supported")
    if any(p < 0 for p in padding):
        raise EngineRuntimeError("negative padding is not supported")
    if any(d <= 0 for d in dilation):
        raise EngineRuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise EngineRuntimeError("non-positive groups is not supported")
    w0 = weight.shape[0]
    if w0 < groups:
        raise EngineRuntimeError(
            f"Given groups={groups}, expected weight to be at least {groups} at dimension 0, "
            f"but got weight of size {list(weight.shape)} instead")
    if w0 % groups:
        raise EngineRuntimeError(
            f"Given groups={groups}, expected weight to be divisible by {groups} at dimension "
            f"0, but got weight of size [{list(weight.shape)}] instead")
    if x._data.dtype != weight._data.dtype:
        raise EngineRuntimeError(
            f"Input type ({_cname(x)}) and weight type ({_cname(weight)}) should be the same")
    if bias is not None and bias._data.dtype != x._data.dtype:
        raise EngineRuntimeError(
            f"Input type ({_cname(x)}) and bias type ({_cname(bias)}) should be the same")


def _bias_error(weight: Tensor, bias: Tensor, n: int, transposed: bool) -> EngineRuntimeError:
    pre = "Given transposed=1, weight" if transposed else "Given weight"
    return EngineRuntimeError(
        f"{pre} of size {list(weight.shape)}, expected bias to be 1-dimensional with {n} "
        f"elements, but got bias of size {list(bias.shape)} instead")


def _as2d(t: Tensor, nd: int) -> Tensor:
    return t if nd == 2 else t.unsqueeze(-2)


def _lift(p: tuple, nd: int, fill: int) -> tuple:
    return p if nd == 2 else (fill,) + p


def _conv(input, weight, bias, stride, padding, dilation, groups, nd: int, name: str):
    _check_rank(input, nd, name)
    batched = input.dim() == nd + 2
    x = input if batched else input.unsqueeze(0)
    stride = _expand_param(stride, nd, "stride")
    dilation = _expand_param(dilation, nd, "dilation")
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise EngineRuntimeError(f"Invalid padding string: '{padding}'")
        if padding == "same" and any(s != 1 for s in stride):
            raise EngineRuntimeError(
                "padding='same' is not supported for strided convolutions")
        pads = (0,) * nd
    else:
        pads = _expand_param(padding, nd, "padding")
    _check_common(x, weight, bias, nd, stride, pads, dilation, groups, stride)
    kernel = tuple(weight.shape[2:])
    if x.shape[1] != weight.shape[1] * groups:
        raise EngineRuntimeError(
            f"Given groups={groups}, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {weight.shape[1] * groups} channels, but got "
            f"{x.shape[1]} channels instead")
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != weight.shape[0]):
        raise _bias_error(weight, bias, weight.shape[0], False)
    size = tuple(x.shape[2:])
    eff = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    if padding == "same":
        pads = tuple((e - 1) // 2 for e in eff)
        out = size
    else:
        padded = tuple(n + 2 * p for n, p in zip(size, pads))
        if any(e > n for e, n in zip(eff, padded)):
            raise EngineRuntimeError(
                f"Calculated padded input size per channel: ({' x '.join(map(str, padded))})."
                f" Kernel size: ({' x '.join(map(str, eff))}). Kernel size can't be greater "
                "than actual input size")
        out = tuple((n - e) // s + 1 for n, e, s in zip(padded, eff, stride))
    geom = Geom(x.shape[1], _lift(size, nd, 1), _lift(out, nd, 1), _lift(kernel, nd, 1),
                _lift(stride, nd, 1), _lift(pads, nd, 0), _lift(dilation, nd, 1), groups)
    args = (_as2d(x, nd), _as2d(weight, nd)) + (() if bias is None else (bias,))
    y = Conv.apply(*args, geom=geom)
    if nd == 1:
        y = y.squeeze(-2)
    return y if batched else y.squeeze(0)


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-d cross-correlation of input (N, C, L) (or (C, L)) with weight (O, C/groups, k).

    `padding` is an int, a 1-tuple, 'valid' or 'same'.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.conv1d(engine.arange(5.0).reshape(1, 1, 5), engine.ones(1, 1, 2))
    tensor([[[1., 3., 5., 7.]]])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1, "conv1d")


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-d cross-correlation of input (N, C, H, W) (or (C, H, W)) with weight
    (O, C/groups, kh, kw), plus bias (O,).

    `stride`, `dilation`: int or pair; `padding`: int, pair, 'valid' or 'same'.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.conv2d(engine.ones(1, 1, 3, 3), engine.ones(1, 1, 2, 2), padding=1).shape
    engine.Size([1, 1, 4, 4])
    """
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2, "conv2d")


def _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, nd: int,
            name: str):
    _check_rank(input, nd, name)
    if isinstance(padding, str):
        raise EngineTypeError(f"{name}(): argument 'padding' must be tuple of ints, not str")
    batched = input.dim() == nd + 2
    x = input if batched else input.unsqueeze(0)
    stride = _expand_param(stride, nd, "stride")
    pads = _expand_param(padding, nd, "padding")
    dilation = _expand_param(dilation, nd, "dilation")
    opad = _expand_param(output_padding, nd, "output_padding")
    _check_common(x, weight, bias, nd, stride, pads, dilation, groups, stride)
    if any(o < 0 for o in opad):
        raise EngineRuntimeError("negative output_padding is not supported")
    if any(o >= s and o >= d for o, s, d in zip(opad, stride, dilation)):
        o2, s2, d2 = _lift(opad, nd, 0), _lift(stride, nd, 1), _lift(dilation, nd, 1)
        raise EngineRuntimeError(
            "output padding must be smaller than either stride or dilation, but got "
            f"output_padding_height: {o2[0]} output_padding_width: {o2[1]} stride_height: "
            f"{s2[0]} stride_width: {s2[1]} dilation_height: {d2[0]} dilation_width: {d2[1]}")
    if x.shape[1] != weight.shape[0]:
        raise EngineRuntimeError(
            f"Given transposed=1, weight of size {list(weight.shape)}, expected "
            f"input{list(x.shape)} to have {weight.shape[0]} channels, but got {x.shape[1]} "
            "channels instead")
    c_out = weight.shape[1] * groups
    if bias is not None and (bias.dim() != 1 or bias.shape[0] != c_out):
        raise _bias_error(weight, bias, c_out, True)
    kernel, size = tuple(weight.shape[2:]), tuple(x.shape[2:])
    out = tuple((n - 1) * s - 2 * p + d * (k - 1) + o + 1
                for n, s, p, d, k, o in zip(size, stride, pads, dilation, kernel, opad))
    if any(o <= 0 for o in out):
        raise EngineRuntimeError(
            f"Given input size per channel: ({' x '.join(map(str, size))}). Calculated output "
            f"size per channel: ({' x '.join(map(str, out))}). Output size is too small")
    geom = Geom(c_out, _lift(out, nd, 1), _lift(size, nd, 1), _lift(kernel, nd, 1),
                _lift(stride, nd, 1), _lift(pads, nd, 0), _lift(dilation, nd, 1), groups)
    y = ConvTranspose.apply(_as2d(x, nd), _as2d(weight, nd), geom=geom)
    if nd == 1:
        y = y.squeeze(-2)
    if bias is not None:
        y = y + bias.reshape((-1,) + (1,) * nd)
    return y if batched else y.squeeze(0)


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """1-d transposed convolution; weight (C_in, C_out/groups, k).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.conv_transpose1d(engine.ones(1, 1, 3), engine.ones(1, 1, 2))
    tensor([[[1., 2., 2., 1.]]])
    """
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 1,
                   "conv_transpose1d")


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1,
                     padding=0, output_padding=0, groups: int = 1, dilation=1) -> Tensor:
    """2-d transposed convolution (the gradient of conv2d w.r.t. its input); weight
    (C_in, C_out/groups, kh, kw). Output size: (H - 1) * stride - 2 * padding +
    dilation * (k - 1) + output_padding + 1.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.conv_transpose2d(engine.ones(1, 2, 3, 3), engine.ones(2, 4, 3, 3), stride=2).shape
    engine.Size([1, 4, 7, 7])
    """
    return _conv_t(input, weight, bias, stride, padding, output_padding, groups, dilation, 2,
                   "conv_transpose2d")


class ConstantPadNd(Op):
    """Constant padding with (before, after) per dim; negative amounts crop. Its
    adjoint is the same op with the amounts negated and value 0."""

    def forward(self, x, pads, value):
        self.pads = pads
        xp = xp_of(x)
        x = x[tuple(slice(max(-b, 0), n - max(-a, 0)) for n, (b, a) in zip(x.shape, pads))]
        pos = [(max(b, 0), max(a, 0)) for b, a in pads]
        shape = tuple(n + b + a for n, (b, a) in zip(x.shape, pos))
        out = xp.full(shape, value, dtype=x.dtype)
        out[tuple(slice(b, b + n) for n, (b, _) in zip(x.shape, pos))] = x
        return out

    def backward(self, g):
        return ConstantPadNd.apply(g, pads=tuple((-b, -a) for b, a in self.pads), value=0)


_PAD_COMBOS = (
    "Supported combinations for non-constant padding:\n"
    "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
    "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
    "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)"
)


def _pad_index(n: int, before: int, after: int, mode: str, arg: int, dim: int, shape):
    pos = np.arange(-before, n + after)
    if mode == "reflect":
        if before >= n or after >= n:
            raise EngineRuntimeError(
                f"Argument #{arg}: Padding size should be less than the corresponding input "
                f"dimension, but got: padding ({before}, {after}) at dimension {dim} of input "
                f"{list(shape)}")
        pos = np.abs(pos)
        return np.where(pos > n - 1, 2 * (n - 1) - pos, pos)
    if mode == "replicate":
        return np.clip(pos, 0, n - 1)
    if before > n or after > n:
        raise EngineRuntimeError("Padding value causes wrapping around more than once.")
    return pos % n


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last len(pad) // 2 dims; `pad` lists (before, after) pairs starting from
    the LAST dim, as PyTorch: (left, right, top, bottom, ...). Negative amounts crop.

    Modes: 'constant' (any number of dims, filled with `value`), 'reflect',
    'replicate' and 'circular' (the last 1-3 dims of a batched or unbatched input).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.pad(engine.tensor([[1.0, 2.0, 3.0]]), (1, 2), value=9)
    tensor([[9., 1., 2., 3., 9., 9.]])
    >>> F.pad(engine.tensor([[1.0, 2.0, 3.0]]), (2, 1), mode="reflect")
    tensor([[3., 2., 1., 2., 3., 2.]])
    """
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2:
        raise EngineRuntimeError("Padding length must be divisible by 2")
    nd = len(pad) // 2
    if nd > input.dim():
        raise EngineRuntimeError(
            "Padding length should be less than or equal to two times the input dimension but "
            f"got padding length {len(pad)} and input of dimension {input.dim()}")
    shape = tuple(input.shape)
    pairs = [(pad[2 * k], pad[2 * k + 1]) for k in range(nd)]  # pairs[k]: dim -1 - k
    if mode == "constant":
        full = [(0, 0)] * (input.dim() - nd) + pairs[::-1]
        if any(n + b + a < 0 for n, (b, a) in zip(shape, full)):
            raise EngineRuntimeError("narrow(): length must be non-negative.")
        return ConstantPadNd.apply(input, pads=tuple(full), value=0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    if value is not None and value != 0:
        raise EngineRuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if len(pad) not in (2, 4, 6) or not nd + 1 <= input.dim() <= nd + 2:
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.dim()}D input tensor.\n"
            + _PAD_COMBOS)
    out = input
    for k, (b, a) in enumerate(pairs):
        dim = input.dim() - 1 - k
        idx = _pad_index(shape[dim], b, a, mode, 4 + 2 * k, dim, shape)
        out = out.index_select(dim, _tensor(idx, device=input.device))
    return out
