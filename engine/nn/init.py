"""engine.nn.init: in-place parameter initializers, as torch.nn.init.

They run without recording the graph and draw from the tensor's device generator, so
`engine.manual_seed` makes them reproducible.
"""

from __future__ import annotations

import math

from ..autograd.grad_mode import no_grad
from ..errors import EngineValueError
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "uniform_", "normal_", "constant_", "zeros_", "ones_", "eye_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_",
    "orthogonal_", "trunc_normal_", "dirac_",
]


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    >>> from engine.nn import init
    >>> round(init.calculate_gain("relu"), 4)
    1.4142
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, int | float):
            raise EngineValueError(f"negative_slope {slope} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise EngineValueError(f"Unsupported nonlinearity {nonlinearity}")


def _fan_in_and_fan_out(t: Tensor) -> tuple[int, int]:
    if t.dim() < 2:
        raise EngineValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(t.shape[2:]) if t.dim() > 2 else 1
    return t.shape[1] * receptive, t.shape[0] * receptive


def _fan(t: Tensor, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise EngineValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _fan_in_and_fan_out(t)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill t with U(a, b).

    >>> import engine
    >>> from engine.nn import init
    >>> bool((init.uniform_(engine.empty(100), -1, 1).abs() <= 1).all())
    True
    """
    with no_grad():
        return t.uniform_(a, b, generator=generator)


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill t with N(mean, std^2)."""
    with no_grad():
        return t.normal_(mean, std, generator=generator)


def trunc_normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0, generator=None) -> Tensor:
    """Fill t with N(mean, std^2) truncated to [a, b] (inverse-CDF sampling)."""
    def cdf(x: float) -> float:
        return (1.0 + math.erf(x / math.sqrt(2.0))) / 2.0

    lo, hi = cdf((a - mean) / std), cdf((b - mean) / std)
    with no_grad():
        t.uniform_(2 * lo - 1, 2 * hi - 1, generator=generator)
        t.copy_(_erfinv(t))
        t.mul_(std * math.sqrt(2.0)).add_(mean)
        t.clamp_(min=a, max=b)
    return t


def _erfinv(t: Tensor) -> Tensor:
    """Inverse error function (Giles' single-precision approximation, refined by Newton
    steps on erf) for the truncated-normal sampler."""
    xp = t._device.backend.xp
    x = t._data.astype("float64")
    w = -xp.log((1.0 - x) * (1.0 + x))
    small = w < 5.0
    ws = w - 2.5
    wl = xp.sqrt(xp.maximum(w, 5.0)) - 3.0
    ps = ws * 0 + 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503,
              -0.00417768164, 0.246640727, 1.50140941):
        ps = c + ps * ws
    pl = wl * 0 - 0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613,
              0.00943887047, 1.00167406, 2.83297682):
        pl = c + pl * wl
    y = xp.where(small, ps, pl) * x
    from ..ops.special import erf_array

    for _ in range(2):  # Newton: y -= (erf(y) - x) / erf'(y)
        y = y - (erf_array(y) - x) / (2.0 / math.sqrt(math.pi) * xp.exp(-y * y))
    return Tensor._wrap(y.astype(t._data.dtype), t._device)


def reset_weight_and_bias(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default for Linear and Conv layers: kaiming_uniform_(a=sqrt(5)) weight,
    bias U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in, _ = _fan_in_and_fan_out(weight)
        if fan_in > 0:
            bound = 1 / math.sqrt(fan_in)
            uniform_(bias, -bound, bound)


def constant_(t: Tensor, val: float) -> Tensor:
    """Fill t with val."""
    with no_grad():
        return t.fill_(val)


def zeros_(t: Tensor) -> Tensor:
    return constant_(t, 0.0)


def ones_(t: Tensor) -> Tensor:
    return constant_(t, 1.0)


def eye_(t: Tensor) -> Tensor:
    """Fill a 2-d tensor with the identity matrix."""
    if t.dim() != 2:
        raise EngineValueError("Only tensors with 2 dimensions are supported")
    from ..ops.creation import eye

    with no_grad():
        return t.copy_(eye(t.shape[0], t.shape[1], dtype=t.dtype, device=t.device))


def dirac_(t: Tensor, groups: int = 1) -> Tensor:
    """Fill a 3/4/5-d conv weight with the Dirac delta (identity convolution)."""
    if t.dim() not in (3, 4, 5):
        raise EngineValueError("Only tensors with 3, 4, or 5 dimensions are supported")
    out_per_group = t.shape[0] // groups
    n = min(out_per_group, t.shape[1])
    with no_grad():
        t.zero_()
        centre = tuple(s // 2 for s in t.shape[2:])
        for g in range(groups):
            for d in range(n):
                t._data[(g * out_per_group + d, d) + centre] = 1
        t._vc.value += 1
    return t


def xavier_uniform_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot uniform: U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fan_in_and_fan_out(t)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(t, -a, a, generator)


def xavier_normal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Glorot normal: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fan_in_and_fan_out(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def kaiming_uniform_(t: Tensor, a: float = 0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He uniform: U(-b, b), b = gain * sqrt(3 / fan) (PyTorch's Linear/Conv default)."""
    if 0 in t.shape:
        return t
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode))
    return uniform_(t, -bound, bound, generator)


def kaiming_normal_(t: Tensor, a: float = 0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """He normal: N(0, std^2), std = gain / sqrt(fan)."""
    if 0 in t.shape:
        return t
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode)),
                   generator)


def orthogonal_(t: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """Fill t (>= 2-d, flattened to rows x cols) with a (semi-)orthogonal matrix."""
    if t.dim() < 2:
        raise EngineValueError("Only tensors with 2 or more dimensions are supported")
    if t.numel() == 0:
        return t
    from ..ops.creation import randn

    rows = t.shape[0]
    cols = t.numel() // rows
    flat = randn(rows, cols, dtype=t.dtype, device=t.device, generator=generator)
    xp = t._device.backend.xp
    a = flat._data.T if rows < cols else flat._data
    q, r = xp.linalg.qr(a)
    q = q * xp.sign(xp.diagonal(r))
    if rows < cols:
        q = q.T
    with no_grad():
        t._data[...] = (q * gain).reshape(t.shape).astype(t._data.dtype)
        t._vc.value += 1
    return t
