"""In-place ops (`add_`, `mul_`, `zero_`, `x += y`, ...).

Outside the graph (no grad needed, e.g. parameter updates under `no_grad()`) they write
into the tensor's memory, so views see the change, and bump its version counter, so a
tensor saved for backward and then modified makes backward raise. When the graph must
record them (grad mode on and an operand requires grad), the op is computed out of place
on a copy of the old value and the result is written back; the tensor then continues the
graph from the op. Like PyTorch, a leaf that requires grad may not be modified in place
while grad mode is on.
"""

from __future__ import annotations

import numbers

from .. import dtypes
from ..autograd.grad_mode import _state, no_grad
from ..backend import transfer
from ..errors import EngineRuntimeError
from ..tensor import Tensor

__all__: list[str] = []

_LEAF_ERROR = (
    "a leaf Variable that requires grad is being used in an in-place operation."
)


def _check_leaf(x: Tensor) -> None:
    if _state.enabled and x._rg and x.grad_fn is None:
        raise EngineRuntimeError(_LEAF_ERROR)


def _check_result(x: Tensor, out: Tensor) -> None:
    if tuple(out.shape) != tuple(x.shape):
        raise EngineRuntimeError(
            f"output with shape {list(x.shape)} doesn't match the broadcast shape "
            f"{list(out.shape)}"
        )
    if out.dtype._category > x.dtype._category:
        raise EngineRuntimeError(
            f"result type {out.dtype.name.capitalize()} can't be cast to the desired output "
            f"type {x.dtype.name.capitalize()}"
        )


def _needs_graph(x: Tensor, *others) -> bool:
    if not _state.enabled:
        return False
    return x._rg or any(isinstance(o, Tensor) and o._rg for o in others)


def _graph_update(x: Tensor, fn, *others) -> Tensor:
    """Record `x <- fn(old x, *others)` in the graph and write the result into x."""
    old = Tensor._wrap(x._data.copy(), x._device, x._rg, x.grad_fn, x._output_nr)
    out = fn(old, *others)
    _check_result(x, out)
    if out.dtype is not x.dtype:
        out = out.to(x.dtype)
    x._data[...] = out._data
    x.grad_fn, x._output_nr, x._rg = out.grad_fn, out._output_nr, out._rg
    if x.grad_fn is not None:
        # the node now produces x: its saved output (if any) must track x's memory
        if getattr(out.grad_fn, "_out", None) is not None and out._output_nr == 0:
            _, _, _, dev = out.grad_fn._out
            out.grad_fn._out = (x._data, x._vc, x._vc.value + 1, dev)
    x._vc.value += 1
    return x


def _operand_array(x: Tensor, other):
    if isinstance(other, Tensor):
        if other._device is not x._device:
            from ..autograd.node import device_mismatch

            if other._data.ndim == 0 and other._device.type == "cpu":
                return transfer(other._data, other._device, x._device)
            raise device_mismatch(x._device, other._device)
        return other._data
    if isinstance(other, numbers.Number):
        return other
    from .creation import as_tensor

    return as_tensor(other, device=x._device)._data


def _arith(ufunc: str, fn):
    def method(self: Tensor, other, *, alpha=1) -> Tensor:
        _check_leaf(self)
        if alpha != 1:
            other = other * alpha
        if _needs_graph(self, other):
            return _graph_update(self, fn, other)
        arr = _operand_array(self, other)
        rt = dtypes.result_type(self, other)
        if ufunc == "divide" and not self.is_floating_point():
            rt = dtypes.float32
        if rt._category > self.dtype._category:
            raise EngineRuntimeError(
                f"result type {rt.name.capitalize()} can't be cast to the desired output type "
                f"{self.dtype.name.capitalize()}"
            )
        xp = self._device.backend.xp
        try:
            getattr(xp, ufunc)(self._data, arr, out=self._data, casting="unsafe")
        except ValueError as e:
            raise EngineRuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"({e})"
            ) from None
        self._vc.value += 1
        return self

    method.__name__ = f"{fn.__name__}_"
    method.__doc__ = f"In-place `{fn.__name__}`; returns self."
    return method


def _from_function(fn):
    """In-place form of an out-of-place op: compute, then write into self."""

    def method(self: Tensor, *args, **kwargs) -> Tensor:
        _check_leaf(self)
        if _needs_graph(self, *args, *kwargs.values()):
            return _graph_update(self, lambda old: fn(old, *args, **kwargs))
        with no_grad():
            out = fn(self, *args, **kwargs)
        _check_result(self, out)
        self._data[...] = out._data
        self._vc.value += 1
        return self

    method.__name__ = f"{fn.__name__}_"
    return method


def zero_(self: Tensor) -> Tensor:
    """Fill with zeros in place.

    >>> import engine
    >>> engine.ones(2).zero_()
    tensor([0., 0.])
    """
    return fill_(self, 0)


def fill_(self: Tensor, value) -> Tensor:
    """Fill with `value` (a number or one-element tensor) in place.

    >>> import engine
    >>> engine.zeros(2).fill_(3)
    tensor([3., 3.])
    """
    _check_leaf(self)
    if isinstance(value, Tensor):
        if _needs_graph(self, value):
            return _graph_update(self, lambda old, v: v.expand(old.shape) + old * 0, value)
        value = value.item()
    self._data.fill(value)
    self._vc.value += 1
    return self


def copy_(self: Tensor, src: Tensor, non_blocking: bool = False) -> Tensor:
    """Copy src (broadcast, cast and moved as needed) into self.

    >>> import engine
    >>> engine.zeros(2, 2).copy_(engine.tensor([1.0, 2.0]))
    tensor([[1., 2.],
            [1., 2.]])
    """
    _check_leaf(self)
    if not isinstance(src, Tensor):
        from .creation import tensor

        src = tensor(src)
    if _needs_graph(self, src):
        return _graph_update(
            self, lambda old, s: s.to(old.device, old.dtype).expand(old.shape) + old * 0, src
        )
    arr = transfer(src._data, src._device, self._device)
    xp = self._device.backend.xp
    try:
        self._data[...] = xp.broadcast_to(arr, self._data.shape).astype(self._data.dtype,
                                                                         copy=False)
    except ValueError:
        raise EngineRuntimeError(
            f"The size of tensor a ({list(self.shape)}) must match the size of tensor b "
            f"({list(src.shape)})"
        ) from None
    self._vc.value += 1
    return self


def uniform_(self: Tensor, a: float = 0.0, b: float = 1.0, *, generator=None) -> Tensor:
    """Fill with samples uniform in [a, b).

    >>> import engine
    >>> bool((engine.empty(100).uniform_(2, 3) >= 2).all())
    True
    """
    from ..random import generator_for

    _check_leaf(self)
    gen = generator_for(self._device, generator)
    with self._device.backend.context(self._device.index or 0):
        sample = gen.uniform(self._data.shape, self._data.dtype)
        self._data[...] = sample * (b - a) + a
    self._vc.value += 1
    return self


def normal_(self: Tensor, mean: float = 0.0, std: float = 1.0, *, generator=None) -> Tensor:
    """Fill with normal samples N(mean, std**2).

    >>> import engine
    >>> engine.empty(3).normal_(0, 1).shape
    engine.Size([3])
    """
    from ..random import generator_for

    _check_leaf(self)
    gen = generator_for(self._device, generator)
    with self._device.backend.context(self._device.index or 0):
        sample = gen.normal(self._data.shape, self._data.dtype)
        self._data[...] = sample * std + mean
    self._vc.value += 1
    return self


def _methods() -> dict:
    from . import binary, elementwise

    methods = {
        "add_": _arith("add", binary.add), "sub_": _arith("subtract", binary.sub),
        "mul_": _arith("multiply", binary.mul), "div_": _arith("divide", binary.div),
        "zero_": zero_, "fill_": fill_, "copy_": copy_, "uniform_": uniform_,
        "normal_": normal_, "pow_": _from_function(binary.pow),
        "neg_": _from_function(binary.neg),
    }
    methods["subtract_"], methods["multiply_"] = methods["sub_"], methods["mul_"]
    methods["divide_"] = methods["div_"]
    methods["__iadd__"], methods["__isub__"] = methods["add_"], methods["sub_"]
    methods["__imul__"], methods["__itruediv__"] = methods["mul_"], methods["div_"]
    for name in ("clamp", "clip", "clamp_min", "clamp_max", "exp", "log", "sqrt", "abs",
                 "sigmoid", "tanh", "relu", "floor", "ceil", "round", "trunc",
                 "reciprocal", "sin", "cos", "masked_fill", "nan_to_num", "sign"):
        fn = _lookup(name, elementwise)
        if fn is not None:
            methods[f"{name}_"] = _from_function(fn)
    return methods


def _lookup(name: str, elementwise):
    from . import activation, indexing

    for module in (elementwise, activation, indexing):
        fn = getattr(module, "METHODS", {}).get(name)
        if fn is not None:
            return fn
    return None


METHODS: dict = {}


def attach(tensor_cls) -> None:
    """Attach the in-place methods (called by engine.ops after all families loaded)."""
    for name, fn in _methods().items():
        setattr(tensor_cls, name, fn)
