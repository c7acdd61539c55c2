"""`engine.autograd.Function`: custom differentiable ops in PyTorch's protocol.

>>> import engine
>>> class Exp(engine.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         y = x.exp()
...         ctx.save_for_backward(y)
...         return y
...     @staticmethod
...     def backward(ctx, grad):
...         (y,) = ctx.saved_tensors
...         return grad * y
>>> x = engine.tensor([0.0, 1.0], requires_grad=True)
>>> Exp.apply(x).sum().backward(); x.grad
tensor([1.0000, 2.7183])
"""

from __future__ import annotations

from ..errors import EngineRuntimeError
from .grad_mode import _state, no_grad
from .node import _FREED, Node, _modified_error, device_mismatch


class FunctionCtx(Node):
    """The `ctx` of a custom Function: saves tensors and is the graph node."""

    needs_input_grad: tuple = ()  # per forward argument (shadows Node's property)

    def __init__(self, fn_cls) -> None:
        self._fn = fn_cls
        self._to_save = ()
        self._saved = None
        self._materialize = True
        self._nondiff = set()
        self.needs_input_grad = ()

    def name(self) -> str:
        return f"{self._fn.__name__}Backward"

    def save_for_backward(self, *tensors) -> None:
        self._to_save = tensors

    def mark_non_differentiable(self, *tensors) -> None:
        self._nondiff.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = value

    def mark_dirty(self, *tensors) -> None:
        raise EngineRuntimeError("in-place custom Functions (mark_dirty) are not supported")

    @property
    def saved_tensors(self) -> tuple:
        if self._freed:
            raise EngineRuntimeError(_FREED)
        out = []
        for item in self._saved or ():
            if item is None:
                out.append(None)
                continue
            t, version, wrap = item
            if t._vc.value != version:
                raise _modified_error(t, self, version)
            out.append(wrap() if wrap else t)
        return tuple(out)

    def run_backward(self, grads: list) -> tuple:
        out = self._fn.backward(self, *grads)
        out = out if isinstance(out, tuple) else (out,)
        # one gradient per forward argument; keep those of tensor arguments
        return tuple(out[i] if i < len(out) else None for i in self._tensor_positions)

    def release(self) -> None:
        self._freed = True
        self._saved = None


class Function:
    """Subclass with static `forward(ctx, *args)` and `backward(ctx, *grads)`; call
    `apply`. forward runs without recording; backward gets one gradient per output and
    returns one per forward argument (None for non-tensors)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, *grad_outputs):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        from ..tensor import Tensor

        positions = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        tensors = [args[i] for i in positions]
        for t in tensors[1:]:
            if t._device is not tensors[0]._device:
                raise device_mismatch(tensors[0]._device, t._device)
        ctx = FunctionCtx(cls)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        record = _state.enabled and any(t.requires_grad for t in tensors)
        with no_grad():
            out = cls.forward(ctx, *args, **kwargs)
        multi = isinstance(out, tuple)
        outs = out if multi else (out,)
        if not record:
            return out
        results = []
        for nr, o in enumerate(outs):
            if not isinstance(o, Tensor):
                results.append(o)
                continue
            diff = id(o) not in ctx._nondiff and o.is_floating_point()
            r = Tensor._wrap(o._data, o._device, diff, ctx if diff else None, nr)
            r._vc = o._vc
            results.append(r)
        ctx._tensor_positions = positions
        ctx.next_functions = tuple(
            ((t.grad_fn, t._output_nr) if t.grad_fn is not None else (t, -1))
            if t.requires_grad else None
            for t in tensors
        )
        ctx._in_shapes = tuple(t._data.shape for t in tensors)
        ctx._in_dtypes = tuple(t._data.dtype for t in tensors)
        ctx._n_outputs = len(outs)
        ctx._out_meta = tuple(
            (r._data.shape, r.dtype, r._device) if isinstance(r, Tensor) else ((), None, None)
            for r in results
        )
        ctx._saved = tuple(_save(t, outs, results) for t in ctx._to_save)
        ctx._to_save = ()
        return tuple(results) if multi else results[0]


def _save(t, outs, results):
    if t is None:
        return None
    for o, r in zip(outs, results):
        if t is o:  # an output: rebuild it on access to avoid a ctx <-> output cycle
            data, dev, vc, nr = r._data, r._device, r._vc, r._output_nr
            node = r.grad_fn

            def wrap(data=data, dev=dev, vc=vc, nr=nr, node=node):
                from ..tensor import Tensor

                w = Tensor._wrap(data, dev, node is not None and _state.enabled, node, nr)
                w._vc = vc
                return w

            from ..tensor import Tensor

            stand_in = Tensor._wrap(data, dev)
            stand_in._vc = vc
            return (stand_in, vc.value, wrap)
    return (t, t._vc.value, None)
