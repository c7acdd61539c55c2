"""Fused CUDA optimizer updates: one CuPy `ElementwiseKernel` launch per parameter.

Each kernel does the whole update of one parameter (weight decay, moment updates, bias
corrections, the parameter write) in one pass over memory, in the parameter's precision
(T = float or double), with scalar hyper-parameters computed on the host exactly as the
plain path computes them. The plain path (in-place CuPy ufuncs, the same code that runs
on the CPU) is the reference; tests marked `gpu` compare the two.

Used when the parameter is on CUDA, its dtype is float32/float64 and the group does not
say `fused=False`. Kernels are compiled lazily on first use; CuPy is never imported here
(the array module comes from the parameter's backend). Set `enabled = False` to force
the plain path.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor

enabled = True

_FLOATS = ("float32", "float64")

# Bodies use only declarations, assignments and `sel(c, a, b)` (c ? a : b, defined in
# the preamble), so the tests can also evaluate them with NumPy on the CPU.
_PREAMBLE = "template <typename U> __device__ U sel(bool c, U a, U b) { return c ? a : b; }"
_GRAD = "T grad = sel(maximize, -g, g);\n"
_L2 = "grad = sel(wd != 0, grad + p * (T)wd, grad);\n"
_DECAY = ("T param = sel(wd != 0 && decoupled, p * (T)decay, p);\n"
          "grad = sel(wd != 0 && decoupled == 0, grad + p * (T)wd, grad);\n")
_MOMENTS = ("T ma = m + (grad - m) * (T)w1; m = ma;\n"
            "T va = v * (T)b2 + grad * grad * (T)omb2; v = va;\n")


def _adam(amsgrad: bool):
    out = "T p, T m, T v" + (", T vmax" if amsgrad else "")
    src = "T vm = sel(vmax > va, vmax, va); vmax = vm;\n" if amsgrad else "T vm = va;\n"
    return (
        "T g, float64 wd, float64 decay, float64 w1, float64 b2, float64 omb2, "
        "float64 epsb, float64 nss, int32 maximize, int32 decoupled",
        out,
        _GRAD + _DECAY + _MOMENTS + src
        + "T denom = sqrt(vm) + (T)epsb;\np = param + ma / denom * (T)nss;",
    )


def _sgd(momentum: bool):
    if not momentum:
        return ("T g, float64 wd, float64 nlr, int32 maximize", "T p",
                _GRAD + _L2 + "p = p + grad * (T)nlr;")
    return (
        "T g, float64 wd, float64 momentum, float64 omd, float64 nlr, int32 maximize, "
        "int32 nesterov, int32 first",
        "T p, T buf",
        _GRAD + _L2
        + "T b = sel(first, grad, sel(omd == 1.0, buf * (T)momentum + grad,"
        " buf * (T)momentum + grad * (T)omd));\nbuf = b;\n"
        "T d = sel(nesterov, grad + b * (T)momentum, b);\np = p + d * (T)nlr;",
    )


def _rmsprop(centered: bool, momentum: bool):
    out = "T p, T sq" + (", T ga" if centered else "") + (", T buf" if momentum else "")
    body = _GRAD + _L2 + "T s = sq * (T)alpha + grad * (T)oma * grad; sq = s;\n"
    if centered:
        body += "T a = ga + (grad - ga) * (T)oma; ga = a;\nT avg = sqrt(s + (-a) * a);\n"
    else:
        body += "T avg = sqrt(s);\n"
    body += "avg = avg + (T)eps;\n"
    if momentum:
        body += "T b = buf * (T)momentum + grad / avg; buf = b;\np = p + b * (T)nlr;"
    else:
        body += "p = p + grad * (T)nlr / avg;"
    return ("T g, float64 wd, float64 alpha, float64 oma, float64 eps, float64 momentum, "
            "float64 nlr, int32 maximize", out, body)


_SPECS = {
    "adam": _adam(False),
    "adam_amsgrad": _adam(True),
    "sgd": _sgd(False),
    "sgd_momentum": _sgd(True),
    "rmsprop": _rmsprop(False, False),
    "rmsprop_centered": _rmsprop(True, False),
    "rmsprop_momentum": _rmsprop(False, True),
    "rmsprop_centered_momentum": _rmsprop(True, True),
    "adagrad": (
        "T g, float64 wd, float64 eps, float64 nclr, int32 maximize", "T p, T s",
        _GRAD + _L2 + "T ss = s + grad * grad; s = ss;\n"
        "p = p + grad * (T)nclr / (sqrt(ss) + (T)eps);",
    ),
    "adamax": (
        "T g, float64 wd, float64 w1, float64 b2, float64 eps, float64 nclr, int32 maximize",
        "T p, T m, T u",
        _GRAD + _L2 + "T ma = m + (grad - m) * (T)w1; m = ma;\n"
        "T ub = u * (T)b2; T ag = fabs(grad) + (T)eps; T ua = sel(ub > ag, ub, ag); u = ua;\n"
        "p = p + ma * (T)nclr / ua;",
    ),
    "nadam": (
        "T g, float64 wd, float64 decay, float64 w1, float64 b2, float64 omb2, float64 bc2, "
        "float64 eps, float64 c1, float64 c2, int32 maximize, int32 decoupled",
        "T p, T m, T v",
        _GRAD + _DECAY + _MOMENTS
        + "T denom = sqrt(va / (T)bc2) + (T)eps;\nparam = param + grad * (T)c1 / denom;\n"
        "p = param + ma * (T)c2 / denom;",
    ),
    "radam": (
        "T g, float64 wd, float64 decay, float64 w1, float64 b2, float64 omb2, float64 bc1, "
        "float64 lr, float64 bc2s, float64 eps, float64 rect, int32 maximize, "
        "int32 decoupled, int32 adaptive",
        "T p, T m, T v",
        _GRAD + _DECAY + _MOMENTS
        + "T upd = ma / (T)bc1 * (T)lr;\n"
        "T alr = ((T)1 / (sqrt(va) + (T)eps)) * (T)bc2s;\n"
        "upd = sel(adaptive, upd * alr * (T)rect, upd);\np = param - upd;",
    ),
}

_cache: dict = {}


def usable(p: Tensor, group: dict) -> bool:
    """Whether the fused kernel updates parameter p of `group`."""
    return (enabled and p._device.type == "cuda" and group.get("fused") is not False
            and p._data.dtype.name in _FLOATS)


def kernel(name: str, xp):
    """The compiled ElementwiseKernel `name` (built on first use)."""
    k = _cache.get(name)
    if k is None:
        in_params, out_params, body = _SPECS[name]
        k = _cache[name] = xp.ElementwiseKernel(in_params, out_params, body,
                                                f"engine_optim_{name}", preamble=_PREAMBLE)
    return k


def _scalar_types(name: str) -> list:
    types = _types.get(name)
    if types is None:
        params = [s.split() for s in _SPECS[name][0].split(",")]
        types = _types[name] = [None if t == "T" else np.dtype(t).type for t, _ in params]
    return types


_types: dict = {}


def run(name: str, p: Tensor, ins: tuple, outs: tuple) -> None:
    """Launch kernel `name` on p's device: inputs `ins` (grad array, then scalars, given
    to the kernel as NumPy scalars of the declared types), read-write arrays `outs` (the
    parameter's array first, then its state arrays)."""
    dev = p._device
    args = [a if t is None else t(a) for a, t in zip(ins, _scalar_types(name))]
    with dev.backend.context(dev.index or 0):
        kernel(name, dev.backend.xp)(*args, *outs)
