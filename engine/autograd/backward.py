"""The backward walk: reverse-mode autodiff over the recorded graph.

The walk is iterative (no recursion, so a 100,000-op chain is fine): count each node's
consumers, then process nodes once all their consumers have delivered gradients
(Kahn's algorithm). Broadcast reduction and dtype casts of input gradients happen here,
in one place, so no op's backward has to un-broadcast.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import EngineRuntimeError
from . import node as _node
from .grad_mode import _state
from .node import Node


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of `tensors` into the `.grad` of the leaves of their graph.

    >>> import engine
    >>> x = engine.tensor(2.0, requires_grad=True)
    >>> engine.autograd.backward([x * x]); x.grad
    tensor(4.)
    """
    Tensor = _node.Tensor

    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    if grad_tensors is None or isinstance(grad_tensors, Tensor):
        grad_tensors = [grad_tensors] * len(tensors) if grad_tensors is None else [grad_tensors]
    if retain_graph is None:
        retain_graph = create_graph
    roots = _roots(tensors, grad_tensors, create_graph)
    only = None
    if inputs is not None:
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        only = {_key(t): i for i, t in enumerate(inputs)}
    _walk(roots, retain_graph, create_graph, capture=only, accumulate=True)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False, materialize_grads=False):
    """Gradients of `outputs` with respect to `inputs`, returned instead of accumulated.

    >>> import engine
    >>> x = engine.tensor(3.0, requires_grad=True)
    >>> (g,) = engine.autograd.grad(x ** 2, x, create_graph=True)
    >>> engine.autograd.grad(g, x)[0]   # second derivative of x**2
    tensor(2.)
    """
    Tensor = _node.Tensor

    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    single = isinstance(inputs, Tensor)
    inputs = [inputs] if single else list(inputs)
    if grad_outputs is None or isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs] * len(outputs) if grad_outputs is None else [grad_outputs]
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t.requires_grad:
            raise EngineRuntimeError("One of the differentiated Tensors does not require grad")
    roots = _roots(outputs, grad_outputs, create_graph)
    capture = {_key(t): i for i, t in enumerate(inputs)}
    found = _walk(roots, retain_graph, create_graph, capture=capture, accumulate=False)
    result = []
    for i, t in enumerate(inputs):
        g = found.get(i)
        if g is None:
            if materialize_grads:
                from ..ops.creation import zeros_like

                g = zeros_like(t)
            elif not allow_unused:
                raise EngineRuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
        result.append(g)
    return tuple(result)


def _key(t):
    return (t.grad_fn, t._output_nr) if t.grad_fn is not None else (t, -1)


def _roots(tensors: Sequence, grads: Sequence, create_graph: bool) -> list:
    Tensor = _node.Tensor

    if len(tensors) != len(grads):
        raise EngineRuntimeError(
            f"grad_tensors has {len(grads)} elements but tensors has {len(tensors)}"
        )
    roots = []
    for i, (t, g) in enumerate(zip(tensors, grads)):
        if not t.requires_grad:
            raise EngineRuntimeError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if t.numel() != 1:
                raise EngineRuntimeError("grad can be implicitly created only for scalar outputs")
            if not t.is_floating_point():
                raise EngineRuntimeError(
                    "grad can be implicitly created only for real scalar outputs"
                )
            xp = t._device.backend.xp
            with t._device.backend.context(t._device.index or 0):
                g = Tensor._wrap(xp.ones(t._data.shape, t._data.dtype), t._device)
            owned = True
        else:
            if not isinstance(g, Tensor):
                raise EngineRuntimeError(f"gradient must be a Tensor, got {type(g).__name__}")
            if g.shape != t.shape:
                raise EngineRuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                    f"output[{i}] has a shape of {t.shape}."
                )
            if g.device is not t.device:
                raise EngineRuntimeError(
                    f"invalid gradient at index {i} - expected device {t.device} but got "
                    f"{g.device}"
                )
            if g.dtype is not t.dtype:
                g = g.to(t.dtype)  # as PyTorch: the gradient takes the output's dtype
            if not create_graph:
                g = g.detach()
            owned = False
        roots.append((_key(t), g, owned))
    return roots


def _walk(roots, retain_graph: bool, create_graph: bool, capture, accumulate: bool) -> dict:
    """Run backward from roots [(edge, grad, owned)]; return captured grads by index."""
    Tensor = _node.Tensor

    captured: dict[int, Tensor] = {}
    # grads that someone else also holds (copy before owning), by id; the dict keeps them
    # alive so a freed tensor's id cannot be reused by a new gradient during the walk
    shared: dict[int, Tensor] = {}
    # consumers of each node still to deliver a gradient
    deps: dict[Node, int] = {}
    stack = [e[0][0] for e in roots if e[0][1] >= 0]
    seen = set(stack)
    while stack:
        node = stack.pop()
        for edge in node.next_functions:
            if edge is not None and edge[1] >= 0:
                nxt = edge[0]
                deps[nxt] = deps.get(nxt, 0) + 1
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)

    buffers: dict[Node, list] = {}
    prev_mode = _state.enabled
    _state.enabled = create_graph
    try:
        for (target, nr), g, owned in roots:
            if not owned:
                shared[id(g)] = g
            _deliver(target, nr, g, buffers, captured, capture, accumulate, shared)
        ready = [n for n in buffers if deps.get(n, 0) == 0]
        while ready:
            node = ready.pop()
            grads = buffers.pop(node, None)
            edges = node.next_functions
            if grads is None:  # no gradient reached this node: nothing flows on
                in_grads = (None,) * len(edges)
            else:
                if node._pre_hooks is not None:
                    grads = _run_pre_hooks(node, grads)
                if node._retained is not None:
                    _fill_retained(node, grads, shared)
                if capture is not None:
                    for nr, g in enumerate(grads):
                        i = capture.get((node, nr))
                        if i is not None and g is not None:
                            captured[i] = g
                if node._n_outputs > 1 and any(g is None for g in grads):
                    grads = _materialize(node, grads)
                in_grads = node.run_backward(grads)
                if len(in_grads) != len(edges):
                    raise EngineRuntimeError(
                        f"function {node.name()} returned an incorrect number of gradients "
                        f"(expected {len(edges)}, got {len(in_grads)})"
                    )
            if not retain_graph:
                node.release()
            shapes, dtypes = node._in_shapes, node._in_dtypes
            for i, edge in enumerate(edges):
                if edge is None:
                    continue
                target, nr = edge
                g = in_grads[i]
                if g is not None:
                    arr = g._data
                    if arr.shape != shapes[i] or arr.dtype != dtypes[i]:
                        g = _fit(g, shapes[i], dtypes[i])
                    if nr >= 0 and capture is None:  # the common case, inlined
                        buf = buffers.get(target)
                        if buf is None:
                            buf = buffers[target] = [None] * target._n_outputs
                        prev = buf[nr]
                        buf[nr] = g if prev is None else prev + g
                    else:
                        _deliver(target, nr, g, buffers, captured, capture, accumulate, shared)
                if nr >= 0:
                    left = deps[target] - 1
                    deps[target] = left
                    if left == 0:
                        ready.append(target)
    finally:
        _state.enabled = prev_mode
    return captured


def _deliver(target, nr, g, buffers, captured, capture, accumulate, shared) -> None:
    if nr < 0:  # a leaf
        if capture is not None:
            i = capture.get((target, -1))
            if i is not None:
                prev = captured.get(i)
                captured[i] = g if prev is None else prev + g
                if not accumulate:
                    return
        if accumulate:
            _accumulate_leaf(target, g, shared)
        return
    buf = buffers.get(target)
    if buf is None:
        buf = buffers[target] = [None] * target._n_outputs
    prev = buf[nr]
    buf[nr] = g if prev is None else prev + g


def _accumulate_leaf(leaf, g, shared: dict) -> None:
    if leaf._hooks:
        for hook in leaf._hooks:
            out = hook(g)
            if out is not None:
                g = out
                shared[id(g)] = g
    if _state.enabled:  # create_graph: keep the gradient differentiable
        leaf.grad = g if leaf.grad is None else leaf.grad + g
        return
    if leaf.grad is None:
        arr = g._data
        if id(g) in shared or arr.base is not None or not getattr(arr.flags, "writeable", 1):
            arr = arr.copy()
        shared[id(g)] = g
        leaf.grad = _node.Tensor._wrap(arr, g._device)
    elif leaf.grad.requires_grad:
        leaf.grad = (leaf.grad + g).detach()
    else:
        leaf.grad._data += g._data
        leaf.grad._vc.value += 1


def _fit(g, shape, dtype):
    """Reduce a broadcast gradient to its input's shape and cast it to its dtype."""
    if g._data.shape != shape:
        from ..ops.reduce import sum_to_shape

        g = sum_to_shape(g, shape)
    if g._data.dtype != dtype:
        from ..dtypes import _BY_NP
        from ..ops.conversion import Cast

        g = Cast.apply(g, dtype=_BY_NP[dtype])
    return g


def _materialize(node, grads: list) -> list:
    from ..ops.creation import zeros

    meta = getattr(node, "_out_meta", None)
    if not getattr(node, "_materialize", True):
        return grads
    out = list(grads)
    for i, g in enumerate(out):
        if g is None and meta is not None:
            shape, dtype, dev = meta[i]
            if dtype is not None and dtype.is_floating_point:  # never for indices
                out[i] = zeros(shape, dtype=dtype, device=dev)
    return out


def _run_pre_hooks(node, grads: list) -> list:
    grads = list(grads)
    for nr, hooks in node._pre_hooks.items():
        for hook in hooks:
            if grads[nr] is not None:
                out = hook(grads[nr])
                if out is not None:
                    grads[nr] = out
    return grads


def _fill_retained(node, grads: list, shared: dict) -> None:
    for nr, ref in node._retained.items():
        t = ref()
        g = grads[nr]
        if t is None or g is None:
            continue
        shared[id(g)] = g
        t.grad = g if t.grad is None else t.grad + g
