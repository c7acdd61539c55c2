"""dtypes (engine/dtypes.py): the dtype objects, PyTorch's type promotion as seen through
the binary ops, and casts (`.to`, `.float()`, ...), which are differentiable for floats."""

import itertools

import numpy as np
import pytest

import engine
from engine import dtypes

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
FLOATS = ["float16", "float32", "float64"]
NDIMS = [(1, 1), (1, 0), (0, 1), (0, 0)]  # n-d / 0-d operand combinations
SCALARS = [True, False, 2, -3, 2.5, 0.0]


def _name(dt) -> str:
    return str(dt).split(".")[-1]


def _ones(mod, name, nd, device="cpu"):
    kw = {"device": device} if mod is engine else {}
    return mod.ones((2,) if nd else (), dtype=getattr(mod, name), **kw)


# -- the dtype objects --------------------------------------------------------------------
def test_dtypes_exist_and_repr():
    for name in NAMES:
        dt = getattr(engine, name)
        assert isinstance(dt, engine.dtype)
        assert repr(dt) == f"engine.{name}" and dt.name == name
        assert dt.np == np.dtype(name if name != "bool" else np.bool_)
        assert dt.itemsize == dt.np.itemsize
    assert repr(engine.float32) == "engine.float32"
    assert engine.float is engine.float32 and engine.double is engine.float64
    assert engine.half is engine.float16 and engine.long is engine.int64
    assert engine.int is engine.int32 and engine.short is engine.int16


def test_is_floating_point():
    for name in NAMES:
        dt = getattr(engine, name)
        assert dt.is_floating_point == (name in FLOATS)
        t = engine.ones(2, dtype=dt)
        assert t.is_floating_point() == (name in FLOATS)
        assert engine.is_floating_point(t) == (name in FLOATS)
        assert t.dtype is dt and t.element_size() == dt.itemsize


def test_dtype_identity_hash_and_pickle():
    import pickle

    assert engine.float32 == engine.float32 and engine.float32 != engine.float64
    assert len({engine.float32, engine.float32, engine.int64}) == 2
    assert pickle.loads(pickle.dumps(engine.float32)) is engine.float32
    assert engine.zeros(2).dtype is engine.float32


def test_to_dtype_accepts_names_numpy_and_python_types():
    assert dtypes.to_dtype("float32") is engine.float32
    assert dtypes.to_dtype("double") is engine.float64 and dtypes.to_dtype("long") is engine.int64
    assert dtypes.to_dtype(np.float16) is engine.float16
    assert dtypes.to_dtype(np.dtype("int32")) is engine.int32
    assert dtypes.to_dtype(int) is engine.int64 and dtypes.to_dtype(bool) is engine.bool
    with pytest.raises(TypeError):
        dtypes.to_dtype(np.complex64)


@needs_torch
def test_python_float_type_is_float64_like_torch():
    assert _name(torch.zeros(1, dtype=float).dtype) == "float64"
    assert engine.zeros(1, dtype=float).dtype == engine.float64


@needs_torch
def test_is_signed_like_torch_except_uint8():
    for name in NAMES:
        if name != "uint8":
            assert getattr(engine, name).is_signed == getattr(torch, name).is_signed, name


@needs_torch
def test_uint8_is_unsigned():
    assert engine.uint8.is_signed is torch.uint8.is_signed is False


# -- promotion against torch --------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_promote_types_match_torch(a, b):
    got = dtypes.promote_types(getattr(engine, a), getattr(engine, b))
    assert got.name == _name(torch.promote_types(getattr(torch, a), getattr(torch, b)))


@needs_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_tensor_tensor_promotion_matches_torch(a, b):
    """n-d/n-d, n-d/0-d, 0-d/n-d and 0-d/0-d operands, through + and *."""
    for nda, ndb in NDIMS:
        ea, eb = _ones(engine, a, nda), _ones(engine, b, ndb)
        ta, tb = _ones(torch, a, nda), _ones(torch, b, ndb)
        want = _name(torch.result_type(ta, tb))
        assert dtypes.result_type(ea, eb).name == want, (a, b, nda, ndb)
        assert (ea + eb).dtype.name == want, (a, b, nda, ndb)
        assert (ea * eb).dtype.name == _name((ta * tb).dtype), (a, b, nda, ndb)
        assert tuple((ea + eb).shape) == tuple((ta + tb).shape)


@needs_torch
@pytest.mark.parametrize("a", NAMES)
@pytest.mark.parametrize("nd", [1, 0])
def test_tensor_scalar_promotion_matches_torch(a, nd):
    ea, ta = _ones(engine, a, nd), _ones(torch, a, nd)
    for s in SCALARS:
        if a == "uint8" and s == -3:
            continue  # out of range for uint8: see test_out_of_range_int_scalar_wraps
        want = _name(torch.result_type(ta, s))
        assert dtypes.result_type(ea, s).name == want, (a, s)
        assert (ea + s).dtype.name == want, (a, nd, s)
        assert (s + ea).dtype.name == want, (a, nd, s)
        assert (ea * s).dtype.name == _name((ta * s).dtype), (a, nd, s)
        np.testing.assert_allclose(to_np(ea + s).astype(np.float64),
                                   to_np(ta + s).astype(np.float64))


@needs_torch
@pytest.mark.parametrize("a,b", list(itertools.product(NAMES, NAMES)))
def test_true_division_matches_torch(a, b):
    for nda, ndb in NDIMS:
        ea, eb = _ones(engine, a, nda), _ones(engine, b, ndb)
        ta, tb = _ones(torch, a, nda), _ones(torch, b, ndb)
        assert (ea / eb).dtype.name == _name((ta / tb).dtype), (a, b, nda, ndb)
    for s in (2, 2.5):
        assert (_ones(engine, a, 1) / s).dtype.name == _name((_ones(torch, a, 1) / s).dtype)


@needs_torch
@pytest.mark.parametrize("name,scalar", [("uint8", -3), ("int8", 300)])
def test_out_of_range_int_scalar_wraps(name, scalar):
    want = to_np(_ones(torch, name, 1) + scalar)
    got = _ones(engine, name, 1) + scalar
    assert got.dtype.name == name
    np.testing.assert_array_equal(to_np(got), want)


def test_promotion_spot_checks():
    f32, i64 = engine.ones(2), engine.ones(2, dtype=engine.int64)
    assert (f32 * 2.0).dtype == engine.float32
    assert (i64 * 2.5).dtype == engine.float32  # default float dtype for a float scalar
    assert (i64 + True).dtype == engine.int64
    assert (engine.tensor([True]) + 1).dtype == engine.int64
    assert (f32 + engine.tensor(1.0, dtype=engine.float64)).dtype == engine.float32
    assert (i64 + engine.tensor(1.0, dtype=engine.float64)).dtype == engine.float64
    assert (engine.ones(2, dtype=engine.uint8) + engine.ones(2, dtype=engine.int8)).dtype \
        == engine.int16
    assert (engine.ones(2, dtype=engine.float16) + 1.5).dtype == engine.float16


@pytest.mark.parametrize("device", DEVICES)
def test_promotion_on_device(device):
    a = engine.ones(2, dtype=engine.int32, device=device)
    assert (a + engine.ones(2, device=device)).dtype == engine.float32
    assert (a * 2).dtype == engine.int32 and (a / 2).dtype == engine.float32


# -- casts --------------------------------------------------------------------------------
def _data_for(src: str, dst: str) -> list:
    if src == "bool" or dst == "bool":
        return [0, 1, 1, 0] if src != "bool" else [False, True, True, False]
    vals = [0, 1, 2.5, 7.75] if src in FLOATS else [0, 1, 2, 7]
    if dst != "uint8" and src != "uint8":
        vals[2] = -vals[2]
    return vals


@needs_torch
@pytest.mark.parametrize("src,dst", list(itertools.product(NAMES, NAMES)))
def test_to_dtype_matches_torch(src, dst):
    data = np.array(_data_for(src, dst), dtype=np.bool_ if src == "bool" else src)
    e = engine.tensor(data).to(getattr(engine, dst))
    t = torch.tensor(data).to(getattr(torch, dst))
    assert e.dtype.name == _name(t.dtype)
    np.testing.assert_array_equal(to_np(e), to_np(t))
    assert engine.tensor(data).to(dtype=getattr(engine, dst)).dtype.name == dst


@needs_torch
@pytest.mark.parametrize("src", NAMES)
def test_conversion_methods_match_torch(src):
    data = np.array(_data_for(src, "int8"), dtype=np.bool_ if src == "bool" else src)
    e, t = engine.tensor(data), torch.tensor(data)
    for method in ("float", "double", "half", "long", "int", "bool"):
        eo, to = getattr(e, method)(), getattr(t, method)()
        assert eo.dtype.name == _name(to.dtype), method
        np.testing.assert_array_equal(to_np(eo), to_np(to))


def test_to_returns_self_when_unchanged_and_copies_on_request():
    x = engine.ones(3)
    assert x.to(engine.float32) is x and x.float() is x
    assert x.to(x) is x and x.to("cpu") is x
    c = x.to(engine.float32, copy=True)
    assert c is not x and c._data is not x._data
    assert x.to(engine.ones(1, dtype=engine.float64)).dtype == engine.float64
    assert x.type(engine.float64).dtype == engine.float64 and x.type() == "engine.float32"
    assert x.to(int).dtype == engine.int64 and x.to(bool).dtype == engine.bool


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("src,dst", [(s, d) for s in FLOATS for d in FLOATS if s != d])
def test_float_casts_are_differentiable(src, dst, device):
    x = engine.tensor([1.5, -2.0, 0.25], dtype=getattr(engine, src), device=device,
                      requires_grad=True)
    y = x.to(getattr(engine, dst))
    assert y.requires_grad and y.dtype.name == dst and y.grad_fn is not None
    (y * y).sum().backward()
    assert x.grad.dtype.name == src and x.grad.device == x.device
    np.testing.assert_allclose(to_np(x.grad), [3.0, -4.0, 0.5], rtol=1e-3)


def test_cast_gradcheck_and_double_backward():
    check_op([(3, 4)], lambda x: x.double() * x.double(), lambda x: (x * x).astype(np.float64),
             atol=1e-5)
    check_op([(3, 4)], lambda x: x.half().float() * 3, gradcheck=False, atol=1e-2, rtol=1e-2)
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    (g,) = engine.autograd.grad((x.double() ** 3).sum(), x, create_graph=True)
    assert g.dtype == engine.float32 and g.tolist() == [3.0, 12.0]
    (gg,) = engine.autograd.grad(g.sum(), x)
    assert gg.dtype == engine.float32 and gg.tolist() == [6.0, 12.0]


def test_integer_casts_cut_the_graph():
    x = engine.tensor([1.5, 2.5], requires_grad=True)
    for method in ("long", "int", "bool"):
        out = getattr(x, method)()
        assert not out.requires_grad and out.grad_fn is None
