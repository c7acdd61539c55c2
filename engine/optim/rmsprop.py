"""RMSprop, optionally centered and with momentum."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import EngineValueError
from ..tensor import Tensor
from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, bump_step, check_flags, zeros_like_state
from .adam import _decay_grad
from .optimizer import _scalar_state, _value

__all__ = ["RMSprop"]


class RMSprop(ElementwiseOptimizer):
    """RMSprop (Hinton), PyTorch's algorithm: `v = alpha * v + (1 - alpha) * g * g`,
    `avg = sqrt(v - E[g]^2 if centered else v) + eps`, then
    `buf = momentum * buf + g / avg; p -= lr * buf` (or `p -= lr * g / avg`).

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.RMSprop([w], lr=0.01)
    >>> w.sum().backward(); opt.step(); w.tolist()
    [0.9000000357627869]
    """

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise EngineValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise EngineValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise EngineValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise EngineValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise EngineValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise EngineValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr, "momentum": momentum, "alpha": alpha, "eps": eps,
            "centered": centered, "weight_decay": weight_decay, "capturable": capturable,
            "foreach": foreach, "maximize": maximize, "differentiable": differentiable,
        }
        super().__init__(params, defaults)
        check_flags(None, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("momentum", 0), ("centered", False), ("foreach", None),
                               ("maximize", False), ("differentiable", False),
                               ("capturable", False)):
                group.setdefault(key, value)

    def _hyper(self, group) -> SimpleNamespace:
        return SimpleNamespace(
            lr=_value(group["lr"]), alpha=group["alpha"], oma=1 - group["alpha"],
            eps=group["eps"], wd=group["weight_decay"], momentum=group["momentum"],
            centered=group["centered"], maximize=group["maximize"])

    def _keys(self, h):
        return ("square_avg",) + (("momentum_buffer",) if h.momentum > 0 else ()) + (
            ("grad_avg",) if h.centered else ())

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["square_avg"] = zeros_like_state(p)
        if h.momentum > 0:
            state["momentum_buffer"] = zeros_like_state(p)
        if h.centered:
            state["grad_avg"] = zeros_like_state(p)

    def _scalars(self, h, p, state) -> tuple:
        bump_step(state)
        return ()

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        sq = st[0]
        g = _decay_grad(xp, arr, g, t, u, h)
        xp.multiply(sq, h.alpha, out=sq)             # sq.mul_(alpha).addcmul_(g, g, 1-alpha)
        xp.multiply(g, h.oma, out=u)
        xp.multiply(u, g, out=u)
        xp.add(sq, u, out=sq)
        if h.centered:
            ga = st[-1]
            xp.subtract(g, ga, out=u)                # ga.lerp_(g, 1 - alpha)
            xp.multiply(u, h.oma, out=u)
            xp.add(ga, u, out=ga)
            xp.negative(ga, out=u)                   # sq.addcmul(ga, ga, value=-1).sqrt_()
            xp.multiply(u, ga, out=u)
            xp.add(sq, u, out=u)
            xp.sqrt(u, out=u)
        else:
            xp.sqrt(sq, out=u)
        xp.add(u, h.eps, out=u)
        if h.momentum > 0:
            buf = st[1]
            xp.multiply(buf, h.momentum, out=buf)    # buf.mul_(momentum).addcdiv_(g, avg)
            xp.divide(g, u, out=t)
            xp.add(buf, t, out=buf)
            xp.multiply(buf, -h.lr, out=t)           # p.add_(buf, alpha=-lr)
        else:
            xp.multiply(g, -h.lr, out=t)             # p.addcdiv_(g, avg, value=-lr)
            xp.divide(t, u, out=t)
        xp.add(arr, t, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        name = "rmsprop" + ("_centered" if h.centered else "") + (
            "_momentum" if h.momentum > 0 else "")
        sq, rest = st[0], st[1:]
        ordered = (sq, *rest[::-1]) if h.momentum > 0 and h.centered else (sq, *rest)
        _fused_cuda.run(name, p, (g, h.wd, h.alpha, h.oma, h.eps, h.momentum, -h.lr,
                                  int(h.maximize)), (p._data, *ordered))
