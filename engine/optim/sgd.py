"""SGD with momentum, dampening, Nesterov momentum, weight decay and maximize."""

from __future__ import annotations

from types import SimpleNamespace

from ..errors import EngineValueError
from ..tensor import Tensor
from . import _fused_cuda
from ._elementwise import ElementwiseOptimizer, check_flags, zeros_like_state
from .adam import _decay_grad
from .optimizer import _value

__all__ = ["SGD"]


class SGD(ElementwiseOptimizer):
    """Stochastic gradient descent (optionally with momentum), PyTorch's algorithm:
    `buf = momentum * buf + (1 - dampening) * g` (the first step copies g),
    `p -= lr * (g + momentum * buf if nesterov else buf)`.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.tensor([1.0, -1.0]))
    >>> opt = engine.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> for _ in range(2):
    ...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
    >>> w.tolist()
    [0.46000000834465027, -0.46000000834465027]
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, differentiable: bool = False,
                 fused: bool | None = None) -> None:
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise EngineValueError("Tensor lr must be 1-element")
        if lr < 0.0:
            raise EngineValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise EngineValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise EngineValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr, "momentum": momentum, "dampening": dampening,
            "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
            "foreach": foreach, "differentiable": differentiable, "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise EngineValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)
        check_flags(fused, foreach, differentiable)

    def _upgrade_groups(self) -> None:
        for group in self.param_groups:
            for key, value in (("nesterov", False), ("maximize", False), ("foreach", None),
                               ("differentiable", False), ("fused", False)):
                group.setdefault(key, value)

    def _hyper(self, group) -> SimpleNamespace:
        return SimpleNamespace(
            lr=_value(group["lr"]), momentum=group["momentum"], omd=1 - group["dampening"],
            wd=_value(group["weight_decay"]), nesterov=group["nesterov"],
            maximize=group["maximize"])

    def _uses_state(self, h) -> bool:
        return h.momentum != 0  # like PyTorch: no state at all without momentum

    def _keys(self, h):
        return ("momentum_buffer",) if h.momentum != 0 else ()

    def _init_state(self, p, state, h) -> None:
        pass  # the momentum buffer is made by the first step (a copy of the gradient)

    def _scalars(self, h, p, state) -> tuple:
        if h.momentum == 0:
            return ()
        first = "momentum_buffer" not in state
        if first:
            state["momentum_buffer"] = zeros_like_state(p)
        return (first,)

    def _math(self, xp, arr, g, st, t, u, sc, h) -> None:
        g = _decay_grad(xp, arr, g, t, u, h)
        if h.momentum != 0:
            b = st[0]
            if sc[0]:
                xp.copyto(b, g)                      # buf = g.clone()
            else:
                xp.multiply(b, h.momentum, out=b)    # buf.mul_(m).add_(g, alpha=1 - damp)
                if h.omd != 1:
                    xp.multiply(g, h.omd, out=u)
                    xp.add(b, u, out=b)
                else:
                    xp.add(b, g, out=b)
            if h.nesterov:
                xp.multiply(b, h.momentum, out=u)    # g = g.add(buf, alpha=momentum)
                g = xp.add(g, u, out=t)
            else:
                g = b
        xp.multiply(g, -h.lr, out=u)                 # p.add_(g, alpha=-lr)
        xp.add(arr, u, out=arr)

    def _fused(self, p, g, st, sc, h) -> None:
        if h.momentum == 0:
            _fused_cuda.run("sgd", p, (g, h.wd, -h.lr, int(h.maximize)), (p._data,))
        else:
            _fused_cuda.run("sgd_momentum", p, (
                g, h.wd, h.momentum, h.omd, -h.lr, int(h.maximize), int(h.nesterov),
                int(sc[0])), (p._data, st[0]))
