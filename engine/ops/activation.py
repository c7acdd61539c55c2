"""Activations: relu, leaky_relu, gelu, silu, softplus, elu, hardtanh, relu6, logsigmoid,
mish, softmax, log_softmax, and one_hot.

Gradients at kinks follow PyTorch (relu'(0) = 0, hardtanh passes the gradient strictly
inside its bounds). softmax/log_softmax subtract the max, so huge logits don't overflow.
On CUDA without a recorded backward, relu/gelu/silu backwards and the softmax forward
use fused kernels (`cuda_kernels`). `inplace=True` is accepted where PyTorch has it:
relu runs in place through `relu_`; the others compute out of place.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.grad_mode import _state
from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError, EngineTypeError, EngineValueError
from ..tensor import Tensor
from . import cuda_kernels
from ._util import norm_dim
from .binary import where
from .elementwise import exp, sigmoid, sigmoid_array, tanh
from .piecewise import not_implemented
from .special import erf, erf_array

__all__ = ["relu", "leaky_relu", "gelu", "silu", "softplus", "elu", "hardtanh", "relu6",
           "logsigmoid", "mish", "softmax", "log_softmax", "one_hot"]

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_K_TANH = math.sqrt(2.0 / math.pi)  # gelu tanh approximation
_C_TANH = 0.044715


def _require_float(x: Tensor, name: str) -> Tensor:
    if x._data.dtype.kind != "f":
        raise not_implemented(name, x)
    return x


def _softplus_array(z, xp):
    return xp.maximum(z, 0) + xp.log1p(xp.exp(-xp.abs(z)))


_ZERO_ROWS: dict = {}  # (dtype, n) -> read-only zeros of length n (CPU ReLU)


def _zero_row(dtype, n: int):
    row = _ZERO_ROWS.get((dtype, n))
    if row is None:
        if len(_ZERO_ROWS) >= 64:
            _ZERO_ROWS.clear()
        row = _ZERO_ROWS[(dtype, n)] = np.zeros(n, dtype)
        row.flags.writeable = False
    return row


class Relu(Op):
    def forward(self, x):
        self.save_output()
        if type(x) is np.ndarray and x.ndim and x.shape[-1] >= 16 and x.dtype.kind == "f":
            # NumPy's maximum against a scalar takes a slow loop (measured 2-3x slower on
            # (256, 512) float32); a broadcast row of zeros takes the SIMD one
            return np.maximum(x, _zero_row(x.dtype, x.shape[-1]))
        return xp_of(x).maximum(x, 0)

    def backward(self, g):
        y = self.saved_output
        if cuda_kernels.usable(g):
            return cuda_kernels.run_backward("relu_backward", g, y)
        # a mask multiply: branch-free, ~10x faster than a select on random signs
        if not _state.enabled:  # no graph of the backward: on the arrays
            ya = y._data
            return Tensor._wrap(g._data * (ya > 0).astype(g._data.dtype), g._device)
        return g * (y > 0).to(g.dtype)


class LeakyRelu(Op):
    def forward(self, x, slope):
        self.save_inputs(0)
        self.slope = slope
        return xp_of(x).where(x > 0, x, x * slope)

    def backward(self, g):
        (x,) = self.saved_inputs
        return where(x > 0, g, g * self.slope)


class Gelu(Op):
    def forward(self, x, approximate):
        self.save_inputs(0)
        self.tanh = approximate == "tanh"
        if self.tanh:
            inner = (x + x * x * x * _C_TANH) * _K_TANH
            return x * 0.5 * (1 + xp_of(x).tanh(inner))
        return x * 0.5 * (1 + erf_array(x * _INV_SQRT2))

    def backward(self, g):
        (x,) = self.saved_inputs
        if cuda_kernels.usable(g):
            name = "gelu_tanh_backward" if self.tanh else "gelu_backward"
            return cuda_kernels.run_backward(name, g, x)
        if self.tanh:
            t = tanh((x + x * x * x * _C_TANH) * _K_TANH)
            d = (t + 1) * 0.5 + x * (1 - t * t) * (x * x * (3 * _C_TANH) + 1) * (0.5 * _K_TANH)
            return g * d
        cdf = (erf(x * _INV_SQRT2) + 1) * 0.5
        pdf = exp(x * x * -0.5) * _INV_SQRT_2PI
        return g * (cdf + x * pdf)


class Silu(Op):
    def forward(self, x):
        self.save_inputs(0)
        return x * sigmoid_array(x)

    def backward(self, g):
        (x,) = self.saved_inputs
        if cuda_kernels.usable(g):
            return cuda_kernels.run_backward("silu_backward", g, x)
        s = sigmoid(x)
        return g * s * (x * (1 - s) + 1)


class Softplus(Op):
    def forward(self, x, beta, threshold):
        self.save_inputs(0)
        self.beta, self.threshold = beta, threshold
        xp = xp_of(x)
        z = x * beta
        return xp.where(z > threshold, x, _softplus_array(z, xp) / beta)

    def backward(self, g):
        (x,) = self.saved_inputs
        z = x * self.beta
        return where(z > self.threshold, g, g * sigmoid(z))


class Elu(Op):
    def forward(self, x, alpha):
        self.save_inputs(0)
        self.save_output()
        self.alpha = alpha
        xp = xp_of(x)
        return xp.where(x > 0, x, xp.expm1(xp.minimum(x, 0)) * alpha)

    def backward(self, g):
        (x,) = self.saved_inputs
        # for x <= 0: d/dx alpha * (exp(x) - 1) = y + alpha
        return where(x > 0, g, g * (self.saved_output + self.alpha))


class Hardtanh(Op):
    def forward(self, x, lo, hi):
        self.save_inputs(0)
        self.lo, self.hi = lo, hi
        xp = xp_of(x)
        return xp.minimum(xp.maximum(x, lo), hi).astype(x.dtype, copy=False)

    def backward(self, g):
        (x,) = self.saved_inputs
        return where((x > self.lo) & (x < self.hi), g, 0.0)


class LogSigmoid(Op):
    def forward(self, x):
        self.save_inputs(0)
        xp = xp_of(x)
        return xp.minimum(x, 0) - xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        (x,) = self.saved_inputs
        return g * sigmoid(-x)


class Mish(Op):
    def forward(self, x):
        self.save_inputs(0)
        xp = xp_of(x)
        return x * xp.tanh(_softplus_array(x, xp))

    def backward(self, g):
        (x,) = self.saved_inputs
        t = tanh(softplus(x))
        return g * (t + x * sigmoid(x) * (1 - t * t))


def _along(fn, x, axis):
    """fn(x, axis) on a raw array, handling 0-d and empty inputs."""
    if x.ndim == 0:
        return fn(x.reshape(1), 0).reshape(())
    if x.size == 0:
        return x.copy()
    return fn(x, axis)


def _softmax_array(x, axis):
    xp = xp_of(x)
    if cuda_kernels.usable_array(x):
        return cuda_kernels.softmax_forward(x, axis, xp)
    e = xp.exp(x - x.max(axis=axis, keepdims=True))
    e /= e.sum(axis=axis, keepdims=True)
    return e


def _log_softmax_array(x, axis):
    xp = xp_of(x)
    if cuda_kernels.usable_array(x):
        return cuda_kernels.softmax_forward(x, axis, xp, log=True)
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Op):
    def forward(self, x, dim):
        self.save_output()
        self.dim = dim if x.ndim else None  # 0-d: the backward sums over everything
        return _along(_softmax_array, x, dim)

    def backward(self, g):
        y = self.saved_output
        return y * (g - (g * y).sum(self.dim, keepdim=True))


class LogSoftmax(Op):
    def forward(self, x, dim):
        self.save_output()
        self.dim = dim if x.ndim else None  # 0-d: the backward sums over everything
        return _along(_log_softmax_array, x, dim)

    def backward(self, g):
        y = self.saved_output
        if not _state.enabled and self.dim is not None:  # no graph: on the arrays
            ga = g._data
            e = xp_of(ga).exp(y._data)
            e *= ga.sum(axis=self.dim, keepdims=True)
            return Tensor._wrap(ga - e, g._device)
        return g - exp(y) * g.sum(self.dim, keepdim=True)


def relu(x: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise (gradient 0 at x == 0). `inplace=True` modifies x.

    >>> import engine
    >>> engine.relu(engine.tensor([-1.0, 0.0, 2.0]))
    tensor([0., 0., 2.])
    """
    if inplace and hasattr(x, "relu_"):
        return x.relu_()
    return Relu.apply(x)


def leaky_relu(x: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope * x.

    >>> import engine
    >>> engine.leaky_relu(engine.tensor([-2.0, 3.0]), 0.1)
    tensor([-0.2000,  3.0000])
    """
    return LeakyRelu.apply(_require_float(x, "leaky_relu"), slope=float(negative_slope))


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x) (Phi: the standard normal CDF, via erf); approximate='tanh' uses
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).

    >>> import engine
    >>> engine.gelu(engine.tensor([-1.0, 0.0, 1.0]))
    tensor([-0.1587,  0.0000,  0.8413])
    """
    if approximate not in ("none", "tanh"):
        raise EngineRuntimeError("approximate argument must be either none or tanh.")
    return Gelu.apply(_require_float(x, "GeluKernelImpl"), approximate=approximate)


def silu(x: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish).

    >>> import engine
    >>> engine.silu(engine.tensor([0.0, 1.0]))
    tensor([0.0000, 0.7311])
    """
    return Silu.apply(_require_float(x, "silu"))


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold.

    >>> import engine
    >>> engine.softplus(engine.tensor([0.0, 30.0]))
    tensor([ 0.6931, 30.0000])
    """
    return Softplus.apply(_require_float(x, "softplus"), beta=float(beta),
                          threshold=float(threshold))


def elu(x: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha * (exp(x) - 1).

    >>> import engine
    >>> engine.elu(engine.tensor([-1.0, 2.0]))
    tensor([-0.6321,  2.0000])
    """
    return Elu.apply(_require_float(x, "elu"), alpha=float(alpha))


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient flows strictly inside the bounds.

    >>> import engine
    >>> engine.hardtanh(engine.tensor([-3.0, 0.5, 3.0]))
    tensor([-1.0000,  0.5000,  1.0000])
    """
    if min_val > max_val:
        raise EngineValueError("min_val cannot be greater than max_val")
    return Hardtanh.apply(x, lo=min_val, hi=max_val)


def relu6(x: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6), elementwise.

    >>> import engine
    >>> engine.relu6(engine.tensor([-1.0, 3.0, 8.0]))
    tensor([0., 3., 6.])
    """
    return hardtanh(x, 0.0, 6.0)


def logsigmoid(x: Tensor) -> Tensor:
    """log(sigmoid(x)), computed stably for large |x|.

    >>> import engine
    >>> engine.logsigmoid(engine.tensor([0.0, -200.0]))
    tensor([  -0.6931, -200.0000])
    """
    return LogSigmoid.apply(_require_float(x, "log_sigmoid_forward"))


def mish(x: Tensor, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x)).

    >>> import engine
    >>> engine.mish(engine.tensor([0.0, 1.0]))
    tensor([0.0000, 0.8651])
    """
    return Mish.apply(_require_float(x, "mish"))


def _softmax_input(x: Tensor, dim, dtype, name: str):
    if dim is None:
        raise EngineTypeError(
            f"{name}() requires dim: the implicit dim choice is deprecated in PyTorch and "
            f"not supported here (pass dim=-1 for the last dimension)"
        )
    if dtype is not None:
        x = x.to(dtype)
    return _require_float(x, f"{name}_lastdim_kernel_impl"), norm_dim(dim, x.ndim)


def softmax(x: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along dim (stable: the max is subtracted first).

    `dtype` casts x first (e.g. float64 for extra precision). dim is required.

    >>> import engine
    >>> engine.softmax(engine.tensor([1000.0, 1000.0]), dim=0)
    tensor([0.5000, 0.5000])
    """
    x, d = _softmax_input(x, dim, dtype, "softmax")
    return Softmax.apply(x, dim=d)


def log_softmax(x: Tensor, dim=None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along dim, computed stably. dim is required.

    >>> import engine
    >>> engine.log_softmax(engine.tensor([0.0, 0.0]), dim=-1)
    tensor([-0.6931, -0.6931])
    """
    x, d = _softmax_input(x, dim, dtype, "log_softmax")
    return LogSoftmax.apply(x, dim=d)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 one-hot encoding: a new last dimension of size num_classes (-1: max + 1).

    >>> import engine
    >>> engine.one_hot(engine.tensor([0, 2]), 3)
    tensor([[1, 0, 0],
            [0, 0, 1]])
    """
    a, dev = tensor._data, tensor._device
    if a.dtype != np.int64:
        raise EngineRuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if a.size == 0 and num_classes == -1:
        raise EngineRuntimeError("Can not infer total number of classes from empty tensor.")
    if a.size:
        if int(a.min()) < 0:
            raise EngineRuntimeError("Class values must be non-negative.")
        top = int(a.max())
        if num_classes == -1:
            num_classes = top + 1
        elif top >= num_classes:
            raise EngineRuntimeError("Class values must be smaller than num_classes.")
    if dev.type == "cpu":
        return Tensor._wrap((a[..., None] == np.arange(num_classes)).astype(np.int64), dev)
    with dev.backend.context(dev.index):
        classes = dev.backend.xp.arange(num_classes, dtype=np.int64)
        return Tensor._wrap((a[..., None] == classes).astype(np.int64), dev)


def _softmax_method(self: Tensor, dim, dtype=None) -> Tensor:
    """x.softmax(dim): softmax along dim."""
    return softmax(self, dim, dtype=dtype)


def _log_softmax_method(self: Tensor, dim, dtype=None) -> Tensor:
    """x.log_softmax(dim): log-softmax along dim."""
    return log_softmax(self, dim, dtype=dtype)


METHODS = {"relu": relu, "softmax": _softmax_method, "log_softmax": _log_softmax_method}
