"""nn.TransformerEncoderLayer / TransformerEncoder: parity with PyTorch (values and
gradients, same weights through state_dict) for batch_first, norm_first, activations,
masks, training and evaluation; state dict layout, deep copies, dropout modes."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn
from tests.engine.helpers import DEVICES, needs_torch, to_np, torch

E_, H_, FF_, L_, N_ = 8, 2, 16, 5, 3


def _load(ref, model):
    ref.load_state_dict({k: torch.tensor(to_np(v)) for k, v in model.state_dict().items()})


def _masks(kind, bf):
    rng = np.random.default_rng(7)
    am = kpm = None
    if kind in ("causal", "both"):
        am = np.triu(np.full((L_, L_), -np.inf, np.float32), 1)
    if kind == "bool":
        am = rng.random((L_, L_)) > 0.7
        np.fill_diagonal(am, False)
    if kind in ("kpm", "both"):
        kpm = np.zeros((N_, L_), bool)
        kpm[0, -2:] = True
    if kind == "both":  # same mask types (mixed types are deprecated, with a warning)
        kpm = np.where(kpm, -np.inf, 0.0).astype(np.float32)
    return am, kpm


def _run(model, lib, x, am, kpm, train, layer_kw):
    tx = (engine.tensor(x, requires_grad=True) if lib is engine
          else torch.tensor(x, requires_grad=True))
    def wrap(a):
        return engine.tensor(a) if lib is engine else torch.tensor(a)

    out = model(tx, **{k: wrap(v) if isinstance(v, np.ndarray) else v
                       for k, v in layer_kw(am, kpm).items()})
    if not train:
        return [out]
    (out * out).sum().backward()
    return [out, tx.grad] + [p.grad for p in model.parameters()]


def _check(model, ref, x, am, kpm, train, layer_kw):
    _load(ref, model)
    model.train(train)
    ref.train(train)
    e = _run(model, engine, x, am, kpm, train, layer_kw)
    t = _run(ref, torch, x, am, kpm, train, layer_kw)
    assert len(e) == len(t)
    for a, b in zip(e, t):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=2e-5, rtol=1e-4)


def _layer_kw(causal):
    return lambda am, kpm: {"src_mask": am, "src_key_padding_mask": kpm, "is_causal": causal}


LAYER_CASES = [  # (batch_first, norm_first, mask): both activations for each
    (bf, nf, mask) for bf, nf, mask in itertools.product(
        [False, True], [False, True], [None, "kpm", "causal", "bool", "both"])]


@needs_torch
@pytest.mark.parametrize("bf,norm_first,mask", LAYER_CASES)
@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_layer_matches_torch(bf, norm_first, mask, train):
    act = "gelu" if (bf != norm_first) == (mask in (None, "causal", "both")) else "relu"
    kw = dict(dim_feedforward=FF_, dropout=0.0, activation=act, batch_first=bf,
              norm_first=norm_first)
    model = nn.TransformerEncoderLayer(E_, H_, **kw)
    ref = torch.nn.TransformerEncoderLayer(E_, H_, **kw)
    x = np.random.default_rng(0).standard_normal((N_, L_, E_) if bf else (L_, N_, E_))
    am, kpm = _masks(mask, bf)
    _check(model, ref, x.astype(np.float32), am, kpm, train, _layer_kw(mask == "causal"))


@needs_torch
@pytest.mark.parametrize("bias", [True, False])
def test_layer_callable_activation_and_no_bias_match_torch(bias):
    kw = dict(dim_feedforward=FF_, dropout=0.0, bias=bias, layer_norm_eps=1e-3)
    model = nn.TransformerEncoderLayer(E_, H_, activation=F.silu, **kw)
    ref = torch.nn.TransformerEncoderLayer(E_, H_, activation=torch.nn.functional.silu, **kw)
    assert [k for k in model.state_dict()] == [k for k in ref.state_dict()]
    x = np.random.default_rng(1).standard_normal((L_, N_, E_)).astype(np.float32)
    _check(model, ref, x, None, None, True, _layer_kw(False))


@needs_torch
def test_layer_unbatched_matches_torch():
    model = nn.TransformerEncoderLayer(E_, H_, FF_, dropout=0.0)
    ref = torch.nn.TransformerEncoderLayer(E_, H_, FF_, dropout=0.0)
    x = np.random.default_rng(2).standard_normal((L_, E_)).astype(np.float32)
    kpm = np.array([False, False, False, True, True])
    _check(model, ref, x, None, kpm, True, _layer_kw(False))


ENCODER_CASES = list(itertools.product([False, True], [False, True],
                                       [None, "kpm", "causal", "both"]))


@needs_torch
@pytest.mark.parametrize("bf,norm_first,mask", ENCODER_CASES)
def test_encoder_matches_torch(bf, norm_first, mask):
    with_norm = norm_first  # pre-norm stacks end with a final norm
    kw = dict(dim_feedforward=FF_, dropout=0.0, batch_first=bf, norm_first=norm_first)
    layer = nn.TransformerEncoderLayer(E_, H_, **kw)
    model = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(E_) if with_norm else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.TransformerEncoder(torch.nn.TransformerEncoderLayer(E_, H_, **kw), 2,
                                          norm=torch.nn.LayerNorm(E_) if with_norm else None,
                                          enable_nested_tensor=False)
    x = np.random.default_rng(3).standard_normal((N_, L_, E_) if bf else (L_, N_, E_))
    am, kpm = _masks(mask, bf)

    def encoder_kw(am, kpm):
        return {"mask": am, "src_key_padding_mask": kpm}

    for train in (True, False):
        _check(model, ref, x.astype(np.float32), am, kpm, train, encoder_kw)


@needs_torch
def test_state_dict_and_repr_match_torch():
    layer = nn.TransformerEncoderLayer(E_, H_, FF_)
    ref_layer = torch.nn.TransformerEncoderLayer(E_, H_, FF_)
    shapes = lambda m: [(k, tuple(v.shape)) for k, v in m.state_dict().items()]  # noqa: E731
    assert shapes(layer) == shapes(ref_layer)
    assert repr(layer) == repr(ref_layer)
    enc = nn.TransformerEncoder(layer, 3, norm=nn.LayerNorm(E_))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = torch.nn.TransformerEncoder(ref_layer, 3, norm=torch.nn.LayerNorm(E_))
    assert shapes(enc) == shapes(ref)
    # (PyTorch prints repeated ModuleList entries as "(0-2): 3 x ..."; compare the head)
    assert repr(enc).splitlines()[:2] == repr(ref).splitlines()[:2]


def test_encoder_layers_are_independent_deep_copies():
    layer = nn.TransformerEncoderLayer(E_, H_, FF_)
    enc = nn.TransformerEncoder(layer, 2)
    a, b = enc.layers[0], enc.layers[1]
    assert a is not layer and a is not b
    assert a.linear1.weight is not b.linear1.weight
    np.testing.assert_array_equal(to_np(a.linear1.weight), to_np(layer.linear1.weight))
    with engine.no_grad():
        a.linear1.weight.add_(1.0)
    assert not np.allclose(to_np(a.linear1.weight), to_np(b.linear1.weight))
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))


def test_dropout_active_in_training_and_off_in_eval():
    engine.manual_seed(0)
    model = nn.TransformerEncoderLayer(E_, H_, FF_, dropout=0.5)
    x = engine.randn(L_, N_, E_)
    assert not np.allclose(to_np(model(x)), to_np(model(x)))
    model.eval()
    np.testing.assert_array_equal(to_np(model(x)), to_np(model(x)))
    clean = nn.TransformerEncoderLayer(E_, H_, FF_, dropout=0.0)
    clean.load_state_dict(model.state_dict())
    clean.eval()
    np.testing.assert_allclose(to_np(clean(x)), to_np(model(x)), rtol=1e-6)


def test_errors_and_causal_detection():
    with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
        nn.TransformerEncoderLayer(E_, H_, activation="tanh")
    from engine.nn.transformer import _detect_is_causal_mask

    causal = nn.generate_square_subsequent_mask(4)
    assert _detect_is_causal_mask(causal, None, 4)
    assert not _detect_is_causal_mask(causal, None, 5)
    assert not _detect_is_causal_mask(engine.zeros(4, 4), None, 4)
    assert _detect_is_causal_mask(None, True, 4)


def test_encoder_gradcheck_float64():
    engine.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, 6, dropout=0.0, norm_first=True).double()
    enc = nn.TransformerEncoder(layer, 1)
    x = engine.randn(3, 1, 4, dtype=engine.float64, requires_grad=True)
    mask = nn.generate_square_subsequent_mask(3, dtype=engine.float64)
    assert engine.autograd.gradcheck(lambda t: enc(t, mask=mask), [x])


@pytest.mark.parametrize("device", DEVICES)
def test_encoder_runs_on_device(device):
    enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(E_, H_, FF_, batch_first=True), 2)
    enc.to(device)
    x = engine.randn(N_, L_, E_, device=device, requires_grad=True)
    out = enc(x, src_key_padding_mask=engine.zeros(N_, L_, dtype=engine.bool, device=device))
    out.sum().backward()
    assert out.device == engine.backend.resolve(device) and x.grad.shape == x.shape
