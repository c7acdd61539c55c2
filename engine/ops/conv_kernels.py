"""Raw-array kernels and Ops for convolution, padding and sliding-window pooling.

Convolution is im2col + ONE large GEMM per group: the zero-padded input is viewed
through `as_strided` as windows and copied once into a contiguous patch matrix
(C * kh * kw, N * Ho * Wo), so batch and pixels form the GEMM's long dimension (many
small per-sample GEMMs synchronise BLAS threads once each, which is slow, and very slow
on a loaded machine); groups are the batch dim of one matmul call. The weight gradient
is one GEMM against the same patch matrix; the input gradient is the transposed GEMM
followed by col2im, a scatter-add of strided slices over the kh*kw kernel offsets (no
loop over pixels or batch). Max pooling keeps the argmax's kernel offset per window and
selects/scatters with bitwise masks (NumPy's masked `where=` copies are far slower).

Three Ops are the three partial derivatives of one trilinear form T(x, w, y) =
<y, conv(x, w)>, so each one's backward is built from the other two and derivatives
of any order work:

- `Conv(x, w[, b])`: y = conv(x, w) (+ b)
- `ConvTranspose(y, w)`: dT/dx, the input gradient, also F.conv_transpose2d
- `ConvWeight(x, y)`: dT/dw, the weight gradient

All work on 4-d NCHW arrays; 1-d convolutions are run with H = 1.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..autograd.node import Op
from ..backend import xp_of

__all__: list[str] = []


class Geom(NamedTuple):
    """Geometry of a 2-d sliding window: `size` is the (H, W) of the input side, `out`
    the (Ho, Wo) of the window grid, `pad` the leading (top, left) zero padding; the
    trailing padding is whatever the last window needs."""

    channels: int
    size: tuple
    out: tuple
    kernel: tuple
    stride: tuple
    pad: tuple
    dilation: tuple
    groups: int = 1

    def canvas(self) -> tuple:
        """(Hc, Wc): the padded extent that holds the input and every window."""
        return tuple(
            max(n + p, (o - 1) * s + d * (k - 1) + 1)
            for n, p, o, s, d, k in zip(self.size, self.pad, self.out, self.stride,
                                        self.dilation, self.kernel)
        )


def as_divisor(div, like):
    """A Python number, or a NumPy array as `like`'s float dtype on its device."""
    if isinstance(div, np.ndarray):
        return xp_of(like).asarray(div.astype(like.dtype if like.dtype.kind == "f"
                                              else np.float64))
    return div


def pad_canvas(x, g: Geom, fill=0):
    """x (N, C, H, W) placed at offset `g.pad` in a `fill`-valued canvas (no copy when
    no padding is needed)."""
    hc, wc = g.canvas()
    (h, w), (ph, pw) = g.size, g.pad
    if (hc, wc) == (h, w) and ph == pw == 0:
        return x
    xp = xp_of(x)
    c = xp.full(x.shape[:2] + (hc, wc), fill, dtype=x.dtype)
    c[:, :, ph:ph + h, pw:pw + w] = x
    return c


def windows(c, g: Geom):
    """A strided view (N, C, kh, kw, Ho, Wo) of a canvas: the im2col patches, uncopied.

    >>> import numpy as np
    >>> from engine.ops.conv_kernels import Geom, windows
    >>> g = Geom(1, (3, 3), (2, 2), (2, 2), (1, 1), (0, 0), (1, 1))
    >>> windows(np.arange(9.0).reshape(1, 1, 3, 3), g)[0, 0, :, :, 1, 1]
    array([[4., 5.],
           [7., 8.]])
    """
    xp = xp_of(c)
    s = c.strides
    (kh, kw), (ho, wo) = g.kernel, g.out
    (sh, sw), (dh, dw) = g.stride, g.dilation
    return xp.lib.stride_tricks.as_strided(
        c, c.shape[:2] + (kh, kw, ho, wo),
        (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw))


def offsets(g: Geom):
    """(i, j, rows, cols) for every kernel offset: the canvas slices that offset reads."""
    (kh, kw), (ho, wo) = g.kernel, g.out
    (sh, sw), (dh, dw) = g.stride, g.dilation
    for i in range(kh):
        for j in range(kw):
            yield (i, j, slice(i * dh, i * dh + (ho - 1) * sh + 1, sh),
                   slice(j * dw, j * dw + (wo - 1) * sw + 1, sw))


def scatter_windows(values, g: Geom, n: int, c: int, dtype):
    """col2im: add values[:, :, i, j] (N, C, kh, kw, Ho, Wo) into the canvas at every
    kernel offset, then crop the padding: the adjoint of `windows(pad_canvas(.))`."""
    xp = xp_of(values)
    canvas = xp.zeros((n, c) + g.canvas(), dtype=dtype)
    for i, j, rows, cols in offsets(g):
        canvas[:, :, rows, cols] += values[:, :, i, j]
    return crop(canvas, g)


def crop(canvas, g: Geom):
    """The input region of a canvas, contiguous."""
    (h, w), (ph, pw) = g.size, g.pad
    if canvas.shape[2:] == (h, w):
        return canvas
    return xp_of(canvas).ascontiguousarray(canvas[:, :, ph:ph + h, pw:pw + w])


def _patches(x, g: Geom):
    """The contiguous patch matrix (G, C/G * kh * kw, N * Ho * Wo) of input x: batch and
    pixels share the GEMM's long dimension, so each conv is ONE large GEMM per group."""
    xp = xp_of(x)
    c = pad_canvas(x, g)
    s = c.strides
    (kh, kw), (ho, wo) = g.kernel, g.out
    (sh, sw), (dh, dw) = g.stride, g.dilation
    view = xp.lib.stride_tricks.as_strided(
        c, (c.shape[1], kh, kw, c.shape[0], ho, wo),
        (s[1], s[2] * dh, s[3] * dw, s[0], s[2] * sh, s[3] * sw))
    return xp.ascontiguousarray(view).reshape(g.groups, c.shape[1] // g.groups * kh * kw,
                                              c.shape[0] * ho * wo)


def _grouped(y, groups: int):
    """y (N, O, Ho, Wo) as the contiguous GEMM operand (G, O/G, N * Ho * Wo)."""
    n, o = y.shape[:2]
    size = y.shape[2] * y.shape[3]
    yt = xp_of(y).ascontiguousarray(y.reshape(n, o, size).transpose(1, 0, 2))
    return yt.reshape(groups, o // groups, n * size)


def conv_forward(x, w, g: Geom, b=None):
    """y (N, O, Ho, Wo) = conv(x, w) + b: one GEMM (per group) over the patch matrix,
    the bias added in place, then one copy back to NCHW."""
    xp = xp_of(x)
    n, o, grp = x.shape[0], w.shape[0], g.groups
    size = g.out[0] * g.out[1]
    y = xp.matmul(w.reshape(grp, o // grp, w[0].size), _patches(x, g))  # (G, O/G, N * L)
    y = y.reshape(o, n, size)
    if b is not None:
        y += b.reshape(o, 1, 1)  # on the GEMM's own layout: a fast broadcast
    return xp.ascontiguousarray(y.transpose(1, 0, 2)).reshape((n, o) + tuple(g.out))


def conv_input_grad(gy, w, g: Geom, gy_t=None):
    """dT/dx: the transposed GEMM then col2im; x has g.channels channels. `gy_t` is
    `_grouped(gy)` when the caller already has it."""
    xp = xp_of(gy)
    n, o, grp = gy.shape[0], w.shape[0], g.groups
    wm = w.reshape(grp, o // grp, w[0].size)
    if gy_t is None:
        gy_t = _grouped(gy, grp)
    gcols = xp.matmul(xp.swapaxes(wm, -1, -2), gy_t)  # (G, Cg*kh*kw, N*L)
    gcols = gcols.reshape((g.channels,) + tuple(g.kernel) + (n,) + tuple(g.out))
    return scatter_windows(gcols.transpose(3, 0, 1, 2, 4, 5), g, n, g.channels, gy.dtype)


def conv_weight_grad(x, gy, g: Geom, gy_t=None):
    """dT/dw (O, C/G, kh, kw): one GEMM (per group) contracting over N * Ho * Wo."""
    xp = xp_of(x)
    o, grp = gy.shape[1], g.groups
    if gy_t is None:
        gy_t = _grouped(gy, grp)
    gw = xp.matmul(gy_t, xp.swapaxes(_patches(x, g), -1, -2))
    return gw.reshape((o, g.channels // grp) + tuple(g.kernel))


class Conv(Op):
    """y = conv(x, w) (+ b); backward via ConvTranspose and ConvWeight.

    >>> import engine
    >>> from engine.ops.conv_kernels import Conv, Geom
    >>> g = Geom(1, (3, 3), (2, 2), (2, 2), (1, 1), (0, 0), (1, 1))
    >>> Conv.apply(engine.ones(1, 1, 3, 3), engine.ones(1, 1, 2, 2), geom=g)
    tensor([[[[4., 4.],
              [4., 4.]]]])
    """

    def name(self) -> str:  # as PyTorch names this grad_fn
        return "ConvolutionBackward0"

    def forward(self, x, w, b=None, *, geom):
        self.geom = geom
        self.save_inputs(0, 1)
        return conv_forward(x, w, geom, b)

    def backward(self, gy):
        x, w = self.saved_inputs
        g = self.geom
        # both gradients contract the same transposed gy: make it once
        both = self.needs_grad(0) and self.needs_grad(1)
        gy_t = _grouped(gy._data, g.groups) if both else None
        gx = ConvTranspose.apply(gy, w, geom=g, gy_t=gy_t) if self.needs_grad(0) else None
        gw = ConvWeight.apply(x, gy, geom=g, gy_t=gy_t) if self.needs_grad(1) else None
        if len(self.next_functions) == 2:
            return gx, gw
        return gx, gw, (ChannelSum.apply(gy) if self.needs_grad(2) else None)


class ChannelSum(Op):
    """y (N, C, H, W) summed to (C,): the bias gradient, as one GEMV with a ones vector
    (several times faster than NumPy's sum over axes (0, 2, 3))."""

    def forward(self, y):
        xp = xp_of(y)
        n, c = y.shape[:2]
        size = y.shape[2] * y.shape[3]
        if y.dtype.kind != "f" or not y.flags.c_contiguous:
            return y.sum(axis=(0, 2, 3))
        ones = xp.ones(size, dtype=y.dtype)
        return xp.matmul(y.reshape(n * c, size), ones).reshape(n, c).sum(axis=0)

    def backward(self, g):
        return g.reshape(1, -1, 1, 1).expand(self._in_shapes[0])


class ConvTranspose(Op):
    """x-shaped dT/dx = conv_transpose(y, w); linear in y and in w."""

    def name(self) -> str:  # as PyTorch names this grad_fn
        return "ConvolutionBackward0"

    def forward(self, y, w, *, geom, gy_t=None):
        self.geom = geom
        self.save_inputs(0, 1)
        return conv_input_grad(y, w, geom, gy_t)

    def backward(self, gx):
        y, w = self.saved_inputs
        g = self.geom
        gy = Conv.apply(gx, w, geom=g) if self.needs_grad(0) else None
        gw = ConvWeight.apply(gx, y, geom=g) if self.needs_grad(1) else None
        return gy, gw


class ConvWeight(Op):
    """w-shaped dT/dw = correlation of x with y; linear in x and in y."""

    def forward(self, x, y, *, geom, gy_t=None):
        self.geom = geom
        self.save_inputs(0, 1)
        return conv_weight_grad(x, y, geom, gy_t)

    def backward(self, gw):
        x, y = self.saved_inputs
        g = self.geom
        gx = ConvTranspose.apply(y, gw, geom=g) if self.needs_grad(0) else None
        gy = Conv.apply(x, gw, geom=g) if self.needs_grad(1) else None
        return gx, gy


def _select(v, mask):
    """v where mask else exactly 0 (bitwise, so an inf or NaN elsewhere can't leak), as
    a new array: NumPy's masked copies (`where=`) are several times slower."""
    xp = xp_of(v)
    bits = np.dtype(f"u{v.dtype.itemsize}")
    m = xp.multiply(mask, bits.type(np.iinfo(bits).max), dtype=bits)  # 0 or all ones
    m &= v.view(bits)
    return m.view(v.dtype)


def _overlap(g: Geom) -> bool:
    return any(s < d * (k - 1) + 1 for s, d, k in zip(g.stride, g.dilation, g.kernel))


def max_windows(x, g: Geom):
    """Max over each window of x (N, C, H, W) padded with -inf (the integer minimum
    for integers): (out, arg) where arg (uint8 or int32) is the flat kernel offset
    i * kw + j of the first maximum, or of the last NaN (PyTorch's choice)."""
    xp = xp_of(x)
    floating = x.dtype.kind == "f"
    fill = -np.inf if floating else np.iinfo(x.dtype).min
    win = windows(pad_canvas(x, g, fill), g)
    kw = g.kernel[1]
    out = win[:, :, 0, 0].copy()
    arg = xp.zeros(out.shape, dtype=np.uint8 if g.kernel[0] * kw <= 256 else np.int32)
    for i, j, _, _ in offsets(g):
        if i or j:
            v = win[:, :, i, j]
            upd = xp.multiply(v > out, i * kw + j, dtype=arg.dtype)
            xp.maximum(arg, upd, out=arg)  # offsets only grow: arg = i * kw + j where v won
            xp.maximum(out, v, out=out)  # NaN propagates
    if floating and xp.isnan(out).any():  # rare: point arg at the last NaN
        for i, j, _, _ in offsets(g):
            v = win[:, :, i, j]
            arg = xp.where(v != v, arg.dtype.type(i * kw + j), arg)
    return out, arg


def flat_indices(arg, g: Geom):
    """Kernel offsets of `max_windows` as flat int64 indices h * W + w into the input."""
    xp = xp_of(arg)
    kw = g.kernel[1]
    arg = arg.astype(np.int64)
    (sh, sw), (dh, dw), (ph, pw) = g.stride, g.dilation, g.pad
    rows = xp.arange(g.out[0]).reshape(-1, 1) * sh - ph + (arg // kw) * dh
    cols = xp.arange(g.out[1]) * sw - pw + (arg % kw) * dw
    return rows * g.size[1] + cols


class MaxScatter(Op):
    """g (N, C, Ho, Wo) added into zeros (N, C, H, W) at each window's argmax."""

    def forward(self, g, *, geom, arg):
        self.geom, self.arg = geom, arg
        xp = xp_of(g)
        kw = geom.kernel[1]
        n, c = g.shape[:2]
        canvas = xp.zeros((n, c) + geom.canvas(), dtype=g.dtype)
        overlap = _overlap(geom)
        for i, j, rows, cols in offsets(geom):
            part = _select(g, arg == i * kw + j)
            if overlap:
                canvas[:, :, rows, cols] += part
            else:
                canvas[:, :, rows, cols] = part
        return crop(canvas, geom)

    def backward(self, gg):
        return MaxGather.apply(gg, geom=self.geom, arg=self.arg)


class MaxGather(Op):
    """x (N, C, H, W) read at each window's argmax: (N, C, Ho, Wo)."""

    def forward(self, x, *, geom, arg):
        self.geom, self.arg = geom, arg
        xp = xp_of(x)
        win = windows(pad_canvas(x, geom), geom)
        kw = geom.kernel[1]
        bits = xp.zeros(arg.shape, dtype=f"u{x.dtype.itemsize}")
        for i, j, _, _ in offsets(geom):
            bits |= _select(win[:, :, i, j], arg == i * kw + j).view(bits.dtype)
        return bits.view(x.dtype)

    def backward(self, g):
        return MaxScatter.apply(g, geom=self.geom, arg=self.arg)


class MaxPool(Op):
    """(values, kernel offsets of the maxima) of each window; offsets are int64."""

    def name(self) -> str:  # as PyTorch names this grad_fn
        return "MaxPool2DWithIndicesBackward0"

    def forward(self, x, *, geom):
        self.geom = geom
        out, self.arg = max_windows(x, geom)
        self.mark_non_differentiable(1)
        return out, self.arg

    def backward(self, g, _):
        return MaxScatter.apply(g, geom=self.geom, arg=self.arg)


class WindowSum(Op):
    """Sum over each window of x zero-padded, divided by `div` (a number or an (Ho, Wo)
    array): average pooling. Its adjoint is `WindowSpread`."""

    def name(self) -> str:  # as PyTorch names this grad_fn
        return "AvgPool2DBackward0"

    def forward(self, x, *, geom, div):
        self.geom, self.div = geom, div
        xp = xp_of(x)
        win = windows(pad_canvas(x, geom), geom)
        out = xp.zeros(x.shape[:2] + tuple(geom.out), dtype=x.dtype)
        for i, j, _, _ in offsets(geom):
            out += win[:, :, i, j]
        div = as_divisor(div, x)
        if x.dtype.kind == "f":
            out /= div
            return out
        return (out / div).astype(x.dtype)  # integers: truncated, like PyTorch

    def backward(self, g):
        return WindowSpread.apply(g, geom=self.geom, div=self.div)


class WindowSpread(Op):
    """g / div spread back over every window it summed (col2im)."""

    def forward(self, g, *, geom, div):
        self.geom, self.div = geom, div
        xp = xp_of(g)
        gs = g / as_divisor(div, g)
        vals = xp.broadcast_to(gs[:, :, None, None], gs.shape[:2] + tuple(geom.kernel)
                               + gs.shape[2:])
        return scatter_windows(vals, geom, g.shape[0], g.shape[1], g.dtype)

    def backward(self, gg):
        return WindowSum.apply(gg, geom=self.geom, div=self.div)
