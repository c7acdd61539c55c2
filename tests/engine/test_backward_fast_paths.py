"""Backward fast paths: when no graph of the backward is recorded (plain `.backward()`),
F.linear, ReLU and log_softmax compute their input gradients on the raw arrays, and
F.cross_entropy of (N, C) logits is one node. Each must give bitwise what the
Tensor-level backward (the `create_graph=True` path) gives, and second derivatives
must stay right."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.nn.functional as F

from .helpers import check_double_backward, to_np, torch


def _grads(fn, arrays, create_graph):
    xs = [engine.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*xs)
    gs = engine.autograd.grad(out, xs, engine.ones_like(out), create_graph=create_graph)
    return to_np(out.detach()), [to_np(g.detach()) for g in gs]


CASES = {
    "linear": (lambda x, w, b: F.linear(x, w, b), [(6, 5), (4, 5), (4,)]),
    "linear_3d": (lambda x, w, b: F.linear(x, w, b), [(2, 3, 5), (4, 5), (4,)]),
    "linear_1d": (lambda x, w, b: F.linear(x, w, b), [(5,), (4, 5), (4,)]),
    "linear_nobias": (lambda x, w: F.linear(x, w), [(6, 5), (4, 5)]),
    "relu": (lambda x: F.relu(x) * 3.0, [(6, 5)]),
    "log_softmax": (lambda x: F.log_softmax(x, 1) * engine.arange(5.0), [(6, 5)]),
    "log_softmax_dim0": (lambda x: F.log_softmax(x, 0) * engine.arange(5.0), [(6, 5)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_array_backward_is_bitwise_the_tensor_backward(name):
    fn, shapes = CASES[name]
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    out_a, fast = _grads(fn, arrays, create_graph=False)
    out_b, slow = _grads(fn, arrays, create_graph=True)
    np.testing.assert_array_equal(out_a, out_b)
    for a, b in zip(fast, slow):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, 2])
def test_cross_entropy_node_matches_log_softmax_then_nll(reduction, ignore_index):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 5)).astype(np.float32)
    t = engine.tensor(rng.integers(0, 5, 9))
    t[0] = 2

    def fused(a):
        return F.cross_entropy(a, t, reduction=reduction, ignore_index=ignore_index)

    def composite(a):
        return F.nll_loss(F.log_softmax(a, 1), t, reduction=reduction,
                          ignore_index=ignore_index)

    out_a, (ga,) = _grads(fused, [x], create_graph=False)
    out_b, (gb,) = _grads(composite, [x], create_graph=False)
    assert out_a.dtype == np.float32 and ga.dtype == np.float32
    np.testing.assert_array_equal(out_a, out_b)
    np.testing.assert_array_equal(ga, gb)
    x64 = engine.tensor(x.astype(np.float64), requires_grad=True)
    assert engine.autograd.gradcheck(fused, (x64,))
    if torch is not None:
        tt = torch.tensor(to_np(t))
        check_double_backward(fused, x64, torch_fn=lambda a: torch.nn.functional.cross_entropy(
            a, tt, reduction=reduction, ignore_index=ignore_index))
    else:
        assert engine.autograd.gradgradcheck(fused, (x64,))


def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient():
    x = engine.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, engine.tensor([-100, -100, -100]))
    assert np.isnan(loss.item())
    loss.backward()
    assert not to_np(x.grad).any()


def test_cross_entropy_backward_twice_needs_retain_graph():
    x = engine.randn(3, 4, requires_grad=True)
    loss = F.cross_entropy(x, engine.tensor([0, 1, 2]))
    loss.backward()
    with pytest.raises(RuntimeError, match="second time"):
        loss.backward()
