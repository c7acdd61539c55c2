"""Graph nodes and `Op`, the base class of every primitive op.

An `Op` subclass computes its `forward` on raw arrays (NumPy or CuPy, through `xp`)
and its `backward` on Tensors, so that with `create_graph=True` the backward pass is
itself recorded and second derivatives work. Inputs and outputs that backward needs are
saved by index; their version counters are checked when backward reads them, so a
tensor modified in place after it was saved raises instead of giving a wrong gradient.
"""

from __future__ import annotations

import numpy as np

from ..errors import DeviceError, EngineRuntimeError
from .grad_mode import _state

Tensor = None  # engine.tensor.Tensor, set by engine.tensor (it imports this module)

_FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)


class VersionCounter:
    """Counts in-place writes to a storage; shared by a tensor and its views."""

    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0


class Node:
    """A recorded operation: the `grad_fn` of the tensors it produced.

    `next_functions[i]` is the edge to input i: `(node, output_nr)` for a non-leaf,
    `(leaf_tensor, -1)` for a leaf that requires grad, or None.
    """

    next_functions: tuple = ()
    _in_shapes: tuple = ()
    _in_dtypes: tuple = ()
    _n_outputs = 1
    _freed = False
    _retained = None  # {output_nr: weakref to tensor} for retain_grad()
    _pre_hooks = None  # {output_nr: [hooks]} from Tensor.register_hook

    def name(self) -> str:
        return f"{type(self).__name__}Backward0"

    def needs_grad(self, i: int) -> bool:
        """Whether input i needs a gradient (backward may return None for it)."""
        return self.next_functions[i] is not None

    @property
    def needs_input_grad(self) -> tuple[bool, ...]:
        return tuple(e is not None for e in self.next_functions)

    def __repr__(self) -> str:
        return f"<{self.name()} object>"

    def run_backward(self, grads: list) -> tuple:  # pragma: no cover - abstract
        raise NotImplementedError

    def release(self) -> None:
        """Free what was saved for backward (after a backward without retain_graph)."""
        self._freed = True


class Op(Node):
    """Base of primitive ops: `forward` on arrays, `backward` on Tensors.

    >>> import engine
    >>> from engine.autograd.node import Op
    >>> class Square(Op):
    ...     def forward(self, x):
    ...         self.save_inputs(0)
    ...         return x * x
    ...     def backward(self, g):
    ...         (x,) = self.saved_inputs
    ...         return g * 2 * x
    >>> x = engine.tensor([3.0], requires_grad=True)
    >>> Square.apply(x).backward(engine.ones(1)); x.grad
    tensor([6.])
    """

    is_view = False  # outputs may share memory with input 0
    _save_in: tuple = ()
    _save_out = False
    _saved = None
    _saved_versions = None
    _out = None  # (array, version counter, version) of output 0 when saved
    _nondiff: tuple = ()

    # -- used inside forward -------------------------------------------------
    def save_inputs(self, *indices: int) -> None:
        """Keep inputs (by position) for backward; read them back via `saved_inputs`."""
        self._save_in = indices

    def save_output(self) -> None:
        """Keep output 0 for backward; read it back via `saved_output`."""
        self._save_out = True

    def mark_non_differentiable(self, *indices: int) -> None:
        """Outputs (by position) that never require grad, e.g. argmax indices."""
        self._nondiff = indices

    # -- used inside backward -----------------------------------------------
    @property
    def saved_inputs(self) -> tuple:
        if self._freed:
            raise EngineRuntimeError(_FREED)
        for t, v in zip(self._saved, self._saved_versions):
            if t._vc.value != v:
                raise _modified_error(t, self, v)
        return self._saved

    @property
    def saved_output(self):
        if self._freed:
            raise EngineRuntimeError(_FREED)
        arr, vc, v, dev = self._out
        if vc.value != v:
            raise _modified_error(Tensor._wrap(arr, dev), self, v)
        t = Tensor._wrap(arr, dev, _state.enabled, self, 0)
        t._vc = vc
        return t

    def forward(self, *arrays, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    def backward(self, *grads):  # pragma: no cover - abstract
        raise NotImplementedError

    def run_backward(self, grads: list) -> tuple:
        out = self.backward(*grads)
        return out if type(out) is tuple else (out,)

    def release(self) -> None:
        self._freed = True
        self._saved = None
        self._out = None

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run the op on Tensors; record it in the graph when grad is needed."""
        x0 = inputs[0]
        dev = x0._device
        if len(inputs) == 1:
            arrays = (x0._data,)
            rg = x0._rg
        else:
            rg = False
            for t in inputs:
                if t._device is not dev:
                    raise device_mismatch(dev, t._device)
                if t._rg:
                    rg = True
            arrays = [t._data for t in inputs]
        op = object.__new__(cls)
        if dev.type == "cpu":
            out = op.forward(*arrays, **kwargs)
        else:
            with dev.backend.context(dev.index):
                out = op.forward(*arrays, **kwargs)
        record = rg and _state.enabled
        if type(out) is tuple:
            return op._wrap_outputs(out, inputs, dev, record)
        if type(out) is not np.ndarray and dev.type == "cpu":
            out = np.asarray(out)
        if record and out.dtype.kind == "f":
            result = Tensor._wrap(out, dev, True, op, 0)
            op._link(inputs)
            if op._save_out:
                op._out = (out, result._vc, 0, dev)
        else:
            result = Tensor._wrap(out, dev)
        if cls.is_view and _may_share(out, x0._data, dev):
            result._vc = x0._vc
            if op._save_out and record:
                op._out = (out, x0._vc, x0._vc.value, dev)
        return result

    def _link(self, inputs) -> None:
        """Record edges to the inputs, their metadata and the saved inputs."""
        if len(inputs) == 1:
            t = inputs[0]
            self.next_functions = (_edge(t),)
            self._in_shapes = (t._data.shape,)
            self._in_dtypes = (t._data.dtype,)
        else:
            self.next_functions = tuple([_edge(t) for t in inputs])
            self._in_shapes = tuple([t._data.shape for t in inputs])
            self._in_dtypes = tuple([t._data.dtype for t in inputs])
        if self._save_in:
            saved = self._saved = tuple(inputs[i] for i in self._save_in)
            self._saved_versions = tuple(t._vc.value for t in saved)

    def _wrap_outputs(self, outs: tuple, inputs, dev, record: bool) -> tuple:
        results = []
        any_diff = False
        for nr, arr in enumerate(outs):
            if dev.type == "cpu" and type(arr) is not np.ndarray:
                arr = np.asarray(arr)
            diff = record and nr not in self._nondiff and arr.dtype.kind == "f"
            any_diff = any_diff or diff
            results.append(Tensor._wrap(arr, dev, diff, self if diff else None, nr))
        if type(self).is_view:
            base = inputs[0]._data
            for t in results:
                if _may_share(t._data, base, dev):
                    t._vc = inputs[0]._vc
        if any_diff:
            self._n_outputs = len(outs)
            self._out_meta = tuple((r._data.shape, r.dtype, dev) for r in results)
            self._link(inputs)
            if self._save_out:
                r = results[0]
                self._out = (r._data, r._vc, r._vc.value, dev)
        return tuple(results)


def _edge(t):
    if not t._rg:
        return None
    fn = t.grad_fn
    return (fn, t._output_nr) if fn is not None else (t, -1)


def _may_share(a, b, dev) -> bool:
    """Whether array a is a view of b's memory (same owning buffer)."""
    if a is b:
        return True
    base_a, base_b = a.base, b.base
    return (base_a if base_a is not None else a) is (base_b if base_b is not None else b)


def device_mismatch(a, b) -> DeviceError:
    return DeviceError(
        "Expected all tensors to be on the same device, but found at least two devices, "
        f"{a} and {b}!"
    )


def _modified_error(t, node, expected) -> EngineRuntimeError:
    return EngineRuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [{t.dtype} {list(t.shape)}], which is saved by {node.name()}, "
        f"is at version {t._vc.value}; expected version {expected} instead. Hint: the "
        "operation that modified it came after it was saved; use an out-of-place op "
        "(e.g. x = x * 2 instead of x.mul_(2)) or .clone() the tensor first."
    )
