"""sort / argsort / topk / kthvalue / msort / unique / nonzero / searchsorted / bincount:
against NumPy, and against PyTorch where it is installed."""

import numpy as np
import pytest

import engine

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

SHAPE_DIMS = [((), 0), ((), -1), ((6,), 0), ((6,), -1), ((3, 4, 5), 0), ((3, 4, 5), 1),
              ((3, 4, 5), -1)]


def _rand(shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape).astype(np.float32)


def _ref_sort(a, dim, descending=False):
    if a.ndim == 0:
        return a.copy(), np.zeros((), np.int64)
    idx = np.argsort(-a if descending else a, axis=dim, kind="stable")
    return np.take_along_axis(a, idx, dim), idx


def _same(e, t):
    """Engine result equals a torch (or NumPy) result in values and dtype name."""
    np.testing.assert_array_equal(to_np(e), to_np(t))
    assert tuple(e.shape) == tuple(t.shape)
    if torch is not None and isinstance(t, torch.Tensor):
        assert e.dtype.name == str(t.dtype).split(".")[-1]


def _ties(seed=0, shape=(4, 12)):
    return np.random.default_rng(seed).integers(0, 3, size=shape)


# -- sort / argsort -----------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_and_grad(shape, dim, descending, device):
    a = _rand(shape)
    v, i = engine.tensor(a, device=device).sort(dim, descending=descending)
    rv, ri = _ref_sort(a, dim, descending)
    _same(v.cpu(), rv)
    _same(i.cpu(), ri)
    assert i.dtype == engine.int64 and not i.requires_grad
    check_op([shape], lambda x: x.sort(dim, descending=descending)[0],
             lambda x: _ref_sort(x, dim, descending)[0], device=device)


@needs_torch
@pytest.mark.parametrize("shape,dim", SHAPE_DIMS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_matches_torch(shape, dim, descending):
    a = _rand(shape, seed=3)
    e = engine.sort(engine.tensor(a), dim=dim, descending=descending)
    t = torch.sort(torch.tensor(a), dim=dim, descending=descending)
    _same(e.values, t.values)
    _same(e.indices, t.indices)
    _same(engine.argsort(engine.tensor(a), dim, descending), torch.argsort(torch.tensor(a), dim,
                                                                           descending))


@needs_torch
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, 1])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64, np.uint8,
                                   np.bool_])
def test_stable_ties_match_torch(descending, dim, dtype):
    a = _ties(seed=dim).astype(dtype)
    e = engine.tensor(a).sort(dim=dim, descending=descending, stable=True)
    t = torch.tensor(a).sort(dim=dim, descending=descending, stable=True)
    _same(e.values, t.values)
    _same(e.indices, t.indices)
    _same(engine.tensor(a).argsort(dim=dim, descending=descending, stable=True),
          torch.tensor(a).argsort(dim=dim, descending=descending, stable=True))


def test_sort_extreme_ints_descending():
    info = np.iinfo(np.int64)
    a = np.array([0, info.min, info.max, -1, info.min], dtype=np.int64)
    v, i = engine.tensor(a).sort(descending=True)
    assert v.tolist() == [info.max, 0, -1, info.min, info.min]
    assert i.tolist() == [2, 0, 3, 1, 4]


@needs_torch
@pytest.mark.parametrize("descending", [False, True])
def test_sort_nan_inf_like_torch(descending):
    a = np.array([1.0, np.nan, 3.0, np.inf, -np.inf, np.nan, -0.0, 0.0], dtype=np.float32)
    e = engine.tensor(a).sort(descending=descending, stable=True)
    t = torch.tensor(a).sort(descending=descending, stable=True)
    np.testing.assert_array_equal(to_np(e.values), to_np(t.values))
    _same(e.indices, t.indices)


def test_sort_result_is_named_tuple_and_int_values():
    r = engine.sort(engine.tensor([3, 1, 2]))
    values, indices = r
    assert r.values is values and r.indices is indices
    assert values.tolist() == [1, 2, 3] and values.dtype == engine.int64
    assert "values=" in repr(r)


def test_sort_bad_dim():
    with pytest.raises(IndexError):
        engine.zeros(3).sort(dim=1)
    with pytest.raises(IndexError):
        engine.tensor(1.0).sort(dim=1)


def test_sort_empty():
    v, i = engine.zeros(0, 3).sort(dim=0)
    assert v.shape == (0, 3) and i.shape == (0, 3) and i.dtype == engine.int64


@needs_torch
def test_sort_double_backward_matches_torch():
    a = _rand((3, 5), seed=7).astype(np.float64)
    x = engine.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    w = np.arange(5, dtype=np.float64)
    (g,) = engine.autograd.grad((x.sort(1)[0] ** 3 * engine.tensor(w)).sum(), x,
                                create_graph=True)
    (tg,) = torch.autograd.grad((tx.sort(1)[0] ** 3 * torch.tensor(w)).sum(), tx,
                                create_graph=True)
    np.testing.assert_allclose(to_np(g), to_np(tg))
    (gg,) = engine.autograd.grad(g.sum(), x)
    (tgg,) = torch.autograd.grad(tg.sum(), tx)
    np.testing.assert_allclose(to_np(gg), to_np(tgg))


def test_sort_grad_accumulates_through_two_uses():
    x = engine.tensor([2.0, 1.0, 3.0], requires_grad=True)
    (x.sort()[0] * engine.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [2.0, 1.0, 3.0]
    assert x.sort().values.grad_fn is not None
    with engine.no_grad():
        assert not x.sort().values.requires_grad


# -- topk / kthvalue / msort -------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("shape,dim,k", [((), 0, 1), ((), -1, 0), ((7,), 0, 3), ((7,), 0, 7),
                                         ((7,), -1, 0), ((3, 4, 5), 1, 2), ((3, 4, 5), -1, 4)])
def test_topk(shape, dim, k, largest, device):
    def ref(a):
        v, i = _ref_sort(a, dim, descending=largest)
        if a.ndim:
            v, i = np.take(v, range(k), axis=dim), np.take(i, range(k), axis=dim)
        return v, i

    a = _rand(shape, seed=1)
    out = engine.tensor(a, device=device).topk(k, dim, largest=largest)
    rv, ri = ref(a)
    _same(out.values.cpu(), rv)
    _same(out.indices.cpu(), ri)
    if k:
        check_op([shape], lambda x: x.topk(k, dim, largest=largest)[0], lambda x: ref(x)[0],
                 device=device)


@needs_torch
@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_topk_matches_torch(largest, dim):
    a = _rand((4, 6, 5), seed=2)
    e = engine.topk(engine.tensor(a), 3, dim=dim, largest=largest)
    t = torch.topk(torch.tensor(a), 3, dim=dim, largest=largest)
    _same(e.values, t.values)
    _same(e.indices, t.indices)


@needs_torch
def test_topk_nan_like_torch():
    a = np.array([1.0, np.nan, 3.0, -1.0], dtype=np.float32)
    for largest in (True, False):
        e = engine.tensor(a).topk(2, largest=largest)
        t = torch.tensor(a).topk(2, largest=largest)
        np.testing.assert_array_equal(to_np(e.values), to_np(t.values))
        _same(e.indices, t.indices)


def test_topk_unsorted_flag_and_errors():
    x = engine.tensor([1.0, 5.0, 3.0])
    v, _ = x.topk(2, sorted=False)
    assert sorted(v.tolist()) == [3.0, 5.0]
    with pytest.raises(RuntimeError, match="k out of range"):
        x.topk(4)
    with pytest.raises(RuntimeError):
        x.topk(-1)


@needs_torch
@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("dim,keepdim", [(0, False), (1, True), (-1, False), (-1, True)])
def test_kthvalue_matches_torch(k, dim, keepdim):
    a = _rand((5, 5), seed=k)
    e = engine.tensor(a).kthvalue(k, dim, keepdim)
    t = torch.tensor(a).kthvalue(k, dim, keepdim)
    _same(e.values, t.values)
    _same(e.indices, t.indices)
    check_op([(5, 5)], lambda x: x.kthvalue(k, dim, keepdim)[0])


def test_kthvalue_0d_and_errors():
    v, i = engine.kthvalue(engine.tensor(4.0), 1)
    assert v.item() == 4.0 and i.item() == 0 and i.shape == ()
    with pytest.raises(RuntimeError, match="out of range"):
        engine.kthvalue(engine.tensor([1.0, 2.0]), 3)
    with pytest.raises(RuntimeError):
        engine.kthvalue(engine.tensor([1.0, 2.0]), 0)


def test_msort():
    a = _rand((4, 3), seed=4)
    check_op([(4, 3)], lambda x: x.msort(), lambda x: np.sort(x, axis=0))
    _same(engine.msort(engine.tensor(a)), np.sort(a, axis=0))


# -- unique -------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(), (10,), (3, 4, 5)])
def test_unique_inverse_counts(shape, device):
    a = np.asarray(np.random.default_rng(5).integers(-3, 4, size=shape))
    x = engine.tensor(a, device=device)
    out, inv, counts = x.unique(return_inverse=True, return_counts=True)
    ref, rinv, rcounts = np.unique(a, return_inverse=True, return_counts=True)
    _same(out.cpu(), ref)
    _same(inv.cpu(), rinv.reshape(a.shape))
    _same(counts.cpu(), rcounts)
    assert inv.dtype == counts.dtype == engine.int64
    _same(engine.unique(x).cpu(), ref)
    np.testing.assert_array_equal(to_np(out.cpu())[to_np(inv.cpu())], a)


@needs_torch
@pytest.mark.parametrize("return_inverse", [False, True])
@pytest.mark.parametrize("return_counts", [False, True])
@pytest.mark.parametrize("data", [[3, 1, 2, 3, 1], [[1.5, -2.0], [1.5, 0.0]], [True, False, True],
                                  5, [2.0, float("nan"), float("nan"), 1.0]])
def test_unique_matches_torch(data, return_inverse, return_counts):
    e = engine.unique(engine.tensor(data), return_inverse=return_inverse,
                      return_counts=return_counts)
    t = torch.unique(torch.tensor(data), return_inverse=return_inverse,
                     return_counts=return_counts)
    e, t = (e, t) if isinstance(t, tuple) else ((e,), (t,))
    assert len(e) == len(t)
    for ei, ti in zip(e, t):
        np.testing.assert_array_equal(to_np(ei), to_np(ti))
        assert ei.dtype.name == str(ti.dtype).split(".")[-1]
        assert tuple(ei.shape) == tuple(ti.shape)


@needs_torch
@pytest.mark.parametrize("dim", [0, 1])
def test_unique_dim_matches_torch(dim):
    a = np.array([[1, 2, 1], [1, 2, 1], [0, 5, 0]])
    e = engine.unique(engine.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    t = torch.unique(torch.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    for ei, ti in zip(e, t):
        _same(ei, ti)


def test_unique_not_differentiable():
    x = engine.tensor([1.0, 1.0, 2.0], requires_grad=True)
    assert not x.unique().requires_grad


# -- nonzero / argwhere -------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shape", [(), (8,), (3, 4, 5), (2, 0)])
def test_nonzero(shape, device):
    a = (np.random.default_rng(6).uniform(size=shape) > 0.5).astype(np.float32)
    x = engine.tensor(a, device=device)
    nz = x.nonzero()
    assert nz.dtype == engine.int64 and nz.shape == (int(a.sum()), a.ndim)
    if a.ndim:
        _same(nz.cpu(), np.argwhere(a))
        for e, r in zip(x.nonzero(as_tuple=True), np.nonzero(a)):
            _same(e.cpu(), r)
        _same(engine.argwhere(x).cpu(), np.argwhere(a))


@needs_torch
@pytest.mark.parametrize("data", [5, 0, 0.0, [0, 1, 0, 2], [[0.0, 1.5], [2.0, 0.0]],
                                  [[True, False], [False, False]], [[[0, 1]], [[1, 1]]], []])
def test_nonzero_matches_torch(data):
    e, t = engine.tensor(data), torch.tensor(data)
    _same(engine.nonzero(e), torch.nonzero(t))
    _same(engine.argwhere(e), torch.argwhere(t))
    et, tt = engine.nonzero(e, as_tuple=True), torch.nonzero(t, as_tuple=True)
    assert len(et) == len(tt)
    for a, b in zip(et, tt):
        _same(a, b)


# -- searchsorted / bincount --------------------------------------------------------------
@needs_torch
@pytest.mark.parametrize("kw", [{}, {"right": True}, {"side": "right"}, {"side": "left"},
                                {"out_int32": True}])
@pytest.mark.parametrize("seq,vals", [
    ([1, 3, 5, 7], [[3, 6], [9, 0]]),
    ([1.0, 3.0, 5.0, 7.0], [3.0, 3.5, -1.0]),
    ([[1, 3, 5], [2, 4, 6]], [[3, 0], [6, 7]]),
    ([[[1.0, 2.0]], [[0.0, 4.0]]], [[[2.0]], [[5.0]]]),
])
def test_searchsorted_matches_torch(seq, vals, kw):
    _same(engine.searchsorted(engine.tensor(seq), engine.tensor(vals), **kw),
          torch.searchsorted(torch.tensor(seq), torch.tensor(vals), **kw))


@needs_torch
def test_searchsorted_scalar_sorter_and_errors():
    _same(engine.searchsorted(engine.tensor([1, 3, 5]), 3),
          torch.searchsorted(torch.tensor([1, 3, 5]), 3))
    seq, sorter = [5.0, 1.0, 3.0], [1, 2, 0]
    _same(engine.searchsorted(engine.tensor(seq), engine.tensor([3.0, 4.0]),
                              sorter=engine.tensor(sorter)),
          torch.searchsorted(torch.tensor(seq), torch.tensor([3.0, 4.0]),
                             sorter=torch.tensor(sorter)))
    with pytest.raises(RuntimeError):
        engine.searchsorted(engine.tensor([1, 2]), engine.tensor([1]), right=True, side="left")
    with pytest.raises(RuntimeError):
        engine.searchsorted(engine.tensor([[1, 2], [3, 4]]), engine.tensor([[1], [2], [3]]))


WEIGHTS = {"none": None, "float32": np.arange(5, dtype=np.float32) / 2,
           "float64": np.arange(5.0), "int": np.arange(5), "float16": np.ones(5, np.float16)}


@needs_torch
@pytest.mark.parametrize("weights", list(WEIGHTS))
@pytest.mark.parametrize("minlength", [0, 8])
def test_bincount_matches_torch(weights, minlength):
    x, w = [0, 1, 1, 4, 1], WEIGHTS[weights]
    ew = None if w is None else engine.tensor(w)
    tw = None if w is None else torch.tensor(w)
    _same(engine.bincount(engine.tensor(x), ew, minlength),
          torch.bincount(torch.tensor(x), tw, minlength))
    _same(engine.tensor(x).bincount(), torch.tensor(x).bincount())


def test_bincount_errors_and_empty():
    assert engine.bincount(engine.tensor([], dtype=engine.int64), minlength=3).tolist() == [0] * 3
    for bad in ([-1, 2], [[1, 2]], [1.0, 2.0]):
        with pytest.raises(RuntimeError, match="non-negative integral"):
            engine.bincount(engine.tensor(bad))


def test_methods_attached():
    x = engine.tensor([3.0, 0.0, 2.0])
    assert x.sort().values.tolist() == [0.0, 2.0, 3.0]
    assert x.argsort().tolist() == [1, 2, 0]
    assert x.topk(1).indices.tolist() == [0]
    assert x.unique().tolist() == [0.0, 2.0, 3.0]
    assert x.nonzero().tolist() == [[0], [2]]
    assert x.argwhere().tolist() == [[0], [2]]
    assert x.kthvalue(1).values.item() == 0.0
    for name in ("sort", "argsort", "topk", "unique", "nonzero", "argwhere", "kthvalue",
                 "msort", "searchsorted", "bincount"):
        assert callable(getattr(engine, name))
