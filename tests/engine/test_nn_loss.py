"""Losses (engine.nn.functional and the engine.nn loss modules) against PyTorch: values
and gradients for every option, float64 gradcheck, stability for huge logits, module
buffers and reprs, and PyTorch's errors."""

import re
import warnings

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

TF = torch.nn.functional if torch is not None else None
R = np.random.default_rng(0)


def L(x):
    """The functional module of x's library."""
    return F if isinstance(x, engine.Tensor) else TF


def C(x, arr):
    """A constant (no grad) tensor of x's library, on x's device."""
    if isinstance(x, engine.Tensor):
        return engine.tensor(arr, device=x.device)
    return torch.tensor(arr)


def u(*shape, lo=-2.0, hi=2.0):
    return R.uniform(lo, hi, shape).astype(np.float32)


def idx(high, *shape, ignore=None, value=-100):
    t = R.integers(0, high, shape).astype(np.int64)
    if ignore:
        t.reshape(-1)[list(ignore)] = value
    return t


W5 = np.array([0.5, 1.0, 2.0, 0.1, 1.5], dtype=np.float32)
WA = u(4, 3, lo=0.1, hi=1)  # elementwise weights
WB = u(3, lo=0, hi=2)  # weights broadcast along the last dim
WC = u(4, 3, lo=0, hi=2)
WD = u(4, 1, lo=0, hi=2)
PW = u(3, lo=0.5, hi=3)  # pos_weight
PROBS = R.dirichlet(np.ones(5), size=4).astype(np.float32)
PROBS_ND = np.moveaxis(R.dirichlet(np.ones(5), size=(2, 3)), -1, 1).astype(np.float32)

CASES = [
    # regression losses
    ("mse_mean", [u(4, 3), u(4, 3)], lambda x, t: L(x).mse_loss(x, t)),
    ("mse_sum", [u(4, 3), u(4, 3)], lambda x, t: L(x).mse_loss(x, t, reduction="sum")),
    ("mse_none", [u(4, 3), u(4, 3)], lambda x, t: L(x).mse_loss(x, t, reduction="none")),
    ("mse_weight_mean", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).mse_loss(x, t, weight=C(x, WA))),
    ("mse_weight_none", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).mse_loss(x, t, reduction="none", weight=C(x, WA))),
    ("l1_mean", [u(4, 3), u(4, 3)], lambda x, t: L(x).l1_loss(x, t)),
    ("l1_sum", [u(5), u(5)], lambda x, t: L(x).l1_loss(x, t, reduction="sum")),
    ("l1_none", [u(2, 3, 2), u(2, 3, 2)], lambda x, t: L(x).l1_loss(x, t, reduction="none")),
    ("l1_weight_mean", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).l1_loss(x, t, weight=C(x, WA))),
    ("smooth_l1_mean", [u(4, 3), u(4, 3)], lambda x, t: L(x).smooth_l1_loss(x, t)),
    ("smooth_l1_beta_0.5_sum", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).smooth_l1_loss(x, t, reduction="sum", beta=0.5)),
    ("smooth_l1_beta_0_none", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).smooth_l1_loss(x, t, reduction="none", beta=0.0)),
    ("smooth_l1_beta_3_none", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).smooth_l1_loss(x, t, reduction="none", beta=3.0)),
    ("huber_mean", [u(4, 3), u(4, 3)], lambda x, t: L(x).huber_loss(x, t)),
    ("huber_delta_0.3_none", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).huber_loss(x, t, reduction="none", delta=0.3)),
    ("huber_delta_2_sum", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).huber_loss(x, t, reduction="sum", delta=2.0)),
    ("huber_weight_mean", [u(4, 3), u(4, 3)],
     lambda x, t: L(x).huber_loss(x, t, weight=C(x, WA))),
    # cross entropy, class indices
    ("ce_mean", [u(4, 5), idx(5, 4)], lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_sum", [u(4, 5), idx(5, 4)], lambda x, t: L(x).cross_entropy(x, t, reduction="sum")),
    ("ce_none", [u(4, 5), idx(5, 4)], lambda x, t: L(x).cross_entropy(x, t, reduction="none")),
    ("ce_weight_mean", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5))),
    ("ce_weight_sum", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), reduction="sum")),
    ("ce_weight_none", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), reduction="none")),
    ("ce_ignore_default", [u(6, 5), idx(5, 6, ignore=[1, 4])],
     lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_ignore_custom_weight", [u(6, 5), idx(5, 6, ignore=[0, 2], value=3)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), ignore_index=3)),
    ("ce_ignore_none", [u(6, 5), idx(5, 6, ignore=[3])],
     lambda x, t: L(x).cross_entropy(x, t, reduction="none")),
    ("ce_smoothing_mean", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, label_smoothing=0.1)),
    ("ce_smoothing_none", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, label_smoothing=0.3, reduction="none")),
    ("ce_smoothing_weight_mean", [u(6, 5), idx(5, 6)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), label_smoothing=0.2)),
    ("ce_smoothing_weight_ignore_mean", [u(6, 5), idx(5, 6, ignore=[1])],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), label_smoothing=0.2)),
    ("ce_smoothing_weight_ignore_sum", [u(6, 5), idx(5, 6, ignore=[1, 5])],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), label_smoothing=0.2,
                                     reduction="sum")),
    ("ce_smoothing_ignore_none", [u(6, 5), idx(5, 6, ignore=[2])],
     lambda x, t: L(x).cross_entropy(x, t, label_smoothing=0.2, reduction="none")),
    ("ce_smoothing_1", [u(4, 5), idx(5, 4)],
     lambda x, t: L(x).cross_entropy(x, t, label_smoothing=1.0)),
    ("ce_nd_mean", [u(2, 5, 3, 2), idx(5, 2, 3, 2)], lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_nd_weight_ignore_mean", [u(2, 5, 4), idx(5, 2, 4, ignore=[0, 5])],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5))),
    ("ce_nd_smoothing_none", [u(2, 5, 3), idx(5, 2, 3)],
     lambda x, t: L(x).cross_entropy(x, t, label_smoothing=0.1, reduction="none")),
    ("ce_unbatched", [u(5), np.array(3)], lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_unbatched_weight_smoothing", [u(5), np.array(1)],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), label_smoothing=0.1)),
    # cross entropy, class probabilities
    ("ce_probs_mean", [u(4, 5), PROBS], lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_probs_sum", [u(4, 5), PROBS], lambda x, t: L(x).cross_entropy(x, t, reduction="sum")),
    ("ce_probs_none", [u(4, 5), PROBS],
     lambda x, t: L(x).cross_entropy(x, t, reduction="none")),
    ("ce_probs_weight_mean", [u(4, 5), PROBS],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5))),
    ("ce_probs_smoothing_weight_none", [u(4, 5), PROBS],
     lambda x, t: L(x).cross_entropy(x, t, weight=C(x, W5), label_smoothing=0.2,
                                     reduction="none")),
    ("ce_probs_nd_mean", [u(2, 5, 3), PROBS_ND], lambda x, t: L(x).cross_entropy(x, t)),
    ("ce_probs_unbatched", [u(5), PROBS[0]], lambda x, t: L(x).cross_entropy(x, t)),
    # nll
    ("nll_mean", [u(4, 5), idx(5, 4)], lambda x, t: L(x).nll_loss(x, t)),
    ("nll_sum", [u(4, 5), idx(5, 4)], lambda x, t: L(x).nll_loss(x, t, reduction="sum")),
    ("nll_none", [u(4, 5), idx(5, 4)], lambda x, t: L(x).nll_loss(x, t, reduction="none")),
    ("nll_weight_ignore_mean", [u(6, 5), idx(5, 6, ignore=[2])],
     lambda x, t: L(x).nll_loss(x, t, weight=C(x, W5))),
    ("nll_ignore_custom_none", [u(6, 5), idx(5, 6, ignore=[1], value=0)],
     lambda x, t: L(x).nll_loss(x, t, ignore_index=0, reduction="none")),
    ("nll_nd_weight_sum", [u(2, 5, 2, 2), idx(5, 2, 2, 2)],
     lambda x, t: L(x).nll_loss(x, t, weight=C(x, W5), reduction="sum")),
    ("nll_unbatched", [u(5), np.array(4)], lambda x, t: L(x).nll_loss(x, t)),
    # binary cross entropy
    ("bce_mean", [u(4, 3, lo=0.05, hi=0.95), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy(x, t)),
    ("bce_sum", [u(4, 3, lo=0.05, hi=0.95), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy(x, t, reduction="sum")),
    ("bce_none_weight", [u(4, 3, lo=0.05, hi=0.95), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy(x, t, weight=C(x, WC),
                                            reduction="none")),
    ("bce_weight_broadcast_mean", [u(4, 3, lo=0.05, hi=0.95), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy(x, t, weight=C(x, WB))),
    ("bce_logits_mean", [u(4, 3, lo=-5, hi=5), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy_with_logits(x, t)),
    ("bce_logits_sum", [u(4, 3, lo=-5, hi=5), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy_with_logits(x, t, reduction="sum")),
    ("bce_logits_none_weight", [u(4, 3), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy_with_logits(x, t, C(x, WB),
                                                        reduction="none")),
    ("bce_logits_pos_weight_mean", [u(4, 3), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy_with_logits(x, t, pos_weight=C(x, PW))),
    ("bce_logits_pos_weight_weight_none", [u(4, 3), u(4, 3, lo=0, hi=1)],
     lambda x, t: L(x).binary_cross_entropy_with_logits(
         x, t, C(x, WD), pos_weight=C(x, PW), reduction="none")),
    # kl divergence
    ("kl_batchmean", [u(4, 5), PROBS], lambda x, t: L(x).kl_div(x, t, reduction="batchmean")),
    ("kl_sum", [u(4, 5), PROBS], lambda x, t: L(x).kl_div(x, t, reduction="sum")),
    ("kl_none", [u(4, 5), PROBS], lambda x, t: L(x).kl_div(x, t, reduction="none")),
    ("kl_log_target_batchmean", [u(4, 5), u(4, 5, lo=-3, hi=0)],
     lambda x, t: L(x).kl_div(x, t, reduction="batchmean", log_target=True)),
    ("kl_log_target_none", [u(4, 5), u(4, 5, lo=-3, hi=0)],
     lambda x, t: L(x).kl_div(x, t, reduction="none", log_target=True)),
    ("kl_zero_target_sum", [u(2, 3)],
     lambda x: L(x).kl_div(x, C(x, np.array([[0.0, 0.3, 0.7], [1.0, 0.0, 0.0]],
                                            dtype=np.float32)), reduction="sum")),
    # cosine embedding
    ("cosine_mean", [u(4, 3), u(4, 3), np.array([1, -1, 1, -1])],
     lambda a, b, t: L(a).cosine_embedding_loss(a, b, t)),
    ("cosine_margin_none", [u(4, 3), u(4, 3), np.array([1, -1, -1, -1])],
     lambda a, b, t: L(a).cosine_embedding_loss(a, b, t, margin=0.2, reduction="none")),
    ("cosine_sum", [u(4, 3), u(4, 3), np.array([-1, -1, 1, 1])],
     lambda a, b, t: L(a).cosine_embedding_loss(a, b, t, margin=-0.3, reduction="sum")),
    ("cosine_unbatched", [u(3), u(3), np.array(-1)],
     lambda a, b, t: L(a).cosine_embedding_loss(a, b, t, margin=-0.5)),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,arrays,fn", CASES, ids=[c[0] for c in CASES])
def test_loss_matches_torch(name, arrays, fn, device):
    out = check_op(None, fn, arrays=arrays, device=device, grad_atol=2e-5, grad_rtol=1e-4)
    assert out[0].dtype == engine.float32


# -- stability and dtypes ----------------------------------------------------------------
HUGE = np.array([[1e4, -1e4, 0.0], [-1e4, 5e3, 1e4], [3e4, 3e4, -3e4]], dtype=np.float32)
STABLE = [
    ("ce", lambda x: L(x).cross_entropy(x, C(x, np.array([1, 2, 0])), reduction="none")),
    ("ce_smoothing", lambda x: L(x).cross_entropy(x, C(x, np.array([1, 2, 0])),
                                                  label_smoothing=0.1)),
    ("ce_probs", lambda x: L(x).cross_entropy(x, C(x, np.eye(3, dtype=np.float32)))),
    ("bce_logits", lambda x: L(x).binary_cross_entropy_with_logits(
        x, C(x, np.eye(3, dtype=np.float32)), reduction="none")),
    ("bce_logits_pos_weight", lambda x: L(x).binary_cross_entropy_with_logits(
        x, C(x, np.eye(3, dtype=np.float32)), pos_weight=C(x, np.float32([2.0, 0.5, 1.0])))),
]


@needs_torch
@pytest.mark.parametrize("name,fn", STABLE, ids=[s[0] for s in STABLE])
def test_huge_logits_are_stable(name, fn):
    xe, xt = engine.tensor(HUGE, requires_grad=True), torch.tensor(HUGE, requires_grad=True)
    ye, yt = fn(xe), fn(xt)
    ye.sum().backward()
    yt.sum().backward()
    assert np.isfinite(to_np(ye)).all() and np.isfinite(to_np(xe.grad)).all()
    np.testing.assert_allclose(to_np(ye), to_np(yt), rtol=1e-5)
    np.testing.assert_allclose(to_np(xe.grad), to_np(xt.grad), rtol=1e-5, atol=1e-6)


@needs_torch
def test_bce_clamps_log_at_minus_100_like_torch():
    x = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.3], dtype=np.float32)
    xe, xt = engine.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye = F.binary_cross_entropy(xe, engine.tensor(t), reduction="none")
    yt = TF.binary_cross_entropy(xt, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(to_np(ye), yt.detach().numpy())
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(to_np(xe.grad), xt.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("fn", [
    lambda x: F.cross_entropy(x, engine.tensor([0, 1])),
    lambda x: F.binary_cross_entropy_with_logits(x, engine.zeros(2, 2, dtype=x.dtype)),
    lambda x: F.mse_loss(x, engine.zeros(2, 2, dtype=x.dtype)),
])
def test_float64_stays_float64(fn):
    assert fn(engine.randn(2, 2, dtype=engine.float64)).dtype == engine.float64


P64 = engine.tensor(R.uniform(0, 1, (3, 3)), dtype=engine.float64)


@pytest.mark.parametrize("fn", [
    lambda x: F.cross_entropy(x, engine.tensor([0, 2, 1]), label_smoothing=0.1),
    lambda x: F.cross_entropy(x, engine.tensor([0, 2, -100]), weight=engine.tensor(
        [1.0, 2.0, 0.5], dtype=engine.float64)),
    lambda x: F.cross_entropy(x, P64.softmax(1), reduction="sum"),
    lambda x: F.binary_cross_entropy_with_logits(x, P64, pos_weight=P64[0] + 0.5),
    lambda x: F.binary_cross_entropy(x.sigmoid(), P64),
    lambda x: F.kl_div(x, P64, reduction="batchmean"),
    lambda x: F.smooth_l1_loss(x, P64, beta=0.5),
])
def test_double_backward(fn):
    x = engine.randn(3, 3, dtype=engine.float64, requires_grad=True)
    assert engine.autograd.gradgradcheck(fn, (x,))


def test_pos_weight_gradient():
    """PyTorch does not differentiate pos_weight; the engine does (checked numerically)."""
    x, t = engine.randn(4, 3, dtype=engine.float64), engine.rand(4, 3, dtype=engine.float64)
    pw = engine.rand(3, dtype=engine.float64, requires_grad=True)
    assert engine.autograd.gradcheck(
        lambda p: F.binary_cross_entropy_with_logits(x, t, pos_weight=p + 0.5), (pw,))


def test_all_ignored_mean_is_nan_like_torch():
    x = engine.randn(3, 4)
    t = engine.tensor([-100, -100, -100])
    assert np.isnan(F.cross_entropy(x, t).item())
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def test_legacy_size_average_and_reduce():
    x, t = engine.tensor([1.0, 2.0]), engine.zeros(2)
    with pytest.warns(UserWarning, match="size_average and reduce args will be deprecated"):
        assert F.mse_loss(x, t, size_average=False).item() == 5.0
    with pytest.warns(UserWarning):
        assert F.l1_loss(x, t, reduce=False).tolist() == [1.0, 2.0]
    with pytest.warns(UserWarning):
        assert nn.MSELoss(size_average=False).reduction == "sum"


def test_size_mismatch_warns_and_kl_mean_warns():
    with pytest.warns(UserWarning, match="Using a target size"):
        assert F.mse_loss(engine.zeros(3), engine.zeros(2, 3)).shape == ()
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(engine.zeros(2), engine.ones(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(engine.zeros(2), engine.ones(2), reduction="batchmean")


# -- modules -------------------------------------------------------------------------------
MODULES = [
    ("MSELoss", {}, [u(4, 3), u(4, 3)]),
    ("L1Loss", {"reduction": "sum"}, [u(4, 3), u(4, 3)]),
    ("SmoothL1Loss", {"beta": 0.5}, [u(4, 3), u(4, 3)]),
    ("HuberLoss", {"delta": 0.5, "reduction": "none"}, [u(4, 3), u(4, 3)]),
    ("CrossEntropyLoss", {}, [u(4, 5), idx(5, 4)]),
    ("CrossEntropyLoss", {"weight": W5, "ignore_index": 1, "label_smoothing": 0.1},
     [u(6, 5), idx(5, 6)]),
    ("NLLLoss", {"weight": W5, "reduction": "sum"}, [u(4, 5), idx(5, 4)]),
    ("BCELoss", {"weight": u(3, lo=0, hi=1)}, [u(4, 3, lo=0.1, hi=0.9), u(4, 3, lo=0, hi=1)]),
    ("BCEWithLogitsLoss", {"pos_weight": u(3, lo=1, hi=2), "weight": u(3, lo=0, hi=1)},
     [u(4, 3), u(4, 3, lo=0, hi=1)]),
    ("KLDivLoss", {"reduction": "batchmean", "log_target": True}, [u(4, 5), u(4, 5)]),
    ("CosineEmbeddingLoss", {"margin": 0.1}, [u(4, 3), u(4, 3), np.array([1, -1, 1, -1])]),
]


def _build(lib, name, kwargs):
    def conv(v):
        return (engine.tensor(v) if lib is engine else torch.tensor(v)) \
            if isinstance(v, np.ndarray) else v

    return getattr(lib.nn, name)(**{k: conv(v) for k, v in kwargs.items()})


@needs_torch
@pytest.mark.parametrize("name,kwargs,arrays", MODULES, ids=[m[0] for m in MODULES])
def test_loss_module_matches_torch(name, kwargs, arrays):
    mine, ref = _build(engine, name, kwargs), _build(torch, name, kwargs)
    assert repr(mine) == repr(ref)
    assert mine.reduction == ref.reduction
    assert list(mine.state_dict()) == list(ref.state_dict())
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in ref.named_buffers()]

    def fn(*xs):
        return (mine if isinstance(xs[0], engine.Tensor) else ref)(*xs)

    check_op(None, fn, arrays=arrays, gradcheck=False)


# -- errors -------------------------------------------------------------------------------
X, T = engine.randn(3, 5), engine.tensor([0, 1, 2])
ERRORS = [
    (lambda: F.cross_entropy(X, engine.tensor([0, 5, 1])), IndexError,
     "Target 5 is out of bounds."),
    (lambda: F.cross_entropy(X, engine.tensor([0, -3, 1])), IndexError,
     "Target -3 is out of bounds."),
    (lambda: F.nll_loss(engine.randn(2, 5, 3), engine.tensor([[0, 7, 1], [0, 0, 0]])),
     IndexError, "Target 7 is out of bounds."),
    (lambda: F.cross_entropy(X, engine.tensor([0, 1])), ValueError,
     "Expected input batch_size (3) to match target batch_size (2)."),
    (lambda: F.cross_entropy(X, engine.tensor([0.0, 1.0, 1.0])), RuntimeError,
     "expected target dtype to be Long or Byte, but got Float"),
    (lambda: F.cross_entropy(X, engine.zeros(3, 5, dtype=engine.int64)), RuntimeError,
     "Expected floating point type for target with class probabilities, got Long"),
    (lambda: F.cross_entropy(X, engine.rand(3, 5), ignore_index=1), RuntimeError,
     "ignore_index is not supported for floating point target"),
    (lambda: F.cross_entropy(X, T, label_smoothing=1.5), RuntimeError,
     "label_smoothing must be between 0.0 and 1.0. Got: 1.5"),
    (lambda: F.cross_entropy(engine.randn(2, 5, 4), engine.zeros(2, 3, dtype=engine.int64)),
     RuntimeError, "Expected target size [2, 4], got [2, 3]"),
    (lambda: F.nll_loss(X, T, weight=engine.ones(4)), RuntimeError,
     "weight tensor should be defined either for all 5 classes or no classes but got weight "
     "tensor of shape: [4]"),
    (lambda: F.nll_loss(engine.randn(2, 5, 4), engine.zeros(2, 4, dtype=engine.int64),
                        weight=engine.ones(4)), RuntimeError,
     "weight tensor should be defined either for all or no classes"),
    (lambda: F.nll_loss(engine.randn(()), engine.tensor(1)), ValueError,
     "Expected 1 or more dimensions (got 0)"),
    (lambda: F.nll_loss(X, T.int()), RuntimeError,
     "expected target dtype to be Long or Byte, but got Int"),
    (lambda: F.binary_cross_entropy(engine.tensor([1.5]), engine.tensor([1.0])), RuntimeError,
     "all elements of input should be between 0 and 1"),
    (lambda: F.binary_cross_entropy(engine.tensor([0.5]), engine.tensor([[1.0]])), ValueError,
     "Using a target size (engine.Size([1, 1])) that is different to the input size "
     "(engine.Size([1])) is deprecated. Please ensure they have the same size."),
    (lambda: F.binary_cross_entropy(engine.tensor([0.5]), engine.tensor([1])), RuntimeError,
     "Found dtype Long but expected Float"),
    (lambda: F.binary_cross_entropy_with_logits(engine.tensor([0.5]), engine.tensor([[1.0]])),
     ValueError, "Target size (engine.Size([1, 1])) must be the same as input size "
     "(engine.Size([1]))"),
    (lambda: F.smooth_l1_loss(engine.ones(1), engine.ones(1), beta=-1), RuntimeError,
     "smooth_l1_loss does not support negative values for beta."),
    (lambda: F.huber_loss(engine.ones(1), engine.ones(1), delta=0), RuntimeError,
     "huber_loss does not support non-positive values for delta."),
    (lambda: F.mse_loss(engine.ones(2), engine.ones(2), weight=engine.ones(3)), ValueError,
     "Weights and input must have the same size."),
    (lambda: F.cosine_embedding_loss(engine.randn(3, 4), engine.randn(3, 4), engine.ones(3, 1)),
     RuntimeError, "0D or 1D target tensor expected, multi-target not supported"),
    (lambda: F.cosine_embedding_loss(engine.randn(3, 4), engine.randn(3, 4), engine.ones(())),
     RuntimeError, "0D target tensor expects 1D input tensors, but found inputs with sizes "
     "[3, 4] and [3, 4]."),
    (lambda: F.cosine_embedding_loss(engine.randn(4), engine.randn(4), engine.ones(3)),
     RuntimeError, "1D target tensor expects 2D input tensors, but found inputs with sizes "
     "[4] and [4]."),
]


@pytest.mark.parametrize("fn,exc,msg", ERRORS)
def test_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


REDUCED = [
    lambda r: F.mse_loss(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.l1_loss(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.smooth_l1_loss(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.huber_loss(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.cross_entropy(X, T, reduction=r),
    lambda r: F.nll_loss(X, T, reduction=r),
    lambda r: F.binary_cross_entropy(engine.rand(2), engine.rand(2), reduction=r),
    lambda r: F.binary_cross_entropy_with_logits(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.kl_div(engine.ones(2), engine.ones(2), reduction=r),
    lambda r: F.cosine_embedding_loss(engine.ones(1, 2), engine.ones(1, 2), engine.ones(1),
                                      reduction=r),
    lambda r: nn.CrossEntropyLoss(reduction=r)(X, T),
]


@pytest.mark.parametrize("fn", REDUCED)
def test_invalid_reduction(fn):
    with pytest.raises(ValueError, match="bad is not a valid value for reduction"):
        fn("bad")
