"""Tensor creation (engine/ops/creation.py) and random streams (engine/random.py)."""

import numpy as np
import pytest

import engine

from .helpers import DEVICES, needs_torch, to_np, torch


def _dev(device):
    return engine.device("cuda:0" if device == "cuda" else device)


def _same(e, t, rtol=0.0, atol=0.0):
    """Same shape, dtype name and values (exact unless a tolerance is given)."""
    assert tuple(e.shape) == tuple(t.shape)
    assert e.dtype.name == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(to_np(e).astype(np.float64), to_np(t).astype(np.float64),
                               rtol=rtol, atol=atol)


# -- from data ----------------------------------------------------------------------------
def test_default_dtypes():
    assert engine.tensor([1.0, 2.0]).dtype == engine.float32
    assert engine.tensor(3.5).dtype == engine.float32
    assert engine.tensor([1, 2]).dtype == engine.int64
    assert engine.tensor(3).dtype == engine.int64
    assert engine.tensor([True, False]).dtype == engine.bool
    assert engine.tensor([1, 2.0]).dtype == engine.float32
    assert engine.tensor([True, 2]).dtype == engine.int64
    assert engine.tensor([]).dtype == engine.float32
    assert engine.tensor([[]]).shape == (1, 0)
    assert engine.tensor(range(3)).tolist() == [0, 1, 2]


@pytest.mark.parametrize("np_dtype", [np.float64, np.float32, np.float16, np.int64, np.int32,
                                      np.int16, np.int8, np.uint8, np.bool_])
def test_numpy_dtype_is_kept(np_dtype):
    a = np.zeros(3, dtype=np_dtype)
    for fn in (engine.tensor, engine.as_tensor, engine.from_numpy):
        assert fn(a).dtype.np == np.dtype(np_dtype)
    assert engine.tensor(np.float64(1.0)).dtype == engine.float64
    assert engine.tensor(np.int32(1)).dtype == engine.int32


def test_unsupported_numpy_dtypes_raise():
    for bad in (np.zeros(2, np.complex64), np.zeros(2, np.uint16), np.array(["a"])):
        with pytest.raises(TypeError):
            engine.tensor(bad)
    with pytest.raises(TypeError):
        engine.tensor("a")
    with pytest.raises(TypeError, match="np.ndarray"):
        engine.from_numpy([1, 2])
    with pytest.raises(ValueError):
        engine.tensor([[1, 2], [3]])


def test_explicit_dtype_and_requires_grad():
    t = engine.tensor([1, 2], dtype=engine.float64, requires_grad=True)
    assert t.dtype == engine.float64 and t.requires_grad and t.is_leaf
    assert engine.tensor([1.5, -1.5], dtype=engine.int32).tolist() == [1, -1]
    assert engine.tensor([1, 2], dtype=engine.float16).dtype == engine.float16


def test_from_numpy_and_as_tensor_share_memory_tensor_copies():
    a = np.zeros(3, dtype=np.float32)
    shared, viewed, copied = engine.from_numpy(a), engine.as_tensor(a), engine.tensor(a)
    a[0] = 5.0
    assert shared.tolist() == [5.0, 0.0, 0.0] and viewed.tolist() == [5.0, 0.0, 0.0]
    assert copied.tolist() == [0.0, 0.0, 0.0]
    cast = engine.as_tensor(a, dtype=engine.float64)  # a dtype change must copy
    a[1] = 6.0
    assert cast.tolist() == [5.0, 0.0, 0.0]
    b = a.reshape(3, 1).T  # non-contiguous views are fine too
    assert engine.from_numpy(b).shape == (1, 3)


def test_tensor_from_tensor_copies_and_detaches():
    x = engine.ones(2, requires_grad=True) * 2
    y = engine.tensor(x)
    assert not y.requires_grad and y.is_leaf
    assert y._data is not x._data and y.tolist() == [2.0, 2.0]
    z = engine.ones(2)
    assert engine.as_tensor(z) is z
    assert engine.as_tensor(z, dtype=engine.float64).dtype == engine.float64
    assert engine.tensor([engine.tensor(1.0), engine.tensor(2.0)]).tolist() == [1.0, 2.0]


def test_requires_grad_on_integer_tensors_raises():
    with pytest.raises(RuntimeError, match="floating point"):
        engine.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        engine.ones(2, dtype=engine.int64, requires_grad=True)
    with pytest.raises(RuntimeError):
        engine.tensor([True]).requires_grad_()
    t = engine.tensor([1, 2])
    with pytest.raises(RuntimeError):
        t.requires_grad = True
    assert not t.requires_grad


# -- fills --------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn,value", [(engine.zeros, 0), (engine.ones, 1), (engine.empty, None)])
def test_fill_argument_forms(fn, value, device):
    for args in [(2, 3), ((2, 3),), ([2, 3],), (engine.Size([2, 3]),)]:
        t = fn(*args, device=device)
        assert t.shape == (2, 3) and t.dtype == engine.float32 and t.device == _dev(device)
        if value is not None:
            assert (to_np(t) == value).all()
    assert fn().shape == () and fn(()).shape == () and fn([]).shape == ()
    assert fn(0).shape == (0,)
    assert fn(2, dtype=engine.int64).dtype == engine.int64
    assert fn(2, dtype=engine.bool).dtype == engine.bool
    assert fn(2, requires_grad=True).requires_grad
    with pytest.raises(TypeError):
        fn(2.5)


@pytest.mark.parametrize("device", DEVICES)
def test_full(device):
    assert engine.full((2,), 1.5, device=device).dtype == engine.float32
    assert engine.full((2,), 7).dtype == engine.int64
    assert engine.full((2,), True).dtype == engine.bool
    assert engine.full([], 2.0).shape == ()
    t = engine.full((2, 2), 3, dtype=engine.float64, device=device)
    assert t.dtype == engine.float64 and (to_np(t) == 3).all() and t.device == _dev(device)
    assert engine.full((2,), 1.5, dtype=engine.int64).tolist() == [1, 1]
    assert engine.full((2,), float("inf")).tolist() == [float("inf")] * 2
    assert engine.scalar_tensor(3).dtype == engine.float32
    assert engine.scalar_tensor(3, dtype=engine.int64).item() == 3


NEGATIVE = [lambda: engine.zeros(2, -1), lambda: engine.ones(-2), lambda: engine.empty(-1),
            lambda: engine.full((-1,), 1.0), lambda: engine.rand(-1),
            lambda: engine.randn(2, -1), lambda: engine.randint(0, 3, (-1,))]


@pytest.mark.parametrize("make", NEGATIVE)
def test_negative_size_raises(make):
    with pytest.raises(engine.EngineError, match="negative dimension"):
        make()


@pytest.mark.parametrize("make", NEGATIVE[:2])
def test_negative_size_is_runtime_error_like_torch(make):
    with pytest.raises(RuntimeError):
        make()


def test_randperm_negative_raises():
    with pytest.raises(RuntimeError):
        engine.randperm(-1)


@pytest.mark.parametrize("make", [lambda: engine.linspace(0, 1, -1), lambda: engine.eye(-1)])
def test_linspace_eye_negative_raise_runtime_error(make):
    with pytest.raises(RuntimeError):
        make()


# -- ranges: compared against torch -------------------------------------------------------
RANGE_CASES = [
    ("arange", (5,), {}), ("arange", (1, 4), {}), ("arange", (0, 1, 0.25), {}),
    ("arange", (1.0, 4), {}), ("arange", (5,), {"dtype": "float64"}),
    ("arange", (0, 10, 3), {}), ("arange", (10, 0, -3), {}), ("arange", (0, 1, 0.1), {}),
    ("arange", (1, 2.5, 0.5), {}), ("arange", (-1.0, 1.0, 0.3), {}),
    ("arange", (0, 5, 2), {"dtype": "float32"}), ("arange", (0.0, 3.0, 1.0), {"dtype": "int64"}),
    ("arange", (0.5, 5, 1), {"dtype": "int64"}), ("arange", (0, 0), {}),
    ("arange", (0, 1, 0.1), {"dtype": "float64"}), ("arange", (3,), {"dtype": "int32"}),
    ("linspace", (0, 1, 5), {}), ("linspace", (0, 10, 5), {"dtype": "int64"}),
    ("linspace", (0, 1, 1), {}), ("linspace", (0, 1, 0), {}),
    ("linspace", (-1, 1, 4), {"dtype": "float64"}), ("linspace", (3, -3, 7), {}),
    ("linspace", (-10, 0, 4), {"dtype": "int64"}), ("linspace", (0, 1, 7), {}),
    ("linspace", (2, 2, 3), {}), ("linspace", (0, 1, 5), {"dtype": "float16"}),
    ("eye", (3,), {}), ("eye", (2, 3), {}), ("eye", (3, 2), {"dtype": "int64"}),
    ("eye", (0,), {}), ("eye", (3,), {"dtype": "bool"}), ("eye", (2, 0), {}),
    ("eye", (4,), {"dtype": "float64"}),
    ("full", ((2,), 1.5), {}), ("full", ((2,), True), {}), ("full", ((2, 2), 3), {}),
    ("full", ((2, 2), 3), {"dtype": "float64"}), ("full", ((), 2.0), {}),
    ("full", ((3,), 1.5), {"dtype": "int64"}), ("full", ((2,), 7), {"dtype": "int32"}),
    ("full", ((2, 1), 0), {"dtype": "bool"}), ("full", ((0, 3), 1.0), {}),
    ("arange", (0, 5, 1.5), {"dtype": "int64"}), ("arange", (1, 7, 1.5), {"dtype": "int64"}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kw", RANGE_CASES)
def test_ranges_match_torch(name, args, kw):
    e = getattr(engine, name)(*args, **{k: getattr(engine, v) for k, v in kw.items()})
    t = getattr(torch, name)(*args, **{k: getattr(torch, v) for k, v in kw.items()})
    _same(e, t, rtol=2e-7 if e.is_floating_point() else 0, atol=1e-7)


@pytest.mark.parametrize("device", DEVICES)
def test_ranges_on_device(device):
    assert engine.arange(3, device=device).device == _dev(device)
    assert to_np(engine.linspace(0, 1, 3, device=device)).tolist() == [0.0, 0.5, 1.0]
    assert to_np(engine.eye(2, device=device)).tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert engine.arange(3.0, requires_grad=True).requires_grad


def test_arange_zero_step_raises():
    with pytest.raises(engine.EngineError):
        engine.arange(0, 5, 0)


def test_arange_inconsistent_step_raises():
    with pytest.raises(RuntimeError, match="inconsistent with step sign"):
        engine.arange(5, 1)


def test_arange_tensor_bound_is_int():
    assert engine.arange(engine.tensor(3)).dtype == engine.int64


def test_list_of_numpy_float64_scalars_keeps_float64():
    assert engine.tensor([np.float64(1.0)]).dtype == engine.float64


# -- *_like and new_* ---------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
def test_like_forms(device):
    src = engine.ones(2, 3, dtype=engine.float64, device=device)
    for fn in (engine.zeros_like, engine.ones_like, engine.empty_like, engine.rand_like,
               engine.randn_like):
        t = fn(src)
        assert t.shape == (2, 3) and t.dtype == engine.float64 and t.device == _dev(device)
        assert fn(src, dtype=engine.float32).dtype == engine.float32
    assert (to_np(engine.zeros_like(src)) == 0).all()
    assert (to_np(engine.ones_like(src)) == 1).all()
    assert (to_np(engine.full_like(src, 2.5)) == 2.5).all()
    ints = engine.ones(2, dtype=engine.int64)
    assert engine.full_like(ints, 2.7).tolist() == [2, 2]
    assert engine.zeros_like(ints).dtype == engine.int64
    assert engine.zeros_like(src, requires_grad=True).requires_grad
    r = engine.randint_like(src, 2, 5)
    assert r.dtype == engine.float64 and ((to_np(r) >= 2) & (to_np(r) < 5)).all()
    with pytest.raises(TypeError):
        engine.rand_like(ints)


def test_randint_high_only_keyword_forms():
    assert engine.randint(3, size=(2,)).shape == (2,)
    assert engine.randint_like(engine.ones(2, 3), 5).shape == (2, 3)


def test_new_methods():
    base = engine.zeros(2, dtype=engine.float64)
    assert base.new_zeros(3).dtype == engine.float64 and base.new_zeros(3).tolist() == [0.0] * 3
    assert base.new_ones((2, 2)).shape == (2, 2) and (base.new_ones(2, 2).numpy() == 1).all()
    assert base.new_zeros(2, 3, dtype=engine.int64).dtype == engine.int64
    assert base.new_empty(2, 3).shape == (2, 3)
    ints = engine.zeros(2, dtype=engine.int32)
    assert ints.new_full((2,), 7).tolist() == [7, 7]
    assert ints.new_full((2,), 7.5).dtype == ints.dtype
    t = base.new_tensor([1, 2])
    assert t.dtype == engine.float64 and t.tolist() == [1.0, 2.0]
    assert engine.zeros(2).new_tensor([1, 2], dtype=engine.int64).dtype == engine.int64
    assert base.new_zeros(2, requires_grad=True).requires_grad


# -- random -------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("sample", [lambda d: engine.rand(5, device=d),
                                    lambda d: engine.randn(2, 3, device=d),
                                    lambda d: engine.randint(0, 100, (6,), device=d),
                                    lambda d: engine.randperm(10, device=d)])
def test_manual_seed_reproducible(sample, device):
    engine.manual_seed(123)
    a = to_np(sample(device))
    engine.manual_seed(123)
    b = to_np(sample(device))
    engine.manual_seed(124)
    c = to_np(sample(device))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_random_forms_and_dtypes():
    assert engine.rand(3).dtype == engine.float32
    assert engine.randn(2, 3, dtype=engine.float64).dtype == engine.float64
    assert engine.rand(3, dtype=engine.float16).dtype == engine.float16
    assert engine.rand(()).shape == () and engine.rand((2, 3)).shape == (2, 3)
    assert engine.randn([2, 3]).shape == (2, 3)
    assert engine.rand(2, 3, requires_grad=True).requires_grad
    assert engine.randint(10, (3,)).dtype == engine.int64
    assert engine.randint(0, 3, (2,), dtype=engine.float32).dtype == engine.float32
    assert sorted(engine.randperm(6).tolist()) == list(range(6))
    assert engine.randperm(0).shape == (0,) and engine.randperm(3).dtype == engine.int64
    with pytest.raises(TypeError):
        engine.rand(2, dtype=engine.int64)
    with pytest.raises(engine.EngineError, match="from"):
        engine.randint(5, 3, (2,))
    with pytest.raises(engine.EngineError):
        engine.randint(3, 3, (2,))


def test_values_in_range_and_moments():
    r = engine.rand(100_000).numpy()
    assert r.min() >= 0.0 and r.max() < 1.0
    assert abs(r.mean() - 0.5) < 0.01 and abs(r.var() - 1 / 12) < 0.005
    i = engine.randint(-5, -2, (30_000,)).numpy()
    assert set(np.unique(i).tolist()) == {-5, -4, -3}
    n = engine.randn(100_000).numpy()
    assert n.dtype == np.float32
    assert abs(n.mean()) < 0.02 and abs(n.std() - 1.0) < 0.02
    n64 = engine.randn(100_000, dtype=engine.float64).numpy()
    assert abs(n64.mean()) < 0.02 and abs(n64.std() - 1.0) < 0.02


def test_generator_objects():
    g = engine.Generator()
    assert g.manual_seed(7) is g and g.initial_seed() == 7 and g.device == engine.device("cpu")
    a = engine.randn(4, generator=engine.Generator().manual_seed(7))
    b = engine.randn(4, generator=g)
    assert a.tolist() == b.tolist()
    assert engine.randperm(5, generator=engine.Generator().manual_seed(1)).tolist() == \
        engine.randperm(5, generator=engine.Generator().manual_seed(1)).tolist()
    # an explicit generator does not advance the default stream
    engine.manual_seed(0)
    x = engine.rand(3)
    engine.manual_seed(0)
    engine.rand(3, generator=engine.Generator().manual_seed(99))
    assert engine.rand(3).tolist() == x.tolist()
    assert engine.manual_seed(5).initial_seed() == 5 and engine.initial_seed() == 5


def test_generator_state_round_trip_continues_stream():
    g = engine.Generator().manual_seed(1)
    engine.rand(2, generator=g)
    state = g.get_state()
    assert state.dtype == engine.uint8 and state.ndim == 1
    first = engine.rand(4, generator=g).tolist()
    second = engine.randn(4, generator=g).tolist()
    g.set_state(state)
    assert engine.rand(4, generator=g).tolist() == first
    assert engine.randn(4, generator=g).tolist() == second
    other = engine.Generator().manual_seed(999).set_state(state)  # state moves between gens
    assert engine.rand(4, generator=other).tolist() == first


def test_global_rng_state_round_trip():
    engine.manual_seed(3)
    engine.randn(5)
    state = engine.get_rng_state()
    a = engine.randn(5).tolist()
    b = engine.randint(0, 10, (5,)).tolist()
    engine.set_rng_state(state)
    assert engine.randn(5).tolist() == a and engine.randint(0, 10, (5,)).tolist() == b


def test_default_generator_is_a_generator():
    assert isinstance(engine.default_generator, engine.Generator)
