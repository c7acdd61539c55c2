"""engine.nn.utils: gradient clipping and flat parameter vectors, as torch.nn.utils."""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..autograd.grad_mode import no_grad
from ..errors import EngineRuntimeError
from ..tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters"]


def _grads(parameters) -> list[Tensor]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def clip_grad_norm_(parameters: Iterable[Tensor] | Tensor, max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach=None) -> Tensor:
    """Scale gradients in place so their joint norm is at most max_norm; returns the
    total norm before clipping.

    >>> import engine
    >>> from engine import nn
    >>> p = nn.Parameter(engine.ones(4)); p.grad = engine.full((4,), 3.0)
    >>> nn.utils.clip_grad_norm_([p], 1.0)
    tensor(6.)
    >>> round(p.grad.norm().item(), 4)
    1.0
    """
    from ..ops.creation import tensor

    grads = _grads(parameters)
    if not grads:
        return tensor(0.0)
    norm_type = float(norm_type)
    with no_grad():
        if norm_type == math.inf:
            norms = [g.detach().abs().max() for g in grads]
            total = norms[0] if len(norms) == 1 else _stack_max(norms)
        else:
            per = [g.detach().norm(norm_type).to(grads[0].device) for g in grads]
            total = per[0] if len(per) == 1 else _stack_norm(per, norm_type)
        if error_if_nonfinite and not bool(total.isfinite()):
            raise EngineRuntimeError(
                f"The total norm of order {norm_type} for gradients from `parameters` is "
                "non-finite, so it cannot be clipped. To disable this error and scale the "
                "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
            )
        coef = (max_norm / (total + 1e-6)).clamp(max=1.0)
        for g in grads:
            g.mul_(coef.to(g.device, g.dtype))
    return total


def _stack_norm(norms: list[Tensor], p: float) -> Tensor:
    from ..ops.join import stack

    return stack(norms).norm(p)


def _stack_max(norms: list[Tensor]) -> Tensor:
    from ..ops.join import stack

    return stack(norms).max()


def clip_grad_value_(parameters: Iterable[Tensor] | Tensor, clip_value: float,
                     foreach=None) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place."""
    with no_grad():
        for g in _grads(parameters):
            g.clamp_(-clip_value, clip_value)


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """All parameters flattened and concatenated into one vector.

    >>> import engine
    >>> from engine import nn
    >>> nn.utils.parameters_to_vector(nn.Linear(2, 3).parameters()).shape
    engine.Size([9])
    """
    from ..ops.join import cat

    return cat([p.reshape(-1) for p in parameters])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy slices of vec into the parameters (inverse of parameters_to_vector)."""
    if not isinstance(vec, Tensor):
        raise EngineRuntimeError(f"expected torch.Tensor, but got: {type(vec).__name__}")
    offset = 0
    with no_grad():
        for p in parameters:
            n = p.numel()
            p.copy_(vec[offset:offset + n].reshape(p.shape))
            offset += n
