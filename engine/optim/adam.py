"""Adam and AdamW (decoupled weight decay), with AMSGrad and maximize."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import EngineValueError
from ..tensor import Tensor
from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, bump_step, check_flags, zeros_like_state
from .optimizer import _scalar_state, _value

__all__ = ["Adam", "AdamW"]


def _check_common(lr, eps, betas, weight_decay) -> None:
    """PyTorch's checks (and messages) of lr, eps, betas and weight_decay."""
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise EngineValueError("Tensor lr must be 1-element")
    if not 0.0 <= lr:
        raise EngineValueError(f"Invalid learning rate: {lr}")
    if not 0.0 <= eps:
        raise EngineValueError(f"Invalid epsilon value: {eps}")
    if betas is not None:
        if not 0.0 <= betas[0] < 1.0:
            raise EngineValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise EngineValueError(f"Invalid beta parameter at index 1: {betas[1]}")
    if not 0.0 <= weight_decay:
        raise EngineValueError(f"Invalid weight_decay value: {weight_decay}")


def _decay_grad(xp, arr, g, t, u, h):
    """maximize, then weight decay (L2 into the gradient, or decoupled onto the
    parameter); returns the gradient to use (possibly the scratch array t)."""
    if h.maximize:
        g = xp.negative(g, out=t)
    if h.wd != 0:
        if getattr(h, "decoupled", False):
            xp.multiply(arr, h.decay, out=arr)       # p.mul_(1 - lr * wd)
        else:
            xp.multiply(arr, h.wd, out=u)            # g = g.add(p, alpha=wd)
            g = xp.add(g, u, out=t)
    return g


def _moments(xp, g, m, v, u, h):
    """m.lerp_(g, 1 - beta1); v.mul_(beta2).addcmul_(g, g, value=1 - beta2), the
    latter as v * beta2 + (g * g) * (1 - beta2) (in-place passes are the cheap ones)."""
    xp.subtract(g, m, out=u)
    xp.multiply(u, h.w1, out=u)
    xp.add(m, u, out=m)
    xp.multiply(g, g, out=u)
    xp.multiply(u, h.omb2, out=u)
    xp.multiply(v, h.beta2, out=v)
    xp.add(v, u, out=v)


def _adam_hyper(group) -> SimpleNamespace:
    lr, wd = _value(group["lr"]), group["weight_decay"]
    beta1, beta2 = (_value(b) for b in group["betas"])
    return SimpleNamespace(
        lr=lr, wd=wd, eps=group["eps"], beta1=beta1, beta2=beta2, w1=1 - beta1,
        omb2=1 - beta2, decay=1 - lr * wd, maximize=group["maximize"],
        amsgrad=group.get("amsgrad", False),
        decoupled=group.get("decoupled_weight_decay", False), fused=group.get("fused"))


class Adam(ElementwiseOptimizer):
    """Adam (Kingma & Ba), PyTorch's single-tensor algorithm:
    `m = lerp(m, g, 1 - beta1)`, `v = beta2 * v + (1 - beta2) * g * g`,
    `p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)`, with the
    bias correction of v folded into two host scalars (one pass fewer; equal up to
    rounding): `p += m / (sqrt(v) + eps * c2) * (-lr * c2 / (1 - beta1^t))`,
    `c2 = sqrt(1 - beta2^t)`.
    `weight_decay` is an L2 penalty added to the gradient, unless
    `decoupled_weight_decay=True` (AdamW).

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0, -2.0]))
    >>> opt = engine.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> w.tolist()
    [0.9000000357627869, -1.899999976158142]
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        _check_common(lr, eps, betas, weight_decay)
        if not ((isinstance(betas[0], float) and isinstance(betas[1], float))
                or (isinstance(betas[0], Tensor) and isinstance(betas[1], Tensor))):
            raise EngineValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise EngineValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = {
            "lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
            "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
            "capturable": capturable, "differentiable": differentiable, "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)
        check_flags(fused, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("amsgrad", False), ("maximize", False), ("foreach", None),
                               ("capturable", False), ("differentiable", False),
                               ("decoupled_weight_decay", False), ("fused", None)):
                group.setdefault(key, value)

    _hyper = staticmethod(_adam_hyper)

    def _keys(self, h):
        return ("exp_avg", "exp_avg_sq", "max_exp_avg_sq") if h.amsgrad else \
            ("exp_avg", "exp_avg_sq")

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["exp_avg"] = zeros_like_state(p)
        state["exp_avg_sq"] = zeros_like_state(p)
        if h.amsgrad:
            state["max_exp_avg_sq"] = zeros_like_state(p)

    def _scalars(self, h, p, state) -> tuple:
        step = bump_step(state)
        bc2s = (1 - h.beta2 ** step) ** 0.5
        return -h.lr / (1 - h.beta1 ** step) * bc2s, h.eps * bc2s

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        nss, epsb = sc
        m, v = st[0], st[1]
        g = _decay_grad(xp, arr, g, t, u, h)
        _moments(xp, g, m, v, u, h)
        if h.amsgrad:
            v = xp.maximum(st[2], v, out=st[2])
        xp.sqrt(v, out=u)                            # denom * bc2s = sqrt(v) + eps * bc2s
        xp.add(u, epsb, out=u)
        xp.divide(m, u, out=u)                       # p.addcdiv_(m, denom, value=-step_size)
        xp.multiply(u, nss, out=u)
        xp.add(arr, u, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        nss, epsb = sc
        _fused_cuda.run("adam_amsgrad" if h.amsgrad else "adam", p, (
            g, h.wd, h.decay, h.w1, h.beta2, h.omb2, epsb, nss,
            int(h.maximize), int(h.decoupled)), (p._data, *st))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): `p *= 1 - lr * wd`
    before the Adam update; `weight_decay` defaults to 0.01.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.AdamW([w], lr=0.1, weight_decay=0.5)
    >>> w.sum().backward(); opt.step(); w.tolist()
    [0.8500000238418579]
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)

    def _upgrade_groups(self) -> None:
        super()._upgrade_groups()
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
