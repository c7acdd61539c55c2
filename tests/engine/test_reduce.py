import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import engine

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

F32 = np.float32
INF = float("inf")


def distinct(shape, seed=0, scale=0.25, offset=0.0):
    """float32 values with no ties (a scaled permutation), for max/min gradchecks."""
    n = math.prod(shape)
    perm = np.random.default_rng(seed).permutation(n) - n / 2
    return np.asarray(perm * scale + offset, dtype=F32).reshape(shape)


def red(name, dim, keepdim=False, **kw):
    """x.name(dim=dim, keepdim=keepdim, **kw), or x.name(**kw) for dim=None (engine and torch)."""
    if dim is None:
        return lambda x: getattr(x, name)(**kw)
    return lambda x: getattr(x, name)(dim=dim, keepdim=keepdim, **kw)


def ref(np_fn, dim, keepdim=False, **kw):
    """NumPy reference computed in float64 and returned as float32."""
    def f(a):
        axis = None if a.ndim == 0 or dim is None else dim
        out = np_fn(a.astype(np.float64), axis=axis, keepdims=keepdim, **kw)
        return np.asarray(out).astype(a.dtype)
    return f


def np_logsumexp(a, axis, keepdims):
    m = np.max(a, axis=axis, keepdims=True)
    out = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    return out if keepdims else np.squeeze(out, axis=axis)


def np_norm(a, axis, keepdims, p=2.0):
    if math.isinf(p):
        return (np.max if p > 0 else np.min)(np.abs(a), axis=axis, keepdims=keepdims)
    return np.sum(np.abs(a) ** p, axis=axis, keepdims=keepdims) ** (1 / p)


# (shape, dim, keepdim): all dims, int, negative, tuple, negative tuple, 0-d, 1-d
CASES = [((3, 4), None, False), ((3, 4), 0, False), ((3, 4), -1, True),
         ((2, 3, 4), (0, 2), False), ((2, 3, 4), (-1, 0), True), ((2, 3, 4), 1, False),
         ((2, 3, 4), (0, 1, 2), True), ((), None, False), ((), 0, True), ((5,), 0, False)]
IDS = [f"{s}-{d}-{k}" for s, d, k in CASES]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,dim,keepdim", CASES, ids=IDS)
class TestReductions:
    def test_sum(self, shape, dim, keepdim, device):
        check_op([shape], red("sum", dim, keepdim), ref(np.sum, dim, keepdim), device=device)

    def test_mean(self, shape, dim, keepdim, device):
        check_op([shape], red("mean", dim, keepdim), ref(np.mean, dim, keepdim), device=device)

    def test_var(self, shape, dim, keepdim, device):
        c = 0 if not shape else 1  # one element: correction 1 would divide by 0
        check_op([shape], red("var", dim, keepdim, correction=c),
                 ref(np.var, dim, keepdim, ddof=c), device=device)

    def test_var_unbiased_false(self, shape, dim, keepdim, device):
        check_op([shape], red("var", dim, keepdim, unbiased=False),
                 ref(np.var, dim, keepdim), device=device)

    def test_std(self, shape, dim, keepdim, device):
        c = 0 if not shape else 1
        check_op([shape], red("std", dim, keepdim, correction=c),
                 ref(np.std, dim, keepdim, ddof=c), device=device)

    def test_prod(self, shape, dim, keepdim, device):
        torch_fn = None
        if isinstance(dim, tuple):  # torch.prod takes one dim: chain them
            def torch_fn(x):
                for d in sorted((d % x.ndim for d in dim), reverse=True):
                    x = x.prod(d, keepdim=keepdim)
                return x
        check_op([shape], red("prod", dim, keepdim), ref(np.prod, dim, keepdim),
                 torch_fn=torch_fn, low=0.5, high=1.5, device=device)

    def test_logsumexp(self, shape, dim, keepdim, device):
        tdim = dim if dim is not None else (tuple(range(len(shape))) or 0)
        check_op([shape], lambda x: x.logsumexp(dim=dim, keepdim=keepdim),
                 ref(np_logsumexp, dim, keepdim), device=device,
                 torch_fn=lambda x: x.logsumexp(dim=tdim, keepdim=keepdim))

    def test_amax(self, shape, dim, keepdim, device):
        check_op([distinct(shape)], red("amax", dim, keepdim), ref(np.amax, dim, keepdim),
                 device=device)

    def test_amin(self, shape, dim, keepdim, device):
        check_op([distinct(shape)], red("amin", dim, keepdim), ref(np.amin, dim, keepdim),
                 device=device)

    @pytest.mark.parametrize("p", [2, 1, 3.0, 0.5, INF, -INF, "fro"])
    def test_norm(self, shape, dim, keepdim, device, p):
        if p == "fro" and isinstance(dim, tuple) and len(dim) > 2:
            pytest.skip("torch: 'fro' takes at most two dims")
        fn = red("norm", dim, keepdim, p=p)
        np_p = 2.0 if p == "fro" else float(p)
        check_op([distinct(shape, scale=0.3, offset=0.1)], fn,
                 ref(np_norm, dim, keepdim, p=np_p), device=device)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,dim,keepdim", [((3, 4), 0, False), ((3, 4), -1, True),
                                               ((2, 3, 4), 1, True), ((5,), 0, False),
                                               ((), 0, False)])
@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_dim(name, shape, dim, keepdim, device):
    np_fn, np_arg = (np.max, np.argmax) if name == "max" else (np.min, np.argmin)
    a = distinct(shape)

    def np_ref(x):
        axis = dim if x.ndim else None
        return np_fn(x, axis=axis, keepdims=keepdim and x.ndim > 0), \
            np.asarray(np_arg(x, axis=axis, keepdims=keepdim and x.ndim > 0))

    out = check_op([a], lambda x: getattr(x, name)(dim, keepdim), np_ref, grad=False,
                   device=device)
    assert out[1].dtype == engine.int64
    # gradients through the values (gradcheck takes only differentiable outputs)
    check_op([a], lambda x: getattr(x, name)(dim, keepdim)[0], lambda x: np_ref(x)[0],
             device=device)
    values, indices = getattr(engine.tensor(a, device=device), name)(dim=dim, keepdim=keepdim)
    res = getattr(engine, name)(engine.tensor(a, device=device), dim, keepdim)
    assert type(res).__name__ == name and res.values.shape == values.shape
    assert engine.equal(res.indices, indices)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(3, 4), (7,), ()])
def test_max_min_all(shape, device):
    check_op([distinct(shape)], lambda x: x.max(), np.max, device=device)
    check_op([distinct(shape)], lambda x: x.min(), np.min, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_max_min_of_two_tensors_is_elementwise(device):
    check_op([(3, 4), (4,)], lambda a, b: a.max(b), np.maximum, device=device)
    check_op([(3, 4), (3, 1)], lambda a, b: a.min(b), np.minimum, device=device)
    a, b = engine.tensor([1.0, 5.0]), engine.tensor([3.0, 2.0])
    assert engine.max(a, b).tolist() == [3.0, 5.0] and engine.min(a, other=b).tolist() == [1, 2]


@pytest.mark.parametrize("device", DEVICES)
def test_aminmax(device):
    a = distinct((3, 4))
    check_op([a], lambda x: engine.aminmax(x, dim=1, keepdim=True) if isinstance(
        x, engine.Tensor) else torch.aminmax(x, dim=1, keepdim=True),
        lambda x: (x.min(1, keepdims=True), x.max(1, keepdims=True)), device=device)
    r = engine.aminmax(engine.tensor(a, device=device))
    assert float(r.min) == a.min() and float(r.max) == a.max()


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.max(), lambda x: x.min(), lambda x: x.amax(), lambda x: x.amin(dim=0),
    lambda x: x.amax(dim=(0, 1), keepdim=True), lambda x: x.max(dim=1).values,
    lambda x: x.min(dim=0, keepdim=True).values, lambda x: x.norm(p=INF, dim=1),
    lambda x: x.norm(p=-INF),
], ids=["max", "min", "amax", "amin-dim", "amax-tuple", "max-dim", "min-dim", "norm-inf",
        "norm-neginf"])
def test_ties_match_torch(fn):
    a = np.array([[1.0, 3.0, 3.0, -3.0], [2.0, 2.0, 0.5, 2.0], [-1.0, 3.0, -1.0, 3.0]], F32)
    check_op([a], fn, gradcheck=False)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("rows", [
    [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]],  # no zeros
    [[0.0, 2.0, 3.0], [4.0, 0.0, 6.0]],  # one zero per row
    [[0.0, 0.0, 3.0], [0.0, 5.0, 0.0]],  # two zeros per row
    [[0.0, 2.0, 3.0], [0.0, 0.0, 0.0]],  # mixed
], ids=["none", "one", "two", "mixed"])
def test_prod_zeros(rows, device):
    a = np.array(rows, F32)
    check_op([a], lambda x: x.prod(), np.prod, device=device)
    check_op([a], lambda x: x.prod(1), lambda x: np.prod(x, 1), device=device)
    check_op([a], lambda x: x.prod(0, keepdim=True), lambda x: np.prod(x, 0, keepdims=True),
             device=device)


@needs_torch
@pytest.mark.parametrize("fn", [
    lambda x: x.prod(1), lambda x: x.prod(), lambda x: x.var(1), lambda x: x.std(0),
    lambda x: x.logsumexp(1), lambda x: x.norm(dim=1), lambda x: x.norm(p=3),
    lambda x: x.amax(1), lambda x: x.max(1).values, lambda x: x.cumsum(1), lambda x: x.mean(0),
], ids=["prod-dim", "prod", "var", "std", "logsumexp", "norm", "norm3", "amax", "max-dim",
        "cumsum", "mean"])
@pytest.mark.parametrize("rows", [[[0.5, -2.0, 1.5], [3.0, 0.25, -1.0]],
                                  [[0.0, -2.0, 1.5], [3.0, 0.25, -1.0]]], ids=["plain", "zero"])
def test_double_backward_matches_torch(fn, rows):
    a = np.array(rows, np.float64)
    x, t = engine.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    w = np.linspace(0.5, 1.5, a.size).reshape(a.shape)
    (gx,) = engine.autograd.grad(fn(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(fn(t).sum(), t, create_graph=True)
    np.testing.assert_allclose(to_np(gx), to_np(gt), rtol=1e-6, atol=1e-9)
    if not gt.requires_grad:  # piecewise-linear ops: torch records no second derivative
        return
    (ggx,) = engine.autograd.grad((gx * engine.tensor(w)).sum(), x, allow_unused=True,
                                  materialize_grads=True)
    (ggt,) = torch.autograd.grad((gt * torch.tensor(w)).sum(), t, allow_unused=True,
                                 materialize_grads=True)
    np.testing.assert_allclose(to_np(ggx), to_np(ggt), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,dim", [((3, 4), 0), ((3, 4), -1), ((2, 3, 4), 1), ((5,), 0),
                                       ((), 0)])
def test_cumsum(shape, dim, device):
    check_op([shape], lambda x: x.cumsum(dim), lambda a: np.cumsum(a, axis=dim if a.ndim else 0)
             .reshape(a.shape), device=device)


def test_cumsum_integer_gives_int64():
    out = engine.tensor([1, 2, 3], dtype=engine.int32).cumsum(0)
    assert out.dtype == engine.int64 and out.tolist() == [1, 3, 6]
    assert engine.cumsum(engine.ones(3), 0, dtype=engine.float64).dtype == engine.float64


@pytest.mark.parametrize("device", DEVICES)
def test_norm_at_zero_has_zero_gradient(device):
    for p in (2, "fro", 1, 3.0, 0.5):
        x = engine.zeros(2, 3, device=device, requires_grad=True)
        x.norm(p=p).backward()
        assert not np.isnan(to_np(x.grad)).any() and not to_np(x.grad).any(), p
    x = engine.tensor([[0.0, 0.0], [3.0, 4.0]], device=device, requires_grad=True)
    x.norm(dim=1).sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0, 0], [0.6, 0.8]], rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_std_of_constant_has_zero_gradient(device):
    x = engine.ones(4, device=device, requires_grad=True)
    x.std().backward()
    assert to_np(x.grad).tolist() == [0.0] * 4


@pytest.mark.parametrize("device", DEVICES)
def test_logsumexp_is_stable(device):
    x = engine.tensor([[1000.0, 1000.0], [-1000.0, -1e30]], device=device, requires_grad=True)
    out = x.logsumexp(dim=1)
    np.testing.assert_allclose(to_np(out), [1000.0 + math.log(2), -1000.0], rtol=1e-6)
    out.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), [[0.5, 0.5], [1.0, 0.0]], atol=1e-4)
    assert engine.tensor([-INF, -INF]).logsumexp(0).item() == -INF
    assert engine.tensor([INF, 1.0]).logsumexp(0).item() == INF
    assert engine.tensor([1, 2]).logsumexp(0).dtype == engine.float32


@pytest.mark.parametrize("device", DEVICES)
def test_arg_and_logical_reductions(device):
    a = np.array([[1.0, 7.0, 7.0], [9.0, 0.0, -2.0]], F32)
    x = engine.tensor(a, device=device)
    cases = [
        (x.argmax(), np.argmax(a)), (x.argmin(), np.argmin(a)),
        (x.argmax(1), np.argmax(a, 1)), (x.argmin(dim=-2, keepdim=True), np.argmin(a, 0)[None]),
        (x.argmax(keepdim=True), np.array([[3]])), (engine.argmax(x, 0), np.argmax(a, 0)),
        (x.all(), np.all(a)), (x.any(1), np.any(a, 1)), (x.all(dim=(0, 1)), np.all(a)),
        (x.any(dim=-1, keepdim=True), np.any(a, -1, keepdims=True)),
        (x.count_nonzero(), np.count_nonzero(a)), (x.count_nonzero(dim=0), [2, 1, 2]),
        (engine.count_nonzero(x, dim=(0, 1)), 5), (engine.tensor(3.0).argmax(0), 0),
    ]
    for out, expected in cases:
        assert out.device == x.device
        assert to_np(out).tolist() == np.asarray(expected).tolist()
        assert to_np(out).shape == np.asarray(expected).shape
    for out in (x.argmax(), x.argmin(1), x.count_nonzero(0), x.max(1).indices):
        assert out.dtype == engine.int64 and not out.requires_grad
    assert x.all().dtype == engine.bool and x.any(0).dtype == engine.bool


def test_integer_and_bool_inputs():
    i = engine.tensor([[1, 2], [3, 4]], dtype=engine.int32)
    assert i.sum().dtype == engine.int64 and i.prod().dtype == engine.int64
    assert i.prod(1).tolist() == [2, 12] and i.max().dtype == engine.int32
    assert i.amax(0).tolist() == [3, 4] and i.max(1).values.dtype == engine.int32
    assert engine.tensor([True, True]).sum().item() == 2
    assert engine.tensor([1, 0], dtype=engine.uint8).all().dtype == engine.uint8
    for bad in (lambda: i.var(), lambda: i.std(), lambda: i.norm(), lambda: i.mean()):
        with pytest.raises(RuntimeError):
            bad()


def test_var_std_argument_forms():
    a = np.array([[1.0, 3.0, 4.0], [2.0, 6.0, 9.0]], F32)
    x = engine.tensor(a)
    np.testing.assert_allclose(to_np(x.var(True)), a.var(ddof=1), rtol=1e-6)
    np.testing.assert_allclose(to_np(x.var(False)), a.var(), rtol=1e-6)
    np.testing.assert_allclose(to_np(x.var(1, True, True)), a.var(1, ddof=1, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(to_np(x.std(0, unbiased=False)), a.std(0), rtol=1e-6)
    np.testing.assert_allclose(to_np(engine.var(x, 1, correction=2)), a.var(1, ddof=2),
                               rtol=1e-6)
    v, m = engine.var_mean(x, 1)
    np.testing.assert_allclose(to_np(v), a.var(1, ddof=1), rtol=1e-6)
    s, m2 = engine.std_mean(x, dim=(0, 1), keepdim=True)
    np.testing.assert_allclose(to_np(s), a.std(ddof=1, keepdims=True), rtol=1e-6)
    np.testing.assert_allclose(to_np(m2), a.mean(keepdims=True), rtol=1e-6)
    with pytest.raises(RuntimeError):
        x.var(unbiased=True, correction=0)
    assert math.isnan(engine.ones(1).var().item())


def test_dim_errors():
    x = engine.ones(2, 3)
    with pytest.raises(IndexError):
        x.sum(2)
    with pytest.raises(IndexError):
        x.amax(-3)
    with pytest.raises((TypeError, RuntimeError)):
        x.var(dim=(0, 0))
    with pytest.raises(RuntimeError, match="numel"):
        engine.ones(0).max()
    with pytest.raises(IndexError, match="non-zero size"):
        engine.ones(0, 3).amax(0)
    assert engine.ones(0, 3).amax(1).shape == (0,)
    assert engine.ones(0).sum().item() == 0 and math.isnan(engine.ones(0).mean().item())


def test_empty_dim_tuple_means_all_dims():
    x = engine.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.sum(dim=()).item() == 10 and x.amax(dim=[]).item() == 4
    assert x.mean(dim=()).item() == 2.5 and x.norm(dim=()).shape == ()


REDUCTIONS = ["sum", "mean", "var", "std", "prod", "amax", "amin", "logsumexp", "norm",
              "norm1", "norminf"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_float32_stays_float32(name):
    x = engine.tensor(distinct((2, 3, 4), offset=0.1), requires_grad=True)
    fns = {"norm1": lambda t: t.norm(p=1, dim=(0, 2)),
           "norminf": lambda t: t.norm(p=INF, dim=1, keepdim=True)}
    out = fns[name](x) if name in fns else getattr(x, name)(dim=(0, 2))
    assert out.dtype == engine.float32 and out._data.dtype == np.float32
    out.backward(engine.ones_like(out))
    assert x.grad.dtype == engine.float32 and x.grad._data.dtype == np.float32
    assert getattr(x.detach(), name if name not in fns else "norm")().dtype == engine.float32


def _torch_reduce(name, t, dims, keepdim):
    if name == "prod":  # one dim at a time
        for d in sorted((d % max(t.ndim, 1) for d in dims or range(t.ndim)), reverse=True):
            t = t.prod(d, keepdim=keepdim)
        return t
    if name in ("max_dim", "min_dim"):
        return getattr(t, name[:3])(dims[0], keepdim).values
    full = tuple(dims) if dims else (tuple(range(t.ndim)) or 0)
    kw = {"correction": 0} if name in ("var", "std") else {"p": 2} if name == "norm" else {}
    return getattr(t, name)(dim=full, keepdim=keepdim, **kw)


@needs_torch
@pytest.mark.parametrize("name", ["sum", "mean", "var", "std", "prod", "amax", "amin",
                                  "logsumexp", "norm", "max_dim", "min_dim"])
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_fuzz_against_torch(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4))
    ndim = len(shape)
    if name.endswith("_dim"):
        dims = [data.draw(st.integers(-max(ndim, 1), max(ndim, 1) - 1))]
    else:
        dims = data.draw(st.lists(st.integers(0, max(ndim - 1, 0)), unique=True,
                                  max_size=ndim))
        dims = [d - ndim if data.draw(st.booleans()) else d for d in dims]
    keepdim = data.draw(st.booleans())
    a = data.draw(hnp.arrays(F32, shape, unique=True,
                             elements=st.floats(-2, 2, width=32).filter(lambda v: abs(v) > 1e-3)))
    x, t = engine.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    if name.endswith("_dim"):
        out = getattr(x, name[:3])(dims[0], keepdim).values
    else:
        kw = {"correction": 0} if name in ("var", "std") else {"p": 2} if name == "norm" else {}
        out = getattr(x, name)(dim=tuple(dims), keepdim=keepdim, **kw)
    expected = _torch_reduce(name, t, dims, keepdim)
    assert out.shape == tuple(expected.shape) and out.dtype == engine.float32
    np.testing.assert_allclose(to_np(out), to_np(expected), rtol=2e-4, atol=1e-5)
    seed = np.random.default_rng(0).standard_normal(tuple(out.shape)).astype(F32)
    out.backward(engine.tensor(seed))
    expected.backward(torch.tensor(seed))
    assert x.grad.dtype == engine.float32
    np.testing.assert_allclose(to_np(x.grad), to_np(t.grad), rtol=2e-3, atol=1e-4)
