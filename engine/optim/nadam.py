"""NAdam: Adam with Nesterov momentum (and optional decoupled weight decay)."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import EngineValueError
from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, bump_step, check_flags, zeros_like_state
from .adam import _adam_hyper, _check_common, _decay_grad, _moments
from .optimizer import _scalar_state

__all__ = ["NAdam"]


class NAdam(ElementwiseOptimizer):
    """NAdam (Dozat), PyTorch's algorithm with the momentum schedule
    `mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay))` and the running product
    `mu_product` (a 0-d float32 host tensor, like `step`).

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.NAdam([w], lr=0.1)
    >>> w.sum().backward(); opt.step(); round(w.item(), 4)
    0.8944
    """

    _host_keys = ("step", "mu_product")

    def __init__(self, params, lr: float = 2e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps, betas, weight_decay)
        if not 0.0 <= momentum_decay:
            raise EngineValueError(f"Invalid momentum_decay value: {momentum_decay}")
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "momentum_decay": momentum_decay,
            "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize,
            "foreach": foreach, "capturable": capturable, "differentiable": differentiable,
        }
        super().__init__(params, defaults)
        check_flags(None, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("maximize", False), ("foreach", None), ("capturable", False),
                               ("differentiable", False), ("decoupled_weight_decay", False)):
                group.setdefault(key, value)

    def _hyper(self, group) -> SimpleNamespace:
        h = _adam_hyper(group)
        h.md = group["momentum_decay"]
        return h

    def _keys(self, h):
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["mu_product"] = _scalar_state(1.0)
        state["exp_avg"] = zeros_like_state(p)
        state["exp_avg_sq"] = zeros_like_state(p)

    def _scalars(self, h, p, state) -> tuple:
        step = bump_step(state)
        mu = h.beta1 * (1.0 - 0.5 * (0.96 ** (step * h.md)))
        mu_next = h.beta1 * (1.0 - 0.5 * (0.96 ** ((step + 1) * h.md)))
        mp = state["mu_product"]._data
        mp *= mu                                     # a float32 product, like PyTorch's
        mu_product = float(mp)
        c1 = -h.lr * (1.0 - mu) / (1.0 - mu_product)
        c2 = (-h.lr * mu_next) / (1.0 - mu_product * mu_next)
        return 1 - h.beta2 ** step, c1, c2

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        bc2, c1, c2 = sc
        m, v = st
        g = _decay_grad(xp, arr, g, t, u, h)
        _moments(xp, g, m, v, u, h)
        xp.divide(v, bc2, out=u)                     # denom = v.div(bc2).sqrt().add_(eps)
        xp.sqrt(u, out=u)
        xp.add(u, h.eps, out=u)
        xp.multiply(g, c1, out=t)                    # p.addcdiv_(g, denom, value=c1)
        xp.divide(t, u, out=t)
        xp.add(arr, t, out=arr)
        xp.multiply(m, c2, out=t)                    # p.addcdiv_(m, denom, value=c2)
        xp.divide(t, u, out=t)
        xp.add(arr, t, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        bc2, c1, c2 = sc
        _fused_cuda.run("nadam", p, (g, h.wd, h.decay, h.w1, h.beta2, h.omb2, bc2, h.eps,
                                     c1, c2, int(h.maximize), int(h.decoupled)),
                        (p._data, *st))
