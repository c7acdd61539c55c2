import gc
import weakref

import numpy as np
import pytest

import engine
from engine.autograd import Function

from .helpers import needs_torch, torch


def test_backward_accumulates_into_leaves_across_calls():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 + 3, 4 + 3])


def test_implicit_gradient_only_for_scalars():
    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="implicitly created only for scalar outputs"):
        (x * 2).backward()
    (x * 2).backward(engine.tensor([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 4, 6])


def test_gradient_shape_mismatch_is_clear():
    x = engine.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(engine.ones(2))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        engine.ones(2).sum().backward()


def test_non_leaf_grad_is_none_unless_retained():
    x = engine.ones(2, requires_grad=True)
    h = x * 2
    k = x * 3
    k.retain_grad()
    (h * k).sum().backward()
    assert h.grad is None and h.is_leaf is False
    np.testing.assert_allclose(k.grad.numpy(), [2, 2])
    assert k.retains_grad


def test_second_backward_through_freed_graph_raises():
    x = engine.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = engine.ones(2, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4, 4])


def test_long_chain_does_not_recurse():
    x = engine.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y + 0.0
    y.backward()
    assert x.grad.item() == 1.0


def test_deep_chain_releases_graph_memory():
    x = engine.ones(4, requires_grad=True)
    y = x * 2
    ref = weakref.ref(y.grad_fn)
    y.sum().backward()
    del y
    gc.collect()
    assert ref() is None


def test_no_grad_and_enable_grad_as_context_and_decorator():
    x = engine.ones(2, requires_grad=True)
    with engine.no_grad():
        assert not (x * 2).requires_grad
        assert not engine.is_grad_enabled()
        with engine.enable_grad():
            assert (x * 2).requires_grad

    @engine.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert engine.is_grad_enabled()
    with engine.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad


def test_graph_recorded_only_when_an_input_requires_grad():
    a, b = engine.ones(2), engine.ones(2)
    assert (a * b).grad_fn is None
    b.requires_grad_()
    assert (a * b).grad_fn is not None


def test_autograd_grad_does_not_touch_dot_grad():
    x = engine.tensor([2.0], requires_grad=True)
    (g,) = engine.autograd.grad((x**3).sum(), x)
    np.testing.assert_allclose(g.numpy(), [12.0])
    assert x.grad is None


def test_second_derivative_with_create_graph():
    x = engine.tensor([1.5, -0.5], requires_grad=True)
    y = (x**3).sum()
    (g,) = engine.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    (h,) = engine.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), 6 * x.detach().numpy(), rtol=1e-6)


def test_gradient_penalty_double_backward_matches_analytic():
    # loss = |d/dx sum(w * x^2)|^2 = sum((2 w x)^2); d loss / d w = 8 w x^2
    w = engine.tensor([0.5, 2.0], requires_grad=True)
    x = engine.tensor([1.0, 3.0], requires_grad=True)
    (gx,) = engine.autograd.grad((w * x * x).sum(), x, create_graph=True)
    penalty = (gx * gx).sum()
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), 8 * np.array([0.5, 2.0]) * np.array([1.0, 9.0]))


@needs_torch
def test_double_backward_matches_torch():
    data = np.array([0.3, -1.2, 2.0], dtype=np.float32)
    xe = engine.tensor(data, requires_grad=True)
    xt = torch.tensor(data, requires_grad=True)
    for x, lib in ((xe, engine), (xt, torch)):
        y = (x.exp() * x - x**2 / (x * x + 1)).sum()
        (g,) = lib.autograd.grad(y, x, create_graph=True)
        (g * g).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_grad_unused_input():
    x, z = engine.ones(2, requires_grad=True), engine.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        engine.autograd.grad((x * 2).sum(), [x, z])
    gx, gz = engine.autograd.grad((x * 2).sum(), [x, z], allow_unused=True)
    assert gz is None and gx.tolist() == [2.0, 2.0]


def test_grad_with_respect_to_non_leaf():
    x = engine.ones(2, requires_grad=True)
    h = x * 3
    (gh,) = engine.autograd.grad((h * h).sum(), h)
    np.testing.assert_allclose(gh.numpy(), [6, 6])


def test_dynamic_graphs_follow_python_control_flow():
    w = engine.tensor([2.0], requires_grad=True)

    def model(x, steps):
        h = x
        for _ in range(steps):  # variable-length loop
            h = h * w
            if h.sum().item() > 10:  # data-dependent early exit
                break
        return h.sum()

    model(engine.tensor([1.0]), 2).backward()  # w^2 -> 2w = 4
    assert w.grad.item() == 4.0
    w.grad = None
    model(engine.tensor([1.0]), 10).backward()  # stops at w^4 = 16 -> 4 w^3 = 32
    assert w.grad.item() == 32.0


def test_modified_saved_tensor_raises_instead_of_wrong_gradient():
    x = engine.ones(3, requires_grad=True)
    h = x * 2
    y = h * h  # saves h
    with engine.no_grad():
        h.mul_(5)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_saved_output_modified_in_place_raises():
    x = engine.ones(3, requires_grad=True)
    y = x.exp()  # saves its output
    y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_unsaved_tensor_may_be_modified():
    x = engine.ones(3, requires_grad=True)
    h = x * 2
    y = h + 1  # add saves nothing
    with engine.no_grad():
        h.mul_(5)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_tensor_hooks_see_and_replace_gradients():
    x = engine.ones(2, requires_grad=True)
    seen = []
    h = x * 2
    h.register_hook(lambda g: seen.append(g.tolist()))
    handle = x.register_hook(lambda g: g * 10)
    h.sum().backward()
    assert seen == [[1.0, 1.0]]
    assert x.grad.tolist() == [20.0, 20.0]
    handle.remove()
    x.grad = None
    (x * 2).sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_leaf_gradient_is_not_aliased_between_leaves():
    a, b = engine.ones(2, requires_grad=True), engine.ones(2, requires_grad=True)
    (a + b).sum().backward()
    a.grad.add_(5)
    assert b.grad.tolist() == [1.0, 1.0]


def test_user_gradient_is_not_aliased_into_dot_grad():
    a = engine.ones(2, requires_grad=True)
    g = engine.tensor([1.0, 2.0])
    (a + 0).backward(g)
    a.grad.add_(1)
    assert g.tolist() == [1.0, 2.0]


class Cube(Function):
    @staticmethod
    def forward(ctx, x, scale):
        ctx.save_for_backward(x)
        ctx.scale = scale
        return x**3 * scale

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 3 * x**2 * ctx.scale, None


def test_custom_function_forward_backward_and_double_backward():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x, 2.0)
    assert y.grad_fn is not None and "Cube" in repr(y)
    (g,) = engine.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [6.0, 24.0])
    g.sum().backward()  # d/dx 6 x^2 = 12 x
    np.testing.assert_allclose(x.grad.numpy(), [12.0, 24.0])


def test_custom_function_gradcheck():
    x = engine.randn(4, dtype=engine.float64, requires_grad=True)
    assert engine.autograd.gradcheck(lambda t: Cube.apply(t, 1.5), (x,))


class TwoOutputs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, g1, g2):
        return g1 * 2 + g2 * 3


def test_custom_function_multiple_outputs_with_one_unused():
    x = engine.ones(2, requires_grad=True)
    a, _b = TwoOutputs.apply(x)
    a.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def test_custom_function_saved_tensor_version_check():
    x = engine.ones(2, requires_grad=True)
    h = x * 1
    y = Cube.apply(h, 1.0)
    with engine.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_gradcheck_detects_wrong_gradient():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    x = engine.randn(3, dtype=engine.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        engine.autograd.gradcheck(Wrong.apply, (x,))
    assert engine.autograd.gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_gradcheck_requires_float64():
    with pytest.raises(RuntimeError, match="float64"):
        engine.autograd.gradcheck(lambda t: t * 2, (engine.ones(2, requires_grad=True),))


def test_float32_gradients_stay_float32():
    x = engine.ones(3, requires_grad=True)
    y = (x * 2.5 + engine.tensor(1.0, dtype=engine.float64)).sum()
    assert y.dtype == engine.float32
    y.backward()
    assert x.grad.dtype == engine.float32


def test_mixed_dtype_gradient_is_cast_to_input_dtype():
    a = engine.ones(2, requires_grad=True)
    b = engine.ones(2, dtype=engine.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.dtype == engine.float32 and b.grad.dtype == engine.float64


def test_gradcheck_ignores_non_differentiable_outputs():
    x = engine.tensor([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]], dtype=engine.float64,
                      requires_grad=True)
    assert engine.autograd.gradcheck(lambda t: t.max(dim=1), (x,))


def test_user_gradient_is_cast_to_output_dtype():
    x = engine.ones(2, requires_grad=True)
    (x * 2).backward(engine.ones(2, dtype=engine.float64))
    assert x.grad.dtype == engine.float32 and x.grad.tolist() == [2.0, 2.0]


def test_where_requires_boolean_condition():
    with pytest.raises(RuntimeError, match="boolean tensor"):
        engine.where(engine.ones(2), engine.ones(2), engine.zeros(2))
