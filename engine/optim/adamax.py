"""Adamax: Adam with the infinity norm."""

from __future__ import annotations

from types import SimpleNamespace

from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, bump_step, check_flags, zeros_like_state
from .adam import _check_common, _decay_grad
from .optimizer import _scalar_state, _value

__all__ = ["Adamax"]


class Adamax(ElementwiseOptimizer):
    """Adamax (Kingma & Ba), PyTorch's algorithm: `m = lerp(m, g, 1 - beta1)`,
    `u = max(beta2 * u, |g| + eps)`, `p -= lr / (1 - beta1^t) * m / u`.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.Adamax([w], lr=0.1)
    >>> w.sum().backward(); opt.step(); w.tolist()
    [0.8999999761581421]
    """

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, foreach: bool | None = None,
                 *, maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        _check_common(lr, eps, betas, weight_decay)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
            "capturable": capturable,
        }
        super().__init__(params, defaults)
        check_flags(None, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("foreach", None), ("maximize", False),
                               ("differentiable", False), ("capturable", False)):
                group.setdefault(key, value)

    def _hyper(self, group) -> SimpleNamespace:
        beta1, beta2 = group["betas"]
        return SimpleNamespace(lr=_value(group["lr"]), wd=group["weight_decay"],
                               eps=group["eps"], beta1=beta1, beta2=beta2, w1=1 - beta1,
                               maximize=group["maximize"])

    def _keys(self, h):
        return ("exp_avg", "exp_inf")

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["exp_avg"] = zeros_like_state(p)
        state["exp_inf"] = zeros_like_state(p)

    def _scalars(self, h, p, state) -> tuple:
        step = bump_step(state)
        return (h.lr / (1 - h.beta1 ** step),)

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        m, inf = st
        g = _decay_grad(xp, arr, g, t, u, h)
        xp.subtract(g, m, out=u)                     # m.lerp_(g, 1 - beta1)
        xp.multiply(u, h.w1, out=u)
        xp.add(m, u, out=m)
        xp.multiply(inf, h.beta2, out=inf)           # max(inf * beta2, |g| + eps)
        xp.abs(g, out=u)
        xp.add(u, h.eps, out=u)
        xp.maximum(inf, u, out=inf)
        xp.multiply(m, -sc[0], out=t)                # p.addcdiv_(m, inf, value=-clr)
        xp.divide(t, inf, out=t)
        xp.add(arr, t, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        _fused_cuda.run("adamax", p, (g, h.wd, h.w1, h.beta2, h.eps, -sc[0],
                                      int(h.maximize)), (p._data, *st))
