import numpy as np
import pytest

import engine

from .helpers import needs_torch, torch


def test_arithmetic_in_place_under_no_grad_updates_memory_and_version():
    p = engine.ones(3, requires_grad=True)
    data = p._data
    with engine.no_grad():
        p.sub_(engine.tensor([0.5, 1.0, 1.5]), alpha=2)
        p.mul_(2)
        p.add_(1)
        p.div_(2)
    assert p._data is data
    np.testing.assert_allclose(p.detach().numpy(), [0.5, -0.5, -1.5])
    assert p._version == 4 and p.requires_grad and p.is_leaf


def test_python_augmented_assignment_is_in_place():
    x = engine.zeros(2)
    ref = x
    x += 1
    x *= 3
    x -= 1
    x /= 2
    assert x is ref and x.tolist() == [1.0, 1.0]


def test_leaf_requiring_grad_cannot_be_modified_in_place_with_grad_on():
    p = engine.ones(2, requires_grad=True)
    for op in (lambda: p.add_(1), lambda: p.zero_(), lambda: p.fill_(2),
               lambda: p.copy_(engine.zeros(2)), lambda: p.uniform_(), lambda: p.normal_()):
        with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
            op()


def test_in_place_result_type_must_fit():
    x = engine.zeros(2, dtype=engine.int64)
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.add_(1.5)
    with pytest.raises(RuntimeError, match="can't be cast"):
        x.div_(2)


def test_in_place_broadcast_shape_must_match():
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        engine.zeros(3).add_(engine.zeros(2, 3))


def test_fill_zero_copy():
    x = engine.empty(2, 2)
    x.fill_(3)
    assert x.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    x.zero_()
    assert x.sum().item() == 0
    x.copy_(engine.tensor([1, 2]))  # broadcast and cast int64 -> float32
    assert x.tolist() == [[1.0, 2.0], [1.0, 2.0]] and x.dtype == engine.float32


def test_uniform_and_normal_are_seeded():
    engine.manual_seed(7)
    a = engine.empty(1000).uniform_(-1, 1)
    engine.manual_seed(7)
    b = engine.empty(1000).uniform_(-1, 1)
    assert engine.equal(a, b)
    assert a.min().item() >= -1 and a.max().item() < 1 if hasattr(a, "min") else True
    n = engine.empty(20000).normal_(2.0, 0.5)
    assert abs(n.mean().item() - 2.0) < 0.02


def test_in_place_on_non_leaf_is_recorded_in_the_graph():
    w = engine.tensor([1.0, 2.0], requires_grad=True)
    h = w * 2
    h.mul_(w)  # h = 2 w^2
    h.add_(w)  # h = 2 w^2 + w
    assert h.grad_fn is not None and h._version == 2
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * np.array([1.0, 2.0]) + 1)


def test_in_place_into_buffer_from_tensor_that_requires_grad():
    w = engine.tensor([3.0], requires_grad=True)
    buf = engine.zeros(1)
    buf.add_(w * w)
    assert buf.requires_grad
    buf.sum().backward()
    assert w.grad.tolist() == [6.0]


@needs_torch
def test_in_place_chain_matches_torch():
    data = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    grads = []
    for lib in (engine, torch):
        w = lib.tensor(data, requires_grad=True)
        h = w.exp()
        h = h * 1  # exp saved its output; modify a copy
        h.mul_(w)
        h.sub_(w, alpha=0.5)
        h.div_(2)
        h.sum().backward()
        grads.append(w.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6)
