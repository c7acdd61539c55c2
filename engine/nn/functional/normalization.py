"""Normalization: F.batch_norm, F.layer_norm, F.group_norm.

All three normalize x over some axes and then apply a per-feature affine map, so they
share one primitive op, `Normalize`: the statistics run over `axes` of x (for group norm,
of x viewed as (N, groups, C // groups, -1)) and the weight/bias broadcast against it.
Its backward is the hand-derived fused formula

    dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)),  dxhat = g * w

computed on raw arrays when no graph is being built (create_graph=False: a few passes
over the data), and with Tensor ops otherwise, so double backward works. Batch norm in
evaluation mode is an affine map of x, written with Tensor ops.
"""

from __future__ import annotations

import math
import numbers

from ...autograd.grad_mode import _state
from ...autograd.node import Op
from ...backend import xp_of
from ...errors import EngineRuntimeError, EngineTypeError, EngineValueError
from ...ops.indexing import device_ctx
from ...tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm"]


def _count(shape, axes) -> int:
    return math.prod(shape[a] for a in axes)


def _sum_prod(xp, a, b, axes: tuple):
    """sum(a * b) over `axes`, keeping them as size-1 dims, without the a * b temporary."""
    letters = "abcdefghijklmnopqrstuvwxyz"[:a.ndim]
    out = "".join(c for i, c in enumerate(letters) if i not in axes)
    r = xp.einsum(f"{letters},{letters}->{out}", a, b)
    return r.reshape([1 if i in axes else n for i, n in enumerate(a.shape)])


class Normalize(Op):
    """(x - mean) * rstd [* w] [+ b], statistics over `axes` (kept as size-1 dims).

    `view`, when given, is the shape x is viewed as (the output has x's shape); `axes`
    and w and b refer to it: w and b have its ndim, with size 1 on the dims they broadcast
    over. `stats`, when a list, receives the (mean, biased var) raw arrays.

    >>> import engine
    >>> x = engine.tensor([[1.0, 3.0], [0.0, 4.0]])
    >>> Normalize.apply(x, axes=(1,), eps=0.0, has_w=False, has_b=False)
    tensor([[-1.,  1.],
            [-1.,  1.]])
    """

    def forward(self, x, *wb, axes, eps, has_w, has_b, stats=None, view=None):
        xp = xp_of(x)
        self.axes, self.eps, self.has_w, self.has_b = axes, eps, has_w, has_b
        self.view = view
        shape = x.shape
        if view is not None:
            x = x.reshape(view)
        mean = x.mean(axis=axes, keepdims=True)
        y = x - mean
        var = xp.square(y).mean(axis=axes, keepdims=True)  # pairwise sums: accurate
        rstd = 1.0 / xp.sqrt(var + eps)
        if has_w and self._w_constant(wb[0].shape):
            y *= rstd * wb[0]  # one pass: the scale is per group, like rstd
        else:
            y *= rstd
            if has_w:
                y *= wb[0]
        if has_b:
            y += wb[-1]
        self.mean, self.rstd = mean, rstd
        self.save_inputs(*((0, 1) if has_w else (0,)))
        if stats is not None:
            stats.append((mean, var))
        return y if view is None else y.reshape(shape)

    def _w_constant(self, wshape) -> bool:
        """Whether w is constant over the statistics axes (batch norm; not layer norm)."""
        return all(wshape[a] == 1 for a in self.axes)

    def _param_axes(self, ndim: int, wshape) -> tuple:
        """The dims that weight/bias broadcast over (their gradients sum over them)."""
        return tuple(i for i in range(ndim) if wshape[i] == 1)

    def backward(self, g):
        saved = self.saved_inputs
        x, w = saved[0], (saved[1] if self.has_w else None)
        if not _state.enabled:
            return self._backward_arrays(g, x, w)
        return self._backward_tensors(g, x, w)

    def _backward_arrays(self, g, x, w):
        """The fused backward on raw arrays (no graph is recorded)."""
        dev, axes, view, rstd = g._device, self.axes, self.view, self.rstd
        gd, xd = g._data, x._data
        if view is not None:
            gd, xd = gd.reshape(view), xd.reshape(view)
        shapes = self._in_shapes
        n = _count(xd.shape, axes)
        xp = xp_of(gd)
        gw = gb = gx = None
        with device_ctx(dev):
            xhat = xd - self.mean
            xhat *= rstd
            if self.has_w or self.has_b:
                paxes = self._param_axes(gd.ndim, shapes[1])
                if self.has_w and self.needs_grad(1):
                    gw = _sum_prod(xp, gd, xhat, paxes)
                if self.has_b and self.needs_grad(1 + self.has_w):
                    gb = gd.sum(axis=paxes, keepdims=True)
            if self.needs_grad(0):
                if not self.has_w or self._w_constant(shapes[1]):
                    # mean(g w) = w mean(g), mean(g w xhat) = w mean(g xhat): per group
                    same = self.has_w and paxes == axes
                    sg = gb if same and gb is not None else gd.sum(axis=axes, keepdims=True)
                    sgx = gw if same and gw is not None else _sum_prod(xp, gd, xhat, axes)
                    a = rstd * w._data if self.has_w else rstd
                    gx = gd * a
                    xhat *= a * sgx * (1.0 / n)
                    gx -= xhat
                    gx -= a * sg * (1.0 / n)
                else:
                    gx = gd * w._data
                    m1 = gx.sum(axis=axes, keepdims=True) * (1.0 / n)
                    m2 = _sum_prod(xp, gx, xhat, axes) * (1.0 / n)
                    gx -= m1
                    xhat *= m2
                    gx -= xhat
                    gx *= rstd
                if view is not None:
                    gx = gx.reshape(shapes[0])
        out = [gx] + ([gw] if self.has_w else []) + ([gb] if self.has_b else [])
        return tuple(None if a is None else Tensor._wrap(a, dev) for a in out)

    def _backward_tensors(self, g, x, w):
        """The same formula in Tensor ops (recorded: double backward works)."""
        axes, view = self.axes, self.view
        if view is not None:
            x, g = x.reshape(view), g.reshape(view)
        mean = x.mean(axes, keepdim=True)
        xc = x - mean
        rstd = ((xc * xc).mean(axes, keepdim=True) + self.eps).rsqrt()
        xhat = xc * rstd
        out = [None]
        if self.has_w or self.has_b:
            paxes = self._param_axes(g.ndim, self._in_shapes[1])
        if self.has_w:
            out.append((g * xhat).sum(paxes, keepdim=True) if self.needs_grad(1) else None)
        if self.has_b:
            out.append(g.sum(paxes, keepdim=True) if self.needs_grad(len(out)) else None)
        if self.needs_grad(0):
            gxhat = g * w if self.has_w else g
            gx = (gxhat - gxhat.mean(axes, keepdim=True)
                  - xhat * (gxhat * xhat).mean(axes, keepdim=True)) * rstd
            out[0] = gx if view is None else gx.reshape(self._in_shapes[0])
        return tuple(out)


class NativeBatchNorm(Normalize):
    """Normalize for batch norm (named as PyTorch's grad_fn).

    >>> import engine
    >>> x = engine.randn(4, 2, requires_grad=True)
    >>> engine.nn.functional.batch_norm(x, None, None, training=True).grad_fn
    <NativeBatchNormBackward0 object>
    """


class NativeLayerNorm(Normalize):
    """Normalize for layer norm.

    >>> import engine
    >>> x = engine.randn(4, 2, requires_grad=True)
    >>> engine.nn.functional.layer_norm(x, (2,)).grad_fn
    <NativeLayerNormBackward0 object>
    """


class NativeGroupNorm(Normalize):
    """Normalize for group norm.

    >>> import engine
    >>> x = engine.randn(4, 2, requires_grad=True)
    >>> engine.nn.functional.group_norm(x, 1).grad_fn
    <NativeGroupNormBackward0 object>
    """


def _normalize(op, x: Tensor, axes: tuple, weight, bias, eps: float, pshape: tuple,
               stats=None, view=None) -> Tensor:
    params = [p.reshape(pshape) for p in (weight, bias) if p is not None]
    return op.apply(x, *params, axes=axes, eps=float(eps), has_w=weight is not None,
                    has_b=bias is not None, stats=stats, view=view)


def _verify_batch_size(size) -> None:
    n = size[0]
    for s in size[2:]:
        n *= s
    if n == 1:
        raise EngineValueError(
            f"Expected more than 1 value per channel when training, got input size {size}"
        )


def _check_numel(t: Tensor | None, name: str, n: int) -> None:
    if t is not None and t.numel() != n:
        raise EngineRuntimeError(f"{name} should contain {n} elements not {t.numel()}")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalization over dim 1 (channels) of an (N, C, *) input.

    In training, normalizes with the batch statistics and, when running_mean/var are
    given, updates them in place: `r = (1 - momentum) * r + momentum * stat`, with the
    unbiased batch variance. Otherwise normalizes with the running statistics.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> x = engine.tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> rm, rv = engine.zeros(2), engine.ones(2)
    >>> F.batch_norm(x, rm, rv, training=True)
    tensor([[-1.0000, -1.0000],
            [ 1.0000,  1.0000]])
    >>> rm, rv
    (tensor([0.2000, 0.4000]), tensor([1.1000, 1.7000]))
    """
    if momentum is None:
        raise EngineTypeError(
            "batch_norm(): argument 'momentum' (position 7) must be float, not NoneType"
        )
    if training:
        _verify_batch_size(input.size())
    if training and eps <= 0.0:
        raise EngineValueError(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise EngineValueError(f"batch_norm eps must be non-negative, but got {eps}")
    if input.dim() < 2:
        raise EngineValueError(f"Expected 2D or more input (got {input.dim()}D input)")
    shape = tuple(input.shape)
    n_ch = shape[1]
    for t, name in ((weight, "weight"), (bias, "bias"), (running_mean, "running_mean"),
                    (running_var, "running_var")):
        _check_numel(t, name, n_ch)
    axes = (0,) + tuple(range(2, len(shape)))
    pshape = (1, n_ch) + (1,) * (len(shape) - 2)
    if not training:
        if running_mean is None or running_var is None:
            which = "running_mean" if running_mean is None else "running_var"
            raise EngineRuntimeError(f"{which} must be defined in evaluation mode")
        scale = (running_var + eps).rsqrt()
        if weight is not None:
            scale = scale * weight
        shift = -running_mean * scale
        if bias is not None:
            shift = shift + bias
        return input * scale.reshape(pshape) + shift.reshape(pshape)
    stats = [] if running_mean is not None or running_var is not None else None
    y = _normalize(NativeBatchNorm, input, axes, weight, bias, eps, pshape, stats)
    if stats:
        _update_running(running_mean, running_var, stats[0], input.numel() // n_ch,
                        float(momentum))
    return y


def _update_running(rm, rv, stats, n: int, momentum: float) -> None:
    mean, var = stats
    for buf, stat in ((rm, mean), (rv, var * (n / (n - 1)) if n > 1 else var)):
        if buf is None:
            continue
        with device_ctx(buf._device):
            a = buf._data
            a *= 1.0 - momentum
            a += (stat.reshape(a.shape) * momentum).astype(a.dtype, copy=False)
        buf._vc.value += 1


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the trailing `normalized_shape` dims, then scale by weight and add
    bias (both of shape normalized_shape).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.layer_norm(engine.tensor([[1.0, 3.0], [0.0, 10.0]]), (2,))
    tensor([[-1.0000,  1.0000],
            [-1.0000,  1.0000]])
    """
    ns = ((normalized_shape,) if isinstance(normalized_shape, numbers.Integral)
          else tuple(int(s) for s in normalized_shape))
    shape = tuple(input.shape)
    k = len(ns)
    if k == 0 or len(shape) < k or shape[len(shape) - k:] != ns:
        raise EngineRuntimeError(
            f"Given normalized_shape={list(ns)}, expected input with shape "
            f"[*, {', '.join(map(str, ns))}], but got input of size{list(shape)}"
        )
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and tuple(t.shape) != ns:
            raise EngineRuntimeError(
                f"Expected {name} to be of same shape as normalized_shape, but got {name} of "
                f"shape {list(t.shape)} and normalized_shape = {list(ns)}"
            )
    lead = len(shape) - k
    axes = tuple(range(lead, len(shape)))
    return _normalize(NativeLayerNorm, input, axes, weight, bias, eps, (1,) * lead + ns)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each of `num_groups` groups of channels (dim 1) of each sample, then
    apply a per-channel weight and bias.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.group_norm(engine.tensor([[1.0, 3.0, 5.0, 5.0]]), 2)
    tensor([[-1.0000,  1.0000,  0.0000,  0.0000]])
    """
    if input.dim() < 2:
        raise EngineRuntimeError(
            f"Expected at least 2 dimensions for input tensor but received {input.dim()}"
        )
    shape = tuple(input.shape)
    n, c = shape[0], shape[1]
    if num_groups <= 0 or c % num_groups:
        raise EngineRuntimeError(
            "Expected number of channels in input to be divisible by num_groups, but got "
            f"input of shape {list(shape)} and num_groups={num_groups}"
        )
    _verify_batch_size([n * c // num_groups, num_groups] + list(shape[2:]))
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None and (t.dim() != 1 or t.numel() != c):
            raise EngineRuntimeError(
                f"Expected {name} to be a vector of size equal to the number of channels in "
                f"input, but got {name} of shape {list(t.shape)} and input of shape "
                f"{list(shape)}"
            )
    per = c // num_groups
    view = (n, num_groups, per, input.numel() // max(n * c, 1))
    return _normalize(NativeGroupNorm, input, (2, 3), weight, bias, eps,
                      (1, num_groups, per, 1), view=view)
