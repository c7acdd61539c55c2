"""F.scaled_dot_product_attention and nn.MultiheadAttention: parity with PyTorch (values
and gradients, same weights through state_dict) over mask kinds and options, fully
masked rows, float64 gradchecks of the custom safe-softmax backward, checks and
messages."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn
from tests.engine.helpers import DEVICES, needs_torch, to_np, torch

rng_ = np.random.default_rng


def _t(a, lib, rg=False):
    if a is None:
        return None
    return engine.tensor(a, requires_grad=rg) if lib is engine else torch.tensor(
        a, requires_grad=rg)


# -- scaled_dot_product_attention ------------------------------------------------------------
def _masks():
    rng = rng_(5)
    bool_mask = rng.random((4, 5)) > 0.4
    bool_mask[1] = False  # a fully masked query row
    return {
        "none": {},
        "causal": {"is_causal": True},
        "bool": {"attn_mask": bool_mask},
        "bool_bcast": {"attn_mask": rng.random((2, 1, 4, 5)) > 0.3},
        "float": {"attn_mask": rng.standard_normal((4, 5)).astype(np.float32)},
        "float_neginf": {"attn_mask": np.where(bool_mask, 0.0, -np.inf).astype(np.float32)},
        "scale": {"scale": 0.3},
    }


@needs_torch
@pytest.mark.parametrize("name", list(_masks()))
@pytest.mark.parametrize("shape", [(2, 3), (3,)], ids=["4d", "3d"])
def test_sdpa_matches_torch(name, shape):
    kw = _masks()[name]
    if name == "bool_bcast" and len(shape) == 1:
        kw = {"attn_mask": kw["attn_mask"][0]}
    rng = rng_(0)
    q, k = (rng.standard_normal((*shape, n, 8)).astype(np.float32) for n in (4, 5))
    v = rng.standard_normal((*shape, 5, 6)).astype(np.float32)
    outs = []
    for lib, fn in ((engine, F.scaled_dot_product_attention),
                    (torch, torch.nn.functional.scaled_dot_product_attention)):
        args = [_t(a, lib, True) for a in (q, k, v)]
        out = fn(*args, **{n: _t(a, lib) if isinstance(a, np.ndarray) else a
                           for n, a in kw.items()})
        out.backward(_t(rng_(1).standard_normal(out.shape).astype(np.float32), lib))
        outs.append([out] + [a.grad for a in args])
    for e, t in zip(*outs):
        np.testing.assert_allclose(to_np(e), to_np(t), atol=1e-5, rtol=1e-4)


def test_sdpa_fully_masked_row_gives_zeros_and_zero_grads():
    q = engine.randn(1, 3, 4, requires_grad=True)
    mask = engine.tensor([[True, True], [False, False], [True, False]])
    out = F.scaled_dot_product_attention(q, engine.randn(1, 2, 4), engine.randn(1, 2, 4),
                                         attn_mask=mask)
    out.sum().backward()
    assert not to_np(out)[0, 1].any() and not to_np(q.grad)[0, 1].any()
    assert np.isfinite(to_np(q.grad)).all()


def _f64(*shape, seed=0):
    return engine.tensor(rng_(seed).uniform(-1, 1, shape), dtype=engine.float64,
                         requires_grad=True)


@pytest.mark.parametrize("kw", [{}, {"is_causal": True},
                                {"attn_mask": np.array([[1, 0, 1], [0, 0, 0]], bool)},
                                {"attn_mask": np.array([[0.5, -1, 0], [0, -np.inf, 2]])}],
                         ids=["none", "causal", "bool", "float"])
def test_sdpa_gradcheck_and_double_backward(kw):
    kw = {n: engine.tensor(a) if isinstance(a, np.ndarray) else a for n, a in kw.items()}
    ins = [_f64(2, 2, 3), _f64(2, 3, 3, seed=1), _f64(2, 3, 2, seed=2)]

    def fn(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, **kw)

    assert engine.autograd.gradcheck(fn, ins)
    assert engine.autograd.gradgradcheck(lambda *a: (fn(*a) ** 2).sum(), ins)


def test_safe_softmax_gradcheck_with_masked_rows():
    from engine.nn.functional.attention import SafeSoftmax

    x = engine.tensor([[0.3, -1.0, 2.0], [-np.inf, -np.inf, -np.inf], [0.1, -np.inf, 0.4]],
                      dtype=engine.float64)
    y = SafeSoftmax.apply(x)
    np.testing.assert_allclose(to_np(y).sum(-1), [1.0, 0.0, 1.0])
    finite = _f64(2, 3)
    assert engine.autograd.gradcheck(lambda t: SafeSoftmax.apply(t), [finite])
    assert engine.autograd.gradgradcheck(lambda t: (SafeSoftmax.apply(t) ** 3).sum(), [finite])


def test_sdpa_errors_and_options():
    q = engine.randn(2, 3, 4)
    with pytest.raises(RuntimeError, match="Explicit attn_mask should not be set"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=engine.ones(3, 3) > 0,
                                       is_causal=True)
    with pytest.raises(RuntimeError, match="Expected attn_mask dtype to be bool or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=engine.ones(3, 3, dtype=engine.int64))
    engine.manual_seed(0)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    engine.manual_seed(0)
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    assert not np.allclose(to_np(a), to_np(F.scaled_dot_product_attention(q, q, q)))
    assert not to_np(F.scaled_dot_product_attention(q, q, q, dropout_p=1.0)).any()


@needs_torch
def test_sdpa_grouped_query_attention_matches_torch():
    rng = rng_(3)
    q = rng.standard_normal((2, 4, 3, 8)).astype(np.float32)
    kv = rng.standard_normal((2, 2, 5, 8)).astype(np.float32)
    e = F.scaled_dot_product_attention(*[engine.tensor(a) for a in (q, kv, kv)],
                                       enable_gqa=True)
    t = torch.nn.functional.scaled_dot_product_attention(*[torch.tensor(a) for a in (q, kv, kv)],
                                                         enable_gqa=True)
    np.testing.assert_allclose(to_np(e), to_np(t), atol=1e-5)


# -- MultiheadAttention ----------------------------------------------------------------------
E_, H_, L_, S_, N_ = 8, 2, 4, 5, 3


def _mha_pair(**kw):
    m = nn.MultiheadAttention(E_, H_, **kw)
    ref = torch.nn.MultiheadAttention(E_, H_, **kw)
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in m.state_dict().items()})
    return m, ref


def _mha_inputs(rng, bf, self_attn, kdims, mask):
    shp = (lambda n, d: (N_, n, d)) if bf else (lambda n, d: (n, N_, d))
    q = rng.standard_normal(shp(L_, E_)).astype(np.float32)
    if self_attn:
        k = v = q
        s = L_
    else:
        kd, vd = kdims or (E_, E_)
        k = rng.standard_normal(shp(S_, kd)).astype(np.float32)
        v = rng.standard_normal(shp(S_, vd)).astype(np.float32)
        s = S_
    am = kpm = None
    if mask in ("bool", "both"):
        am = rng.random((L_, s)) > 0.7
        am[:, 0] = False
    if mask == "float":
        am = rng.standard_normal((L_, s)).astype(np.float32)
    if mask == "3d":
        am = rng.standard_normal((N_ * H_, L_, s)).astype(np.float32)
    if mask in ("kpm", "both"):
        kpm = rng.random((N_, s)) > 0.7
        kpm[:, 0] = False
    return q, k, v, am, kpm


def _run_mha(mod, lib, q, k, v, am, kpm, self_attn, **kw):
    tq = _t(q, lib, True)
    tk, tv = (tq, tq) if self_attn else (_t(k, lib, True), _t(v, lib, True))
    out, w = mod(tq, tk, tv, key_padding_mask=_t(kpm, lib), attn_mask=_t(am, lib), **kw)
    loss = (out * out).sum() + (0 if w is None else (w * w).sum())
    loss.backward()
    return [out, w, tq.grad] + [p.grad for p in mod.parameters()]


CASES = list(itertools.product(
    [False, True],                                  # batch_first
    ["self", "cross", "kvdim"],                     # attention kind
    [None, "bool", "float", "kpm", "both", "3d"],   # masks
    [True, False],                                  # need_weights
))


@needs_torch
@pytest.mark.parametrize("bf,kind,mask,need_weights", CASES)
def test_mha_matches_torch(bf, kind, mask, need_weights):
    kdims = (3, 5) if kind == "kvdim" else None
    kw = {"batch_first": bf}
    if kdims:
        kw.update(kdim=kdims[0], vdim=kdims[1])
    m, ref = _mha_pair(**kw)
    ins = _mha_inputs(rng_(0), bf, kind == "self", kdims, mask)
    e = _run_mha(m, engine, *ins, kind == "self", need_weights=need_weights)
    t = _run_mha(ref, torch, *ins, kind == "self", need_weights=need_weights)
    for a, b in zip(e, t):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-5, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("extra", [{"add_bias_kv": True}, {"add_zero_attn": True},
                                   {"bias": False}, {"add_bias_kv": True, "add_zero_attn": True}],
                         ids=["bias_kv", "zero_attn", "no_bias", "both"])
@pytest.mark.parametrize("average", [True, False])
def test_mha_options_match_torch(extra, average):
    m, ref = _mha_pair(**extra)
    ins = _mha_inputs(rng_(1), False, False, None, "both")
    e = _run_mha(m, engine, *ins, False, average_attn_weights=average)
    t = _run_mha(ref, torch, *ins, False, average_attn_weights=average)
    for a, b in zip(e, t):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-5, rtol=1e-4)


@needs_torch
@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_unbatched_and_fully_masked_rows_match_torch(need_weights):
    """Unbatched (L, E) inputs; a fully masked key set gives nan (need_weights) or zero
    attention output (SDPA path), as PyTorch."""
    m, ref = _mha_pair()
    rng = rng_(2)
    x = rng.standard_normal((L_, E_)).astype(np.float32)
    kpm = np.ones(L_, bool)
    for mask in (None, kpm):
        outs = []
        for lib, mod in ((engine, m), (torch, ref)):
            tx = _t(x, lib)
            outs.append(mod(tx, tx, tx, key_padding_mask=_t(mask, lib),
                            need_weights=need_weights))
        (eo, ew), (to, tw) = outs
        np.testing.assert_allclose(to_np(eo), to_np(to), atol=1e-5, rtol=1e-4)
        assert (ew is None) == (tw is None)
        if ew is not None:
            np.testing.assert_allclose(to_np(ew), to_np(tw), atol=1e-5, rtol=1e-4)
    assert np.isnan(to_np(eo)).all() == need_weights


@needs_torch
@pytest.mark.parametrize("kw", [{}, {"kdim": 3, "vdim": 5}, {"add_bias_kv": True},
                                {"bias": False}])
def test_mha_state_dict_and_repr_match_torch(kw):
    m = nn.MultiheadAttention(E_, H_, **kw)
    ref = torch.nn.MultiheadAttention(E_, H_, **kw)
    assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in ref.state_dict().items()]
    assert repr(m) == repr(ref)


def test_mha_default_init():
    engine.manual_seed(0)
    m = nn.MultiheadAttention(64, 4)
    assert not to_np(m.in_proj_bias).any() and not to_np(m.out_proj.bias).any()
    bound = np.sqrt(6.0 / (64 + 3 * 64))  # xavier_uniform_ on (3E, E)
    w = to_np(m.in_proj_weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound


def test_mha_errors():
    with pytest.raises(AssertionError, match="embed_dim must be divisible by num_heads"):
        nn.MultiheadAttention(8, 3)
    with pytest.raises(ValueError, match="embed_dim and num_heads must be greater than 0"):
        nn.MultiheadAttention(0, 2)
    m = nn.MultiheadAttention(8, 2)
    x = engine.randn(3, 2, 8)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match=r"The shape of the 2D attn_mask is"):
        m(x, x, x, attn_mask=engine.zeros(2, 3))
    with pytest.raises(AssertionError, match="expected `key` and `value` to be 3-D"):
        m(x, x[0], x[0])


@needs_torch
def test_mha_dropout_is_off_in_eval_and_causal_hint_matches_torch():
    m, ref = _mha_pair(dropout=0.5)
    m.eval()
    ref.eval()
    x = rng_(4).standard_normal((L_, N_, E_)).astype(np.float32)
    causal = np.triu(np.full((L_, L_), -np.inf, np.float32), 1)
    for need in (True, False):
        e = m(*[engine.tensor(x)] * 3, attn_mask=engine.tensor(causal), is_causal=True,
              need_weights=need)[0]
        with torch.no_grad():
            t = ref(*[torch.tensor(x)] * 3, attn_mask=torch.tensor(causal), is_causal=True,
                    need_weights=need)[0]
        np.testing.assert_allclose(to_np(e), to_np(t), atol=1e-5, rtol=1e-4)
    m.train()
    a = m(*[engine.tensor(x)] * 3)[0]
    assert not np.allclose(to_np(a), to_np(m(*[engine.tensor(x)] * 3)[0]))


@pytest.mark.parametrize("device", DEVICES)
def test_mha_runs_on_device(device):
    m = nn.MultiheadAttention(8, 2, batch_first=True).to(device)
    x = engine.randn(2, 3, 8, device=device, requires_grad=True)
    out, w = m(x, x, x, key_padding_mask=engine.zeros(2, 3, dtype=engine.bool, device=device))
    (out.sum() + w.sum()).backward()
    assert x.grad.shape == x.shape and out.device == engine.backend.resolve(device)


@needs_torch
@pytest.mark.parametrize("which", ["kpm", "attn", "both", "attn3d"])
def test_merge_masks_matches_torch(which):
    m, ref = _mha_pair(batch_first=True)
    rng = rng_(6)
    q = rng.standard_normal((N_, L_, E_)).astype(np.float32)
    am = {"attn": rng.random((L_, L_)) > 0.5, "both": rng.random((L_, L_)) > 0.5,
          "attn3d": rng.random((N_ * H_, L_, L_)) > 0.5}.get(which)
    kpm = rng.random((N_, L_)) > 0.5 if which in ("kpm", "both") else None
    em, et = m.merge_masks(_t(am, engine), _t(kpm, engine), _t(q, engine))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm, tt = ref.merge_masks(_t(am, torch), _t(kpm, torch), _t(q, torch))
    assert et == tt
    if tm.dtype == torch.bool:  # torch keeps bool masks here; compare the masked set
        tm = torch.zeros(tm.shape).masked_fill(tm, float("-inf"))
    np.testing.assert_array_equal(to_np(em), to_np(tm))
