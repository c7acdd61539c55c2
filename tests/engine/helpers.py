"""One helper checks an op three ways (tinygrad style, one line per case):

1. forward against a NumPy reference (when given),
2. float64 gradcheck (central differences) of the engine op,
3. parity with PyTorch, forward values and gradients, when torch is installed.

The same lambda runs on engine and torch tensors, since `import engine as torch` code
must run unchanged: `check_op([(3, 4)], lambda x: x.exp(), np.exp)`.
"""

from __future__ import annotations

import numpy as np
import pytest

import engine

try:  # test-only reference; the engine never imports torch
    import torch

    torch.set_num_threads(1)  # pytest-xdist workers already use every core
except ImportError:  # pragma: no cover - exercised on machines without torch
    torch = None

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)]
needs_torch = pytest.mark.skipif(torch is None, reason="PyTorch not installed (parity tests)")


def make_inputs(shapes, low=-2.0, high=2.0, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        if isinstance(s, np.ndarray):
            out.append(s)
        else:
            out.append(rng.uniform(low, high, size=s).astype(dtype))
    return out


def to_np(t) -> np.ndarray:
    if isinstance(t, engine.Tensor):
        return t.detach().cpu().numpy()
    if torch is not None and isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def _outputs(out):
    return list(out) if isinstance(out, tuple | list) else [out]


def check_op(shapes, fn, np_ref=None, *, torch_fn=None, low=-2.0, high=2.0, grad=True,
             gradcheck=True, atol=1e-5, rtol=1e-4, grad_atol=1e-4, grad_rtol=1e-3,
             device="cpu", seed=0, arrays=None):
    """Check fn's forward, float64 gradients and torch parity on random inputs.

    `shapes` lists input shapes (or ready NumPy arrays for integer/index inputs, which
    never require grad). `low`/`high` bound the random values.
    """
    arrays = arrays or make_inputs(shapes, low, high, seed)
    diff = [a.dtype.kind == "f" for a in arrays]

    # 1. forward against NumPy
    xs = [engine.tensor(a, device=device, requires_grad=grad and d) for a, d in zip(arrays, diff)]
    out = _outputs(fn(*xs))
    if np_ref is not None:
        ref = _outputs(np_ref(*[a.copy() for a in arrays]))
        for o, r in zip(out, ref):
            assert o.device == engine.backend.resolve(device)
            np.testing.assert_allclose(to_np(o), np.asarray(r), atol=atol, rtol=rtol)
            if np.asarray(r).dtype.kind == "f":
                assert o.dtype == engine.dtypes.from_numpy_dtype(np.asarray(r).dtype), (
                    f"dtype {o.dtype} != reference {np.asarray(r).dtype}"
                )

    # 2. float64 gradcheck
    if grad and gradcheck and any(diff):
        xs64 = [engine.tensor(a.astype(np.float64) if d else a, device=device,
                              requires_grad=d) for a, d in zip(arrays, diff)]
        assert engine.autograd.gradcheck(fn, xs64, eps=1e-6, atol=1e-5, rtol=1e-3)

    # 3. parity with PyTorch
    if torch is None or device != "cpu":
        return out
    tfn = torch_fn or fn
    ts = [torch.tensor(a, requires_grad=grad and d) for a, d in zip(arrays, diff)]
    tout = _outputs(tfn(*ts))
    assert len(tout) == len(out)
    for o, t in zip(out, tout):
        np.testing.assert_allclose(to_np(o), to_np(t), atol=atol, rtol=rtol)
        if isinstance(t, torch.Tensor):
            assert str(o.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    if grad and any(diff):
        rng = np.random.default_rng(seed + 1)
        pairs = [(o, t) for o, t in zip(out, tout)
                 if isinstance(t, torch.Tensor) and t.requires_grad]
        if not pairs:
            return out
        seeds = [rng.standard_normal(to_np(t).shape).astype(to_np(t).dtype) for _, t in pairs]
        engine.autograd.backward([o for o, _ in pairs],
                                 [engine.tensor(s, device=device) for s in seeds])
        torch.autograd.backward([t for _, t in pairs], [torch.tensor(s) for s in seeds])
        for x, t in zip(xs, ts):
            if t.requires_grad:
                if t.grad is None:
                    assert x.grad is None or not to_np(x.grad).any()
                    continue
                assert x.grad is not None, "engine produced no gradient where torch did"
                np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), atol=grad_atol,
                                           rtol=grad_rtol)
    return out


def check_double_backward(fn, x, torch_fn=None):
    """Second derivatives of `fn(x).sum()`: gradgradcheck in float64, and the gradient
    of the summed first derivative against PyTorch's when torch is installed."""
    assert engine.autograd.gradgradcheck(lambda t: fn(t).sum(), (x,))
    if torch is None:
        return
    tfn = torch_fn or fn
    tx = torch.tensor(to_np(x), requires_grad=True)
    (tg,) = torch.autograd.grad(tfn(tx).sum(), tx, create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    (g,) = engine.autograd.grad(fn(x).sum(), x, create_graph=True)
    (gg,) = engine.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(to_np(gg), to_np(tgg), atol=1e-10, rtol=1e-7)


def fake_device() -> str:
    """Register (once) a second, NumPy-backed device type "fake" and return "fake:0".

    It lets CPU-only CI exercise device plumbing: transfers, mixed-device errors, ops
    running on a non-CPU device.
    """
    from engine.backend import _BACKENDS, Backend, register_backend

    if "fake" not in _BACKENDS:

        class FakeBackend(Backend):
            name = "fake"

            def from_host(self, arr, index):
                return np.array(arr, copy=True)

            def to_host(self, arr):
                return np.array(arr, copy=True)

            def device_count(self):
                return 2

        register_backend("fake", FakeBackend())
    return "fake:0"
