"""Fused CuPy kernels for hot activation paths on CUDA.

Used only on CUDA tensors of float32/float64, and for backwards only when the backward
pass is not being recorded (`create_graph=False`, so grad mode is off inside the walk):
a recorded backward must be built from Tensor ops so that double backward works. Each
kernel has the plain Tensor-op path as its reference (tests marked `gpu`).

Kernels are compiled lazily on first use; CuPy is never imported by this module (the
array module comes from the tensor's backend). Set `enabled = False` to force the plain
paths (tests do this to compare the two).
"""

from __future__ import annotations

import numpy as np

from ..autograd.grad_mode import _state
from ..tensor import Tensor

enabled = True

_FLOATS = ("float32", "float64")
_INV_SQRT2 = "0.70710678118654752440"
_INV_SQRT_2PI = "0.39894228040143267794"
_SQRT_2_OVER_PI = "0.79788456080286535588"

# name -> (in_params, out_params, body); T is float or double
_SPECS = {
    "relu_backward": ("T g, T y", "T dx", "dx = y > (T)0 ? g : (T)0"),
    "sigmoid_backward": ("T g, T y", "T dx", "dx = g * y * ((T)1 - y)"),
    "tanh_backward": ("T g, T y", "T dx", "dx = g * ((T)1 - y * y)"),
    "silu_backward": (
        "T g, T x", "T dx",
        "T s = (T)1 / ((T)1 + exp(-x)); dx = g * s * ((T)1 + x * ((T)1 - s))",
    ),
    "gelu_backward": (
        "T g, T x", "T dx",
        f"T cdf = (T)0.5 * ((T)1 + erf(x * (T){_INV_SQRT2}));"
        f"T pdf = exp((T)-0.5 * x * x) * (T){_INV_SQRT_2PI};"
        "dx = g * (cdf + x * pdf)",
    ),
    "gelu_tanh_backward": (
        "T g, T x", "T dx",
        f"const T k = (T){_SQRT_2_OVER_PI}; const T c = (T)0.044715;"
        "T t = tanh(k * (x + c * x * x * x));"
        "dx = g * ((T)0.5 * ((T)1 + t)"
        " + (T)0.5 * x * ((T)1 - t * t) * k * ((T)1 + (T)3 * c * x * x))",
    ),
    "softmax_exp": ("T x, T m", "T e", "e = exp(x - m)"),
}

_cache: dict = {}


def usable(t: Tensor, backward: bool = True) -> bool:
    """Whether a fused kernel may replace the plain path for tensor t."""
    if not enabled or t._device.type != "cuda" or t._data.dtype.name not in _FLOATS:
        return False
    return not (backward and _state.enabled)


def usable_array(arr) -> bool:
    """Whether a fused kernel may be used in a forward on raw array arr."""
    return enabled and not isinstance(arr, np.ndarray | np.generic) and \
        arr.dtype.name in _FLOATS


def kernel(name: str, xp):
    """The compiled ElementwiseKernel `name` (built on first use)."""
    k = _cache.get(name)
    if k is None:
        in_params, out_params, body = _SPECS[name]
        k = _cache[name] = xp.ElementwiseKernel(in_params, out_params, body,
                                                f"engine_{name}")
    return k


def run_backward(name: str, g: Tensor, saved: Tensor) -> Tensor:
    """Apply the backward kernel `name` to (g, saved) and wrap the result (no graph)."""
    dev = saved._device
    a = saved._data
    garr = g._data if g._data.dtype == a.dtype else g._data.astype(a.dtype)
    with dev.backend.context(dev.index):
        out = kernel(name, dev.backend.xp)(garr, a)
    return Tensor._wrap(out, dev)


def softmax_forward(x, axis: int, xp, log: bool = False):
    """Softmax (or log-softmax) of a raw CuPy array along axis: max, fused exp, sum."""
    m = x.max(axis=axis, keepdims=True)
    e = kernel("softmax_exp", xp)(x, m)
    s = e.sum(axis=axis, keepdims=True)
    if log:
        return x - (m + xp.log(s))
    e /= s
    return e
