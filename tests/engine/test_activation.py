import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine
import engine.nn.functional as F
from engine.ops import cuda_kernels

from .helpers import DEVICES, check_double_backward, check_op, needs_torch, to_np, torch

TF = torch.nn.functional if torch is not None else None
SHAPES = [(), (5,), (2, 3, 4)]
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _np_gelu(x):
    return (0.5 * x * (1 + _erf(x / math.sqrt(2)))).astype(x.dtype)


def _np_softmax(x, axis):
    x = x.astype(np.float64)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _f(name):
    """The same call on engine and torch tensors: F.<name> / torch.nn.functional.<name>."""

    def call(x, *args, **kwargs):
        mod = F if isinstance(x, engine.Tensor) else TF
        return getattr(mod, name)(x, *args, **kwargs)

    return call


relu, leaky_relu, gelu, silu, softplus = (_f(n) for n in
                                          ("relu", "leaky_relu", "gelu", "silu", "softplus"))
elu, hardtanh, relu6, logsigmoid, mish = (_f(n) for n in
                                          ("elu", "hardtanh", "relu6", "logsigmoid", "mish"))
softmax, log_softmax = _f("softmax"), _f("log_softmax")


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
class TestActivations:
    def test_relu(self, shape, device):
        check_op([shape], relu, lambda x: np.maximum(x, 0), device=device)

    def test_relu_method(self, shape, device):
        check_op([shape], lambda x: x.relu(), lambda x: np.maximum(x, 0), device=device)

    def test_leaky_relu(self, shape, device):
        check_op([shape], lambda x: leaky_relu(x, 0.1), lambda x: np.where(x > 0, x, 0.1 * x),
                 device=device)

    def test_leaky_relu_default(self, shape, device):
        check_op([shape], leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x), device=device)

    def test_gelu(self, shape, device):
        check_op([shape], gelu, _np_gelu, low=-4.0, high=4.0, atol=1e-6, device=device)

    def test_gelu_tanh(self, shape, device):
        check_op([shape], lambda x: gelu(x, approximate="tanh"), None, low=-4.0, high=4.0,
                 atol=1e-6, device=device)

    def test_silu(self, shape, device):
        check_op([shape], silu, lambda x: x / (1 + np.exp(-x)), low=-5.0, high=5.0,
                 device=device)

    def test_softplus(self, shape, device):
        check_op([shape], softplus, lambda x: np.log1p(np.exp(x)), low=-5.0, high=5.0,
                 device=device)

    def test_softplus_beta_threshold(self, shape, device):
        check_op([shape], lambda x: softplus(x, beta=2.0, threshold=3.0), None, low=-3.0,
                 high=3.0, device=device)

    def test_elu(self, shape, device):
        check_op([shape], elu, lambda x: np.where(x > 0, x, np.expm1(x)), device=device)

    def test_elu_alpha(self, shape, device):
        check_op([shape], lambda x: elu(x, alpha=0.5), None, device=device)

    def test_hardtanh(self, shape, device):
        check_op([shape], hardtanh, lambda x: np.clip(x, -1, 1), device=device)

    def test_hardtanh_bounds(self, shape, device):
        check_op([shape], lambda x: hardtanh(x, -0.5, 1.5), lambda x: np.clip(x, -0.5, 1.5),
                 device=device)

    def test_relu6(self, shape, device):
        check_op([shape], relu6, lambda x: np.clip(x, 0, 6), low=-3.0, high=8.0, device=device)

    def test_logsigmoid(self, shape, device):
        check_op([shape], logsigmoid, lambda x: -np.log1p(np.exp(-x)), low=-5.0, high=5.0,
                 device=device)

    def test_mish(self, shape, device):
        check_op([shape], mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), low=-4.0,
                 high=4.0, device=device)

    def test_sigmoid(self, shape, device):
        check_op([shape], _f("sigmoid"), lambda x: 1 / (1 + np.exp(-x)), device=device)

    def test_tanh(self, shape, device):
        check_op([shape], _f("tanh"), np.tanh, device=device)

    def test_softmax(self, shape, device):
        check_op([shape], lambda x: softmax(x, dim=-1),
                 lambda x: _np_softmax(x, -1 if x.ndim else None).astype(x.dtype),
                 device=device)

    def test_softmax_dim0(self, shape, device):
        check_op([shape], lambda x: x.softmax(0), None, device=device)

    def test_log_softmax(self, shape, device):
        check_op([shape], lambda x: log_softmax(x, dim=-1),
                 lambda x: np.log(_np_softmax(x, -1 if x.ndim else None)).astype(x.dtype),
                 device=device)

    def test_log_softmax_dim0(self, shape, device):
        check_op([shape], lambda x: x.log_softmax(0), None, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_softmax_middle_dim_and_composition(device):
    check_op([(2, 3, 4)], lambda x: softmax(x, 1) * x, None, device=device)
    check_op([(2, 3, 4)], lambda x: log_softmax(x * 2, -2).exp(), None, device=device)


@needs_torch
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_softmax_huge_logits_stay_finite(name, dtype):
    a = (np.random.default_rng(0).standard_normal((4, 7)) * 1e4).astype(dtype)
    a[0, :] = 1e4  # ties at the max
    a[1, 3] = -1e4
    x = engine.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    y, ty = getattr(F, name)(x, dim=1), getattr(TF, name)(t, dim=1)
    assert y.dtype == x.dtype
    assert np.isfinite(to_np(y)).all()
    np.testing.assert_allclose(to_np(y), to_np(ty), rtol=1e-6, atol=1e-6)
    seed = np.random.default_rng(1).standard_normal(a.shape).astype(dtype)
    y.backward(engine.tensor(seed))
    ty.backward(torch.tensor(seed))
    assert x.grad.dtype == x.dtype and np.isfinite(to_np(x.grad)).all()
    np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), rtol=1e-5, atol=1e-5)


def test_softmax_requires_dim_and_float():
    with pytest.raises(TypeError, match="requires dim"):
        F.softmax(engine.ones(2, 3))
    with pytest.raises(TypeError, match="requires dim"):
        F.log_softmax(engine.ones(2, 3))
    with pytest.raises(NotImplementedError, match="Long"):
        F.softmax(engine.tensor([1, 2]), 0)
    with pytest.raises(IndexError):
        F.softmax(engine.ones(2), 2)
    y = F.softmax(engine.tensor([[1.0, 2.0]]), dim=1, dtype=engine.float64)
    assert y.dtype == engine.float64
    assert engine.ones(3, 0).softmax(1).shape == (3, 0)
    assert engine.tensor(5.0).log_softmax(0).item() == 0.0


def test_softmax_rows_sum_to_one():
    x = engine.randn(5, 9) * 30
    s = to_np(F.softmax(x, dim=1)).sum(axis=1)
    np.testing.assert_allclose(s, np.ones(5), rtol=1e-6)


def test_one_hot():
    out = F.one_hot(engine.tensor([[0, 2], [1, 1]]), 3)
    assert out.dtype == engine.int64 and out.shape == (2, 2, 3)
    assert out.tolist() == [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 1, 0]]]
    assert F.one_hot(engine.tensor([0, 3])).shape == (2, 4)
    assert F.one_hot(engine.tensor(1), 3).tolist() == [0, 1, 0]
    assert F.one_hot(engine.zeros(0, dtype=engine.int64), 4).shape == (0, 4)
    assert not F.one_hot(engine.tensor([1])).requires_grad


@pytest.mark.parametrize("bad, num, msg", [
    (engine.tensor([1.0]), 3, "LongTensor"),
    (engine.tensor([1], dtype=engine.int32), 3, "LongTensor"),
    (engine.tensor([-1, 2]), 3, "non-negative"),
    (engine.tensor([1, 5]), 3, "smaller than num_classes"),
    (engine.zeros(0, dtype=engine.int64), -1, "empty tensor"),
])
def test_one_hot_errors(bad, num, msg):
    with pytest.raises(RuntimeError, match=msg):
        F.one_hot(bad, num)


def test_kinks_follow_pytorch():
    def grad_at(fn, values):
        x = engine.tensor(values, requires_grad=True)
        fn(x).sum().backward()
        return x.grad.tolist()

    assert grad_at(F.relu, [0.0, -1.0, 1.0]) == [0.0, 0.0, 1.0]
    assert grad_at(lambda x: F.leaky_relu(x, 0.1), [0.0, 1.0]) == pytest.approx([0.1, 1.0])
    assert grad_at(F.hardtanh, [-1.0, 1.0, 0.0]) == [0.0, 0.0, 1.0]
    assert grad_at(F.relu6, [0.0, 6.0, 3.0]) == [0.0, 0.0, 1.0]
    assert grad_at(lambda x: F.elu(x, 0.5), [0.0]) == [0.5]


def test_integer_inputs():
    ints = engine.tensor([-2, 3, 9])
    assert F.relu(ints).tolist() == [0, 3, 9] and F.relu(ints).dtype == engine.int64
    assert F.relu6(ints).tolist() == [0, 3, 6] and F.relu6(ints).dtype == engine.int64
    assert F.hardtanh(ints).dtype == engine.int64
    assert F.sigmoid(ints).dtype == engine.float32
    for fn in (F.gelu, F.silu, F.elu, F.leaky_relu, F.softplus, F.mish, F.logsigmoid):
        with pytest.raises(NotImplementedError, match="not implemented for 'Long'"):
            fn(ints)


def test_argument_errors():
    with pytest.raises(RuntimeError, match="approximate argument"):
        F.gelu(engine.ones(2), approximate="fast")
    with pytest.raises(ValueError, match="min_val cannot be greater"):
        F.hardtanh(engine.ones(2), 2.0, 1.0)


def test_relu_inplace():
    if not hasattr(engine.Tensor, "relu_"):
        pytest.skip("in-place ops not attached")
    x = engine.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x.tolist() == [0.0, 2.0]
    leaf = engine.tensor([-1.0, 2.0], requires_grad=True)
    y = leaf * 1
    F.relu(y, inplace=True).sum().backward()
    assert leaf.grad.tolist() == [0.0, 1.0]
    for fn in (F.leaky_relu, F.elu, F.hardtanh, F.relu6, F.silu, F.mish):
        assert fn(engine.tensor([1.0]), inplace=True).tolist() == pytest.approx(
            to_np(fn(engine.tensor([1.0]))).tolist())


def test_extremes_do_not_overflow_or_warn():
    x = engine.tensor([-1e4, -100.0, 0.0, 100.0, 1e4], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for fn in (F.softplus, F.logsigmoid, F.silu, F.mish, F.elu, F.gelu, F.sigmoid):
            y = fn(x)
            assert np.isfinite(to_np(y)).all(), fn.__name__
            (g,) = engine.autograd.grad(y.sum(), x)
            assert np.isfinite(to_np(g)).all(), fn.__name__
    assert F.logsigmoid(x).tolist()[0] == -1e4 and F.softplus(x).tolist()[-1] == 1e4


@needs_torch
def test_gelu_exact_matches_torch_to_1e6():
    a = np.linspace(-8, 8, 4001).astype(np.float32)
    x, t = engine.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    y, ty = F.gelu(x), TF.gelu(t)
    np.testing.assert_allclose(to_np(y), to_np(ty), atol=1e-6, rtol=0)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), atol=1e-6, rtol=0)


ACTS = {
    "relu": lambda x: F.relu(x) * x, "leaky_relu": lambda x: F.leaky_relu(x, 0.2) * x,
    "gelu": F.gelu, "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu,
    "softplus": lambda x: F.softplus(x, beta=1.5), "elu": lambda x: F.elu(x, 0.7),
    "hardtanh": lambda x: F.hardtanh(x, -0.5, 0.5) * x, "logsigmoid": F.logsigmoid,
    "mish": F.mish, "softmax": lambda x: F.softmax(x, 0) * x,
    "log_softmax": lambda x: F.log_softmax(x, 0) * x,
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_dtype_is_preserved_forward_and_backward(name, dtype):
    dt = getattr(engine, dtype)
    x = engine.tensor([[0.3, -1.2, 2.1], [0.7, -0.4, 1.3]], dtype=dt, requires_grad=True)
    y = ACTS[name](x)
    assert y.dtype == dt
    y.backward(engine.ones_like(y))
    assert x.grad.dtype == dt


@pytest.mark.parametrize("name", sorted(ACTS))
def test_double_backward(name):
    fn = ACTS[name]
    x = engine.tensor(np.random.default_rng(3).uniform(-1.5, 1.5, 5), dtype=engine.float64,
                      requires_grad=True)
    tfn = None
    if torch is not None:
        tfn = {"relu": lambda t: TF.relu(t) * t, "leaky_relu": lambda t: TF.leaky_relu(t, 0.2) * t,
               "gelu": TF.gelu, "gelu_tanh": lambda t: TF.gelu(t, approximate="tanh"),
               "silu": TF.silu, "softplus": lambda t: TF.softplus(t, beta=1.5),
               "elu": lambda t: TF.elu(t, 0.7), "hardtanh": lambda t: TF.hardtanh(t, -0.5, 0.5) * t,
               "logsigmoid": TF.logsigmoid, "mish": TF.mish,
               "softmax": lambda t: TF.softmax(t, 0) * t,
               "log_softmax": lambda t: TF.log_softmax(t, 0) * t}[name]
    check_double_backward(fn, x, tfn)


FUZZ = {
    "relu": (F.relu, lambda a: np.maximum(a, 0)),
    "leaky_relu": (F.leaky_relu, lambda a: np.where(a > 0, a, a * np.float32(0.01))),
    "gelu": (F.gelu, _np_gelu),
    "silu": (F.silu, lambda a: (a / (1 + np.exp(-a.astype(np.float64)))).astype(a.dtype)),
    "softplus": (F.softplus, lambda a: np.logaddexp(0, a.astype(np.float64)).astype(a.dtype)),
    "elu": (F.elu, lambda a: np.where(a > 0, a, np.expm1(a))),
    "hardtanh": (F.hardtanh, lambda a: np.clip(a, -1, 1)),
    "logsigmoid": (F.logsigmoid, lambda a: -np.logaddexp(0, -a.astype(np.float64))),
    "softmax": (lambda x: F.softmax(x, -1),
                lambda a: _np_softmax(a, -1 if a.ndim else None) if a.size else a),
    "log_softmax": (lambda x: F.log_softmax(x, -1),
                    lambda a: np.log(_np_softmax(a, -1 if a.ndim else None)) if a.size else a),
}


@settings(max_examples=25, deadline=None)
@given(arr=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                   max_side=4),
                      elements=st.floats(-8, 8, width=32)),
       name=st.sampled_from(sorted(FUZZ)))
def test_fuzz_shapes(arr, name):
    fn, ref = FUZZ[name]
    x = engine.tensor(arr, requires_grad=True)
    y = fn(x)
    assert y.shape == arr.shape and y.dtype == engine.float32
    np.testing.assert_allclose(to_np(y), ref(arr), rtol=1e-5, atol=2e-6)
    seed = np.random.default_rng(0).standard_normal(arr.shape).astype(np.float32)
    y.backward(engine.tensor(seed))
    assert x.grad.shape == arr.shape and x.grad.dtype == engine.float32
    if torch is not None:
        tx = torch.tensor(arr, requires_grad=True)
        tfn = {"softmax": lambda t: TF.softmax(t, -1),
               "log_softmax": lambda t: TF.log_softmax(t, -1)}.get(name, getattr(TF, name))
        tfn(tx).backward(torch.tensor(seed))
        np.testing.assert_allclose(to_np(x.grad), to_np(tx.grad), rtol=1e-5, atol=1e-5)


# -- fused CUDA kernels: each checked against the plain Tensor-op path -------------------
KERNEL_CASES = {
    "relu_backward": F.relu, "sigmoid_backward": F.sigmoid, "tanh_backward": F.tanh,
    "silu_backward": F.silu, "gelu_backward": F.gelu,
    "gelu_tanh_backward": lambda x: F.gelu(x, approximate="tanh"),
}


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kernel", sorted(KERNEL_CASES))
def test_cuda_backward_kernel_matches_plain_path(kernel, dtype):
    fn = KERNEL_CASES[kernel]
    dt = getattr(engine, dtype)
    x = (engine.randn(37, 65, dtype=dt) * 3).to("cuda").requires_grad_()
    g = engine.randn(37, 65, dtype=dt).to("cuda")
    (fused,) = engine.autograd.grad(fn(x), x, g)  # not recorded: the fused kernel
    assert kernel in cuda_kernels._cache
    (plain,) = engine.autograd.grad(fn(x), x, g, create_graph=True)  # recorded: Tensor ops
    assert fused.dtype == dt and fused.device == x.device
    tol = 1e-6 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(to_np(fused), to_np(plain), rtol=tol * 10, atol=tol)
    xc = x.detach().cpu().requires_grad_()
    (cpu,) = engine.autograd.grad(fn(xc), xc, g.cpu())
    np.testing.assert_allclose(to_np(fused), to_np(cpu), rtol=tol * 10, atol=tol)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cuda_softmax_kernel_matches_plain_path(name, dim, monkeypatch):
    a = np.random.default_rng(0).standard_normal((6, 7, 9)).astype(np.float32) * 100
    x = engine.tensor(a, device="cuda")
    fused = getattr(F, name)(x, dim)
    assert "softmax_exp" in cuda_kernels._cache
    monkeypatch.setattr(cuda_kernels, "enabled", False)
    plain = getattr(F, name)(x, dim)
    np.testing.assert_allclose(to_np(fused), to_np(plain), rtol=1e-6, atol=1e-6)
    cpu = getattr(F, name)(engine.tensor(a), dim)
    np.testing.assert_allclose(to_np(fused), to_np(cpu), rtol=1e-5, atol=1e-6)


def test_cuda_kernels_are_not_used_on_cpu():
    x = engine.ones(2, requires_grad=True)
    assert not cuda_kernels.usable(x) and not cuda_kernels.usable_array(x._data)
    with engine.no_grad():
        assert not cuda_kernels.usable(x)
