"""Numerical gradient checking: analytic gradients against central differences."""

from __future__ import annotations

import numpy as np

from ..errors import EngineRuntimeError


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, nondet_tol: float = 0.0) -> bool:
    """Check the gradients of `fn` at `inputs` (float64 tensors that require grad).

    Each output element's analytic gradient (one backward per element) is compared
    with the central difference (f(x + eps) - f(x - eps)) / 2eps.

    >>> import engine
    >>> x = engine.randn(3, dtype=engine.float64, requires_grad=True)
    >>> engine.autograd.gradcheck(lambda t: (t * t).sin(), (x,))
    True
    """
    from ..autograd.backward import grad as autograd_grad
    from ..tensor import Tensor

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise EngineRuntimeError("gradcheck expects at least one input tensor to require grad")
    for i in diff:
        if inputs[i].dtype.name != "float64":
            raise EngineRuntimeError(
                f"gradcheck input {i} is {inputs[i].dtype}: use float64 for numerical checks"
            )

    def all_outputs(args):
        out = fn(*args)
        return [out] if isinstance(out, Tensor) else [o for o in out if isinstance(o, Tensor)]

    outs = all_outputs(inputs)
    # only differentiable outputs (e.g. not argmax indices) enter both jacobians
    keep = [k for k, o in enumerate(outs) if o.requires_grad]

    def outputs_of(args):
        found = all_outputs(args)
        return [found[k] for k in keep]
    # analytic jacobian: rows = output elements, columns = input elements
    analytic = {i: [] for i in diff}
    for o in (outs[k] for k in keep):
        flat_n = o.numel()
        for k in range(flat_n):
            seed = np.zeros(flat_n, dtype=o._device.backend.to_host(o._data).dtype)
            seed[k] = 1
            g_out = Tensor._wrap(o._device.backend.from_host(seed.reshape(o.shape),
                                                             o._device.index or 0), o._device)
            grads = autograd_grad([o], [inputs[i] for i in diff], [g_out],
                                  retain_graph=True, allow_unused=True)
            for i, g in zip(diff, grads):
                row = (np.zeros(inputs[i].numel()) if g is None
                       else g._device.backend.to_host(g._data).reshape(-1))
                analytic[i].append(row)
    # numerical jacobian
    for i in diff:
        x = inputs[i]
        host = x._device.backend.to_host(x._data).astype(np.float64)
        numeric = []
        for j in range(host.size):
            cols = []
            for sign in (1, -1):
                pert = host.copy().reshape(-1)
                pert[j] += sign * eps
                xi = Tensor._wrap(x._device.backend.from_host(pert.reshape(host.shape),
                                                              x._device.index or 0), x._device)
                args = list(inputs)
                xi.requires_grad_()  # fn may differentiate internally (gradgradcheck)
                args[i] = xi
                vals = [o._device.backend.to_host(o._data).astype(np.float64).reshape(-1)
                        for o in outputs_of(args)]
                cols.append(np.concatenate(vals) if vals else np.zeros(0))
            numeric.append((cols[0] - cols[1]) / (2 * eps))
        num = np.stack(numeric, axis=1) if numeric else np.zeros((0, 0))
        ana = np.stack(analytic[i]) if analytic[i] else np.zeros_like(num)
        if ana.shape != num.shape:
            ana = ana.reshape(num.shape) if ana.size == num.size else ana
        if not np.allclose(ana, num, rtol=rtol, atol=atol):
            if not raise_exception:
                return False
            err = np.abs(ana - num).max()
            raise EngineRuntimeError(
                f"Jacobian mismatch for output 0 with respect to input {i},\n"
                f"numerical:{num}\nanalytical:{ana}\nmax abs difference: {err}"
            )
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check second derivatives: gradcheck of x -> d<fn(x), v>/dx built with create_graph.

    `grad_outputs` (v) default to fixed random tensors shaped like fn's outputs.

    >>> import engine
    >>> x = engine.randn(3, dtype=engine.float64, requires_grad=True)
    >>> engine.autograd.gradgradcheck(lambda t: (t * t * t).sum(), (x,))
    True
    """
    from ..autograd.backward import grad as autograd_grad
    from ..tensor import Tensor

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    first = fn(*inputs)
    outs = [first] if isinstance(first, Tensor) else [o for o in first if isinstance(o, Tensor)]
    outs = [o for o in outs if o.requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = [
            Tensor._wrap(o._device.backend.from_host(
                rng.standard_normal(o.shape).astype(np.float64), o._device.index or 0),
                o._device)
            for o in outs
        ]
    def first_derivative(*args):
        found = fn(*args)
        found = [found] if isinstance(found, Tensor) else [o for o in found
                                                          if isinstance(o, Tensor)]
        found = [o for o in found if o.requires_grad]
        wrt = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
        return autograd_grad(found, wrt, grad_outputs, create_graph=True, allow_unused=True,
                             materialize_grads=True)

    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
