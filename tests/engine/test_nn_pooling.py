"""Pooling layers and functions: parity with PyTorch (values, indices, gradients),
float64 gradcheck, double backward, repr and error messages."""

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn

from .helpers import DEVICES, needs_torch, to_np, torch

if torch is not None:
    import torch.nn.functional as TF


def _distinct(shape, rng, dtype=np.float32):
    """Distinct values (no ties), so argmax and gradients are unambiguous."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) / n - 0.5).astype(dtype)


def _parity(fe, ft, shape, device="cpu", distinct=False, atol=1e-5, seed=0):
    """fe on an engine tensor (on `device`) vs ft on a torch CPU tensor: values, indices
    (when a tuple is returned) and the input gradient."""
    rng = np.random.default_rng(seed)
    a = _distinct(shape, rng) if distinct else rng.standard_normal(shape).astype(np.float32)
    xe = engine.tensor(a, device=device, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    ye, yt = fe(xe), ft(xt)
    if isinstance(yt, tuple):
        assert ye[1].dtype == engine.int64
        np.testing.assert_array_equal(to_np(ye[1]), to_np(yt[1]))
        ye, yt = ye[0], yt[0]
    assert ye.dtype == engine.float32 and tuple(ye.shape) == tuple(yt.shape)
    np.testing.assert_allclose(to_np(ye), to_np(yt), atol=atol, rtol=1e-5)
    g = rng.standard_normal(tuple(yt.shape)).astype(np.float32)
    ye.backward(engine.tensor(g, device=device))
    yt.backward(torch.tensor(g))
    assert xe.grad.dtype == engine.float32
    np.testing.assert_allclose(to_np(xe.grad), to_np(xt.grad), atol=atol, rtol=1e-5)


def _gradcheck(fn, shape, device="cpu", seed=0):
    x = engine.tensor(_distinct(shape, np.random.default_rng(seed), np.float64), device=device,
                      requires_grad=True)
    assert engine.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5, rtol=1e-3)


MAX2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 1), dilation=(1, 2), ceil_mode=True),
    dict(kernel_size=3, stride=2, ceil_mode=True, return_indices=True),
    dict(kernel_size=3, stride=1, dilation=2, padding=1, return_indices=True),
    dict(kernel_size=2, stride=1),
]


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", MAX2D, ids=str)
@pytest.mark.parametrize("shape", [(2, 3, 7, 8), (3, 6, 5)], ids=str)
def test_max_pool2d_matches_torch(kw, shape, device):
    _parity(lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), shape, device,
            distinct=True)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1,
                                                          ceil_mode=True),
                                dict(kernel_size=3, padding=1, dilation=2, return_indices=True)],
                         ids=str)
def test_max_pool1d_matches_torch(kw, device):
    for shape in [(2, 3, 9), (3, 10)]:
        _parity(lambda x: F.max_pool1d(x, **kw), lambda x: TF.max_pool1d(x, **kw), shape,
                device, distinct=True)


def test_max_pool_ties_nan_and_ints():
    x = engine.tensor([[[[1.0, 1.0], [0.0, 1.0]]]], requires_grad=True)
    y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.item() == 0  # the first maximum wins, as in PyTorch
    y.backward(engine.ones_like(y))
    assert to_np(x.grad).tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]
    nan = F.max_pool2d(engine.tensor([[[[1.0, float("nan")], [3.0, 2.0]]]]), 2)
    assert np.isnan(nan.item())
    ints = F.max_pool2d(engine.arange(16).reshape(1, 1, 4, 4), 2, padding=1)
    assert ints.dtype == engine.int64 and to_np(ints).tolist() == [[[[0, 2, 3], [8, 10, 11],
                                                                     [12, 14, 15]]]]


AVG2D = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(1, 0), divisor_override=5),
]


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kw", AVG2D, ids=str)
def test_avg_pool2d_matches_torch(kw, device):
    for shape in [(2, 3, 7, 8), (3, 5, 6)]:
        _parity(lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), shape,
                device)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
def test_avg_pool1d_matches_torch(device):
    for kw in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True,
                                         count_include_pad=False)]:
        _parity(lambda x, kw=kw: F.avg_pool1d(x, **kw),
                lambda x, kw=kw: TF.avg_pool1d(x, **kw), (2, 3, 8), device)
    ints = F.avg_pool2d(engine.arange(16).reshape(1, 1, 4, 4), 3, stride=2, padding=1)
    ref = TF.avg_pool2d(torch.arange(16).reshape(1, 1, 4, 4), 3, stride=2, padding=1)
    assert ints.dtype == engine.int64 and to_np(ints).tolist() == ref.tolist()


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out", [1, 2, 3, (None, 3), (4, 5), (7, 1), (5, 8)], ids=str)
def test_adaptive_pool2d_matches_torch(out, device):
    _parity(lambda x: F.adaptive_avg_pool2d(x, out), lambda x: TF.adaptive_avg_pool2d(x, out),
            (2, 3, 7, 8), device)
    _parity(lambda x: F.adaptive_max_pool2d(x, out, return_indices=True),
            lambda x: TF.adaptive_max_pool2d(x, out, return_indices=True), (3, 7, 8), device,
            distinct=True)


@needs_torch
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("out", [1, 3, 4], ids=str)
def test_adaptive_pool1d_matches_torch(out, device):
    _parity(lambda x: F.adaptive_avg_pool1d(x, out), lambda x: TF.adaptive_avg_pool1d(x, out),
            (2, 3, 8), device)
    _parity(lambda x: F.adaptive_max_pool1d(x, out, True),
            lambda x: TF.adaptive_max_pool1d(x, out, True), (2, 3, 7), device, distinct=True)


@pytest.mark.parametrize("device", DEVICES)
def test_pooling_gradcheck(device):
    _gradcheck(lambda x: F.max_pool2d(x, 3, stride=2, padding=1, ceil_mode=True), (1, 2, 5, 4),
               device)
    _gradcheck(lambda x: F.max_pool1d(x, 2, stride=1, dilation=2), (2, 1, 6), device)
    _gradcheck(lambda x: F.avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True,
                                      count_include_pad=False), (1, 2, 5, 4), device)
    _gradcheck(lambda x: F.avg_pool1d(x, 2, padding=1), (2, 1, 5), device)
    _gradcheck(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), (1, 2, 5, 4), device)
    _gradcheck(lambda x: F.adaptive_max_pool2d(x, (2, 3)), (1, 2, 5, 4), device)


@pytest.mark.parametrize("device", DEVICES)
def test_pooling_double_backward(device):
    for fn in (lambda t: F.max_pool2d(t * t, 2, stride=1),
               lambda t: F.avg_pool2d(t * t, 2, stride=1, padding=1),
               lambda t: F.adaptive_max_pool2d(t * t, (2, 2)).sum()
               + F.adaptive_avg_pool2d(t * t, 3).sum()):
        x = engine.tensor(_distinct((1, 1, 4, 3), np.random.default_rng(3), np.float64) + 1,
                          device=device, requires_grad=True)  # positive: t * t has no ties
        assert engine.autograd.gradgradcheck(fn, (x,))


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((2, 3),), dict(stride=1, padding=1, dilation=2, return_indices=True,
                                  ceil_mode=True)),
    ("MaxPool1d", (3,), dict(stride=2)),
    ("AvgPool1d", (3,), {}),
    ("AvgPool1d", (3, 2, 1, True, False), {}),
    ("AvgPool2d", (2,), {}),
    ("AvgPool2d", ((2, 3), 1, 1, True, False, 3), {}),
    ("AdaptiveAvgPool2d", (3,), {}),
    ("AdaptiveAvgPool2d", ((None, 3),), {}),
    ("AdaptiveAvgPool1d", (4,), {}),
    ("AdaptiveMaxPool2d", (2,), dict(return_indices=True)),
    ("AdaptiveMaxPool1d", (2,), {}),
], ids=str)
def test_module_repr_and_forward_match_torch(name, args, kwargs):
    ours, ref = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(ref)
    assert ours.state_dict() == {} and not list(ours.parameters())
    for key, value in vars(ref).items():
        if not key.startswith("_") and key != "training":
            assert getattr(ours, key) == value, key
    shape = (2, 3, 8) if "1d" in name else (2, 3, 7, 8)
    _parity(ours, ref, shape, distinct=True)


@needs_torch
@pytest.mark.parametrize("call", [
    lambda F, z: F.max_pool2d(z(3, 8), 2),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), 2, padding=2),
    lambda F, z: F.max_pool2d(z(1, 1, 2, 2), 3),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), 2, stride=0),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), 2, padding=-1),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), 2, dilation=0),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), 3, dilation=2, padding=2),
    lambda F, z: F.max_pool2d(z(2, 3, 8, 8), (2, 2, 2)),
    lambda F, z: F.max_pool2d(z(2, 0, 4, 4), 2),
    lambda F, z: F.max_pool1d(z(3), 2),
    lambda F, z: F.max_pool1d(z(1, 1, 2), 3),
    lambda F, z: F.max_pool1d(z(2, 3, 8), 0),
    lambda F, z: F.max_pool1d(z(2, 3, 8), 2, padding=2),
    lambda F, z: F.avg_pool2d(z(3, 8), 2),
    lambda F, z: F.avg_pool2d(z(1, 1, 2, 2), 3),
    lambda F, z: F.avg_pool2d(z(2, 3, 8, 8), 2, divisor_override=0),
    lambda F, z: F.avg_pool1d(z(3), 2),
    lambda F, z: F.avg_pool1d(z(1, 1, 2), 3),
    lambda F, z: F.adaptive_avg_pool2d(z(3, 8), 2),
    lambda F, z: F.adaptive_avg_pool2d(z(2, 3, 8, 8), (2, 2, 2)),
    lambda F, z: F.adaptive_avg_pool2d(z(2, 3, 0, 4), 2),
    lambda F, z: F.adaptive_avg_pool2d(z(2, 3, 4, 4), -1),
    lambda F, z: F.adaptive_avg_pool1d(z(3), 2),
    lambda F, z: F.adaptive_max_pool2d(z(3, 8), 2),
], ids=range(24))
def test_pool_errors_match_torch(call):
    with pytest.raises(Exception) as ref:
        call(TF, torch.zeros)
    with pytest.raises(type(ref.value)) as got:
        call(F, engine.zeros)
    assert str(got.value) == str(ref.value)


def test_large_pool_shapes_and_float32():
    x = engine.randn(4, 8, 32, 32, requires_grad=True)
    y = F.max_pool2d(x, 2) + F.avg_pool2d(x, 2) + F.adaptive_avg_pool2d(x, 16)
    assert y._data.dtype == np.float32 and y.shape == (4, 8, 16, 16)
    y.sum().backward()
    assert x.grad._data.dtype == np.float32
    np.testing.assert_allclose(to_np(x.grad).reshape(4, 8, 16, 2, 16, 2).sum((3, 5)),
                               np.full((4, 8, 16, 16), 3.0), rtol=1e-6)


@needs_torch
def test_empty_shapes_match_torch():
    for fn in (lambda m, z: m.max_pool2d(z(0, 3, 4, 4), 2),
               lambda m, z: m.avg_pool2d(z(0, 3, 4, 4), 2),
               lambda m, z: m.adaptive_avg_pool2d(z(0, 3, 5, 4), 2),
               lambda m, z: m.adaptive_max_pool2d(z(0, 3, 5, 4), 3),
               lambda m, z: m.adaptive_avg_pool2d(z(2, 3, 5, 4), (0, 2)),
               lambda m, z: m.adaptive_max_pool2d(z(2, 3, 5, 4), 0)):
        assert tuple(fn(F, engine.zeros).shape) == tuple(fn(TF, torch.zeros).shape)
