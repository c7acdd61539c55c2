"""Adagrad with learning-rate decay and an initial accumulator value."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import EngineValueError
from ..tensor import Tensor
from . import _fused_cuda
from ._elementwise import (
    ElementwiseOptimizer,
    bump_step,
    check_flags,
    check_fused,
    zeros_like_state,
)
from .adam import _decay_grad
from .optimizer import _scalar_state, _value

__all__ = ["Adagrad"]


class Adagrad(ElementwiseOptimizer):
    """Adagrad (Duchi et al.), PyTorch's algorithm: `sum += g * g`,
    `p -= lr / (1 + (t - 1) * lr_decay) * g / (sqrt(sum) + eps)`. Like PyTorch, the
    state (`step`, `sum`) of the constructor's parameters is created eagerly.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0]))
    >>> opt = engine.optim.Adagrad([w], lr=0.1)
    >>> w.sum().backward(); opt.step(); w.tolist()
    [0.8999999761581421]
    """

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0,
                 weight_decay: float = 0, initial_accumulator_value: float = 0,
                 eps: float = 1e-10, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise EngineValueError("Tensor lr must be 1-element")
        if not 0.0 <= lr:
            raise EngineValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise EngineValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise EngineValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise EngineValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}"
            )
        if not 0.0 <= eps:
            raise EngineValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value, "foreach": foreach,
            "maximize": maximize, "differentiable": differentiable, "fused": fused,
        }
        super().__init__(params, defaults)
        check_flags(fused, foreach, differentiable)
        for group in self.param_groups:
            for p in group["params"]:
                if fused:
                    check_fused(p)
                self._init_state(p, self.state[p], self._hyper(group))

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("foreach", None), ("maximize", False),
                               ("differentiable", False), ("fused", None)):
                group.setdefault(key, value)

    def _hyper(self, group) -> SimpleNamespace:
        return SimpleNamespace(
            lr=_value(group["lr"]), wd=group["weight_decay"], eps=group["eps"],
            lr_decay=group["lr_decay"], maximize=group["maximize"],
            init=group["initial_accumulator_value"])

    def _keys(self, h):
        return ("sum",)

    def _init_state(self, p, state, h) -> None:
        state["step"] = _scalar_state()
        state["sum"] = zeros_like_state(p, h.init)

    def _scalars(self, h, p, state) -> tuple:
        step = bump_step(state)
        return (h.lr / (1 + (step - 1) * h.lr_decay),)

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        s = st[0]
        g = _decay_grad(xp, arr, g, t, u, h)
        xp.multiply(g, g, out=u)                     # sum.addcmul_(g, g, value=1)
        xp.add(s, u, out=s)
        xp.sqrt(s, out=u)                            # std = sum.sqrt().add_(eps)
        xp.add(u, h.eps, out=u)
        xp.multiply(g, -sc[0], out=t)                # p.addcdiv_(g, std, value=-clr)
        xp.divide(t, u, out=t)
        xp.add(arr, t, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        _fused_cuda.run("adagrad", p, (g, h.wd, h.eps, -sc[0], int(h.maximize)),
                        (p._data, st[0]))
