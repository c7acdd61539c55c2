"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, bump_step, check_flags, zeros_like_state
from .adam import _adam_hyper, _check_common, _decay_grad, _moments
from .optimizer import _scalar_state

__all__ = ["RAdam"]


class RAdam(ElementwiseOptimizer):
    """RAdam (Liu et al.), PyTorch's algorithm: while the approximated SMA length
    `rho_t <= 5` the update is plain bias-corrected momentum, then it is rectified
    by `r_t * sqrt(1 - beta2^t) / (sqrt(v) + eps)`.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.RAdam([w], lr=0.1)
    >>> w.sum().backward(); opt.step(); w.tolist()
    [0.8999999761581421]
    """

    def __init__(self, params, lr: float = 1e-3, betas: tuple = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        _check_common(lr, eps, betas, weight_decay)
        defaults = {
            "lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
            "maximize": maximize, "foreach": foreach, "capturable": capturable,
            "decoupled_weight_decay": decoupled_weight_decay,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)
        check_flags(None, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("foreach", None), ("maximize", False),
                               ("differentiable", False), ("decoupled_weight_decay", False),
                               ("capturable", False)):
                group.setdefault(key, value)

    _hyper = staticmethod(_adam_hyper)

    def _keys(self, h):
        return ("exp_avg", "exp_avg_sq")

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["exp_avg"] = zeros_like_state(p)
        state["exp_avg_sq"] = zeros_like_state(p)

    def _scalars(self, h, p, state) -> tuple:
        step = bump_step(state)
        beta2 = h.beta2
        bc1, bc2 = 1 - h.beta1 ** step, 1 - beta2 ** step
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2 ** step) / bc2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            return bc1, bc2 ** 0.5, rect
        return bc1, None, None

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        bc1, bc2s, rect = sc
        m, v = st
        g = _decay_grad(xp, arr, g, t, u, h)
        _moments(xp, g, m, v, u, h)
        xp.divide(m, bc1, out=t)                     # bias-corrected m, times lr
        xp.multiply(t, h.lr, out=t)
        if rect is not None:                         # * (bc2s / (sqrt(v) + eps)) * rect
            xp.sqrt(v, out=u)
            xp.add(u, h.eps, out=u)
            xp.reciprocal(u, out=u)                  # PyTorch: s / x is x.reciprocal() * s
            xp.multiply(u, bc2s, out=u)
            xp.multiply(t, u, out=t)
            xp.multiply(t, rect, out=t)
        xp.subtract(arr, t, out=arr)                 # p.add_(update, alpha=-1)

    def _fused(self, p, g, st, sc, h) -> None:
        bc1, bc2s, rect = sc
        _fused_cuda.run("radam", p, (
            g, h.wd, h.decay, h.w1, h.beta2, h.omb2, bc1, h.lr, bc2s or 1.0, h.eps,
            rect or 1.0, int(h.maximize), int(h.decoupled), int(rect is not None)),
            (p._data, *st))
