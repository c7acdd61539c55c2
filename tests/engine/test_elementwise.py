import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine

from .helpers import DEVICES, check_double_backward, check_op, needs_torch, to_np, torch

SHAPES = [(), (5,), (2, 3, 4)]
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(x):
    return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", SHAPES)
class TestUnary:
    def test_exp(self, shape, device):
        check_op([shape], lambda x: x.exp(), np.exp, device=device)

    def test_exp2(self, shape, device):
        check_op([shape], lambda x: x.exp2(), np.exp2, device=device)

    def test_expm1(self, shape, device):
        check_op([shape], lambda x: x.expm1(), np.expm1, device=device)

    def test_log(self, shape, device):
        check_op([shape], lambda x: x.log(), np.log, low=0.1, high=3.0, device=device)

    def test_log2(self, shape, device):
        check_op([shape], lambda x: x.log2(), np.log2, low=0.1, high=3.0, device=device)

    def test_log10(self, shape, device):
        check_op([shape], lambda x: x.log10(), np.log10, low=0.1, high=3.0, device=device)

    def test_log1p(self, shape, device):
        check_op([shape], lambda x: x.log1p(), np.log1p, low=-0.9, high=3.0, device=device)

    def test_sqrt(self, shape, device):
        check_op([shape], lambda x: x.sqrt(), np.sqrt, low=0.1, high=3.0, device=device)

    def test_rsqrt(self, shape, device):
        check_op([shape], lambda x: x.rsqrt(), lambda x: 1 / np.sqrt(x), low=0.2, high=3.0,
                 device=device)

    def test_reciprocal(self, shape, device):
        check_op([shape], lambda x: x.reciprocal(), lambda x: 1 / x, low=0.3, high=3.0,
                 device=device)

    def test_reciprocal_negative(self, shape, device):
        check_op([shape], lambda x: x.reciprocal(), lambda x: 1 / x, low=-3.0, high=-0.3,
                 device=device)

    def test_square(self, shape, device):
        check_op([shape], lambda x: x.square(), np.square, device=device)

    def test_sin(self, shape, device):
        check_op([shape], lambda x: x.sin(), np.sin, low=-4.0, high=4.0, device=device)

    def test_cos(self, shape, device):
        check_op([shape], lambda x: x.cos(), np.cos, low=-4.0, high=4.0, device=device)

    def test_tan(self, shape, device):
        check_op([shape], lambda x: x.tan(), np.tan, low=-1.2, high=1.2, device=device)

    def test_tanh(self, shape, device):
        check_op([shape], lambda x: x.tanh(), np.tanh, low=-4.0, high=4.0, device=device)

    def test_sigmoid(self, shape, device):
        check_op([shape], lambda x: x.sigmoid(), _sigmoid, low=-6.0, high=6.0, device=device)

    def test_erf(self, shape, device):
        check_op([shape], lambda x: x.erf(), lambda x: _erf(x).astype(x.dtype), low=-3.0,
                 high=3.0, device=device)

    def test_abs(self, shape, device):
        check_op([shape], lambda x: x.abs(), np.abs, device=device)

    def test_abs_builtin(self, shape, device):
        check_op([shape], lambda x: abs(x), np.abs, device=device)

    def test_sign(self, shape, device):
        check_op([shape], lambda x: x.sign(), np.sign, device=device)

    def test_floor(self, shape, device):
        check_op([shape], lambda x: x.floor(), np.floor, low=-3.0, high=3.0, device=device)

    def test_ceil(self, shape, device):
        check_op([shape], lambda x: x.ceil(), np.ceil, low=-3.0, high=3.0, device=device)

    def test_round(self, shape, device):
        check_op([shape], lambda x: x.round(), np.round, low=-3.0, high=3.0, device=device)

    def test_round_decimals(self, shape, device):
        check_op([shape], lambda x: x.round(decimals=1), lambda x: np.round(x, 1),
                 gradcheck=False, device=device)

    def test_trunc(self, shape, device):
        check_op([shape], lambda x: x.trunc(), np.trunc, low=-3.0, high=3.0, device=device)

    def test_frac(self, shape, device):
        check_op([shape], lambda x: x.frac(), lambda x: x - np.trunc(x), low=-3.0, high=3.0,
                 device=device)

    def test_clamp(self, shape, device):
        check_op([shape], lambda x: x.clamp(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                 device=device)

    def test_clamp_min(self, shape, device):
        check_op([shape], lambda x: x.clamp(min=0.3), lambda x: np.maximum(x, 0.3),
                 device=device)

    def test_clamp_max(self, shape, device):
        check_op([shape], lambda x: x.clamp(max=0.3), lambda x: np.minimum(x, 0.3),
                 device=device)

    def test_clamp_min_method(self, shape, device):
        check_op([shape], lambda x: x.clamp_min(0.3), lambda x: np.maximum(x, 0.3),
                 device=device)

    def test_clamp_max_method(self, shape, device):
        check_op([shape], lambda x: x.clamp_max(0.3), lambda x: np.minimum(x, 0.3),
                 device=device)

    def test_clip(self, shape, device):
        check_op([shape], lambda x: x.clip(-0.5, 0.7), lambda x: np.clip(x, -0.5, 0.7),
                 device=device)

    def test_clamp_tensors(self, shape, device):
        check_op([shape, shape, shape], lambda x, lo, hi: x.clamp(lo, hi),
                 lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), device=device)

    def test_clamp_tensor_min(self, shape, device):
        check_op([shape, shape], lambda x, lo: x.clamp(min=lo), np.maximum, device=device)

    def test_clamp_tensor_max(self, shape, device):
        check_op([shape, shape], lambda x, hi: x.clamp(max=hi), np.minimum, device=device)

    def test_nan_to_num(self, shape, device):
        check_op([shape], lambda x: x.nan_to_num(), np.nan_to_num, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_clamp_broadcast_bounds(device):
    check_op([(2, 3, 4), (4,), (3, 1)], lambda x, lo, hi: x.clamp(lo, hi),
             lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), device=device)
    check_op([(3, 1), (2, 1, 4)], lambda x, lo: x.clamp(min=lo), np.maximum, device=device)


def test_clamp_gradients_at_bounds_follow_pytorch():
    # scalar bounds: inclusive; tensor bounds: x gets the gradient on ties, a bound gets it
    # where it is chosen (max wins when min > max)
    x = engine.tensor([0.0, 1.0, 2.0, 3.0], requires_grad=True)
    engine.clamp(x, 1, 2).sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]
    x.grad = None
    lo = engine.tensor([1.0, 1.0, 1.0, 1.0], requires_grad=True)
    hi = engine.tensor([2.0, 2.0, 0.5, 2.0], requires_grad=True)
    y = engine.clamp(x, lo, hi)
    assert y.tolist() == [1.0, 1.0, 0.5, 2.0]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 0.0]
    assert lo.grad.tolist() == [1.0, 0.0, 0.0, 0.0]
    assert hi.grad.tolist() == [0.0, 0.0, 1.0, 1.0]


def test_clamp_mixed_tensor_and_number():
    check_op([(3, 4), ()], lambda x, lo: x.clamp(min=lo, max=0.5),
             lambda x, lo: np.minimum(np.maximum(x, lo), np.float32(0.5)),
             torch_fn=lambda x, lo: torch.clamp(x, min=lo, max=torch.tensor(0.5)))


def test_clamp_errors_and_dtypes():
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        engine.tensor([1.0]).clamp()
    ints = engine.tensor([1, 2, 3])
    assert ints.clamp(min=2).dtype == engine.int64
    assert ints.clamp(min=2).tolist() == [2, 2, 3]
    assert ints.clamp(min=1.5).dtype == engine.float32
    assert ints.clamp(min=engine.tensor(2.5)).dtype == engine.float32
    f32 = engine.tensor([1.0, 2.0])
    assert f32.clamp(min=engine.tensor([2.5], dtype=engine.float64)).dtype == engine.float64
    assert engine.clamp(engine.tensor([1.0, 5.0]), min=3, max=2).tolist() == [2.0, 2.0]
    assert f32.clamp(np.float64(1.5), np.float64(1.7)).dtype == engine.float32
    assert to_np(engine.clamp(engine.tensor([float("nan")]), 0, 1).isnan()).all()


def test_predicates_are_bool_and_not_differentiable():
    x = engine.tensor([1.0, float("nan"), float("inf"), -float("inf")], requires_grad=True)
    for name, ref in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
        out = getattr(x, name)()
        assert out.dtype == engine.bool and not out.requires_grad
        assert out.tolist() == ref(x.detach().numpy()).tolist()
        assert getattr(engine, name)(engine.tensor(1.0)).shape == ()
    assert engine.isnan(engine.tensor([1, 2])).tolist() == [False, False]


def test_nan_to_num_values_and_gradient():
    x = engine.tensor([float("nan"), float("inf"), -float("inf"), 1.5], requires_grad=True)
    y = x.nan_to_num(nan=1.0, posinf=2.0, neginf=-2.0)
    assert y.tolist() == [1.0, 2.0, -2.0, 1.5]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 0.0, 0.0, 1.0]
    big = engine.tensor([float("inf")]).nan_to_num()
    assert big.item() == float(np.finfo(np.float32).max)
    assert engine.tensor([1, 2]).nan_to_num().dtype == engine.int64


def test_rounding_and_sign_on_integers_and_specials():
    ints = engine.tensor([-2, 0, 3])
    for name in ("floor", "ceil", "round", "trunc"):
        out = getattr(ints, name)()
        assert out.dtype == engine.int64 and out.tolist() == [-2, 0, 3]
    assert ints.sign().tolist() == [-1, 0, 1] and ints.abs().tolist() == [2, 0, 3]
    assert engine.tensor([True, False]).sign().tolist() == [True, False]
    assert engine.tensor([float("nan"), -0.0, -3.0]).sign().tolist()[1:] == [0.0, -1.0]
    assert engine.tensor([0.5, 1.5, 2.5, -0.5]).round().tolist() == [0.0, 2.0, 2.0, -0.0]
    with pytest.raises(NotImplementedError, match="frac"):
        ints.frac()
    assert engine.tensor([True]).square().dtype == engine.int64


@pytest.mark.parametrize("name", ["exp", "exp2", "expm1", "log", "log2", "log10", "log1p",
                                  "sqrt", "rsqrt", "reciprocal", "sin", "cos", "tan", "tanh",
                                  "sigmoid", "erf"])
def test_integer_inputs_give_float32(name):
    out = getattr(engine.tensor([1, 2, 3]), name)()
    assert out.dtype == engine.float32
    if torch is not None:
        ref = getattr(torch.tensor([1, 2, 3]), name)()
        np.testing.assert_allclose(to_np(out), to_np(ref), rtol=1e-6)


DTYPE_OPS = {
    "exp": lambda x: x.exp(), "log": lambda x: x.abs().log(), "sqrt": lambda x: x.abs().sqrt(),
    "rsqrt": lambda x: (x.abs() + 1).rsqrt(), "log1p": lambda x: x.abs().log1p(),
    "expm1": lambda x: x.expm1(), "log2": lambda x: x.abs().log2(),
    "log10": lambda x: x.abs().log10(), "exp2": lambda x: x.exp2(), "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(), "tan": lambda x: x.tan(), "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(), "reciprocal": lambda x: x.reciprocal(),
    "square": lambda x: x.square(), "abs": lambda x: x.abs(), "erf": lambda x: x.erf(),
    "clamp": lambda x: x.clamp(-0.5, 0.5), "clamp_t": lambda x: x.clamp(x * 0 - 0.5),
    "sign": lambda x: x.sign(), "floor": lambda x: x.floor(), "round": lambda x: x.round(),
    "frac": lambda x: x.frac(), "nan_to_num": lambda x: x.nan_to_num(),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(DTYPE_OPS))
def test_dtype_is_preserved_forward_and_backward(name, dtype):
    dt = getattr(engine, dtype)
    x = engine.tensor([[0.3, -1.2, 2.1], [0.7, -0.4, 1.3]], dtype=dt, requires_grad=True)
    y = DTYPE_OPS[name](x)
    assert y.dtype == dt
    y.backward(engine.ones_like(y))
    assert x.grad.dtype == dt
    x0 = engine.tensor(0.3, dtype=dt, requires_grad=True)
    y0 = DTYPE_OPS[name](x0)
    assert y0.dtype == dt and y0.shape == ()


def test_sigmoid_and_exp_extremes_do_not_warn():
    x = engine.tensor([-1000.0, -100.0, 0.0, 100.0, 1000.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = x.sigmoid()
        y.sum().backward()
        e = engine.tensor([-1e30, 1e30, float("inf"), float("nan")]).erf()
    assert y.tolist() == pytest.approx([0.0, 3.7e-44, 0.5, 1.0, 1.0], abs=1e-30)
    assert to_np(engine.isfinite(x.grad)).all()
    assert e.tolist()[:3] == [-1.0, 1.0, 1.0] and math.isnan(e.tolist()[3])


@needs_torch
def test_erf_matches_torch_to_float32_precision():
    grid = np.linspace(-6, 6, 20001).astype(np.float32)
    ours = engine.tensor(grid).erf().numpy()
    np.testing.assert_allclose(ours, torch.erf(torch.tensor(grid)).numpy(), atol=2e-7, rtol=0)
    g64 = np.linspace(-6, 6, 2001)
    np.testing.assert_allclose(engine.tensor(g64).erf().numpy(), _erf(g64), atol=1e-15, rtol=0)


DOUBLE = {
    "exp": lambda x: x.exp(), "log": lambda x: (x.abs() + 0.5).log(),
    "sqrt": lambda x: (x.abs() + 0.5).sqrt(), "rsqrt": lambda x: (x.abs() + 0.5).rsqrt(),
    "reciprocal": lambda x: (x.abs() + 0.5).reciprocal(), "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(), "tan": lambda x: x.tan(), "tanh": lambda x: x.tanh(),
    "sigmoid": lambda x: x.sigmoid(), "erf": lambda x: x.erf(), "expm1": lambda x: x.expm1(),
    "log1p": lambda x: (x.abs()).log1p(), "square": lambda x: x.square(),
    "log2": lambda x: (x.abs() + 0.5).log2(), "exp2": lambda x: x.exp2(),
    "abs": lambda x: x.abs() * x, "clamp": lambda x: x.clamp(-0.5, 0.5) * x,
}


@pytest.mark.parametrize("name", sorted(DOUBLE))
def test_double_backward(name):
    fn = DOUBLE[name]
    x = engine.tensor(np.random.default_rng(3).uniform(-1.2, 1.2, 5), dtype=engine.float64,
                      requires_grad=True)

    check_double_backward(fn, x)


# -- shape fuzzing: forward against NumPy, gradients against torch (or an analytic form)
FUZZ = {  # name: (fn, domain transform, NumPy reference)
    "exp": (lambda x: x.exp(), lambda a: a, np.exp),
    "log": (lambda x: x.log(), lambda a: np.abs(a) + 0.1, np.log),
    "log1p": (lambda x: x.log1p(), lambda a: np.abs(a), np.log1p),
    "expm1": (lambda x: x.expm1(), lambda a: a, np.expm1),
    "sqrt": (lambda x: x.sqrt(), lambda a: np.abs(a) + 0.1, np.sqrt),
    "rsqrt": (lambda x: x.rsqrt(), lambda a: np.abs(a) + 0.1, lambda a: 1 / np.sqrt(a)),
    "sin": (lambda x: x.sin(), lambda a: a, np.sin),
    "cos": (lambda x: x.cos(), lambda a: a, np.cos),
    "tanh": (lambda x: x.tanh(), lambda a: a, np.tanh),
    "sigmoid": (lambda x: x.sigmoid(), lambda a: a, _sigmoid),
    "reciprocal": (lambda x: x.reciprocal(), lambda a: np.abs(a) + 0.1, lambda a: 1 / a),
    "abs": (lambda x: x.abs(), lambda a: a, np.abs),
    "square": (lambda x: x.square(), lambda a: a, np.square),
    "clamp": (lambda x: x.clamp(-1.0, 0.5), lambda a: a, lambda a: np.clip(a, -1.0, 0.5)),
    "floor": (lambda x: x.floor(), lambda a: a, np.floor),
    "erf": (lambda x: x.erf(), lambda a: a, lambda a: _erf(a).astype(a.dtype)),
    "nan_to_num": (lambda x: x.nan_to_num(), lambda a: a, np.nan_to_num),
}


@settings(max_examples=25, deadline=None)
@given(arr=hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0,
                                                   max_side=4),
                      elements=st.floats(-3, 3, width=32)),
       name=st.sampled_from(sorted(FUZZ)))
def test_fuzz_shapes(arr, name):
    fn, domain, ref = FUZZ[name]
    a = domain(arr).astype(np.float32)
    x = engine.tensor(a, requires_grad=True)
    y = fn(x)
    assert y.shape == a.shape and y.dtype == engine.float32
    np.testing.assert_allclose(to_np(y), ref(a), rtol=2e-6, atol=2e-6)
    seed = np.random.default_rng(0).standard_normal(a.shape).astype(np.float32)
    y.backward(engine.tensor(seed))
    assert x.grad.shape == a.shape and x.grad.dtype == engine.float32
    if torch is not None:
        tx = torch.tensor(a, requires_grad=True)
        fn(tx).backward(torch.tensor(seed))
        np.testing.assert_allclose(to_np(x.grad), to_np(tx.grad), rtol=1e-5, atol=1e-5)
