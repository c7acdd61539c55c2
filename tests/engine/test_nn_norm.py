"""Normalization: F.batch_norm / layer_norm / group_norm and the BatchNorm, LayerNorm,
GroupNorm layers, against PyTorch (values, gradients, running statistics, state dicts,
reprs, errors), float64 gradcheck of the fused backward and gradgradcheck."""

import re

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn
from engine.nn.functional.normalization import Normalize

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

TF = torch.nn.functional if torch is not None else None


def _is_engine(x) -> bool:
    return isinstance(x, engine.Tensor)


def _const(x, arr):
    """arr as a constant tensor of x's library, dtype and device."""
    if _is_engine(x):
        return engine.tensor(arr, dtype=x.dtype, device=x.device)
    return torch.tensor(arr, dtype=x.dtype)


def _f(name):
    def call(*args, **kwargs):
        mod = F if _is_engine(args[0]) else TF
        return getattr(mod, name)(*args, **kwargs)

    return call


batch_norm, layer_norm, group_norm = _f("batch_norm"), _f("layer_norm"), _f("group_norm")
RM = np.array([0.3, -0.2, 0.1], dtype=np.float32)
RV = np.array([0.5, 2.0, 1.5], dtype=np.float32)


def _bn_eval(x, w=None, b=None):
    return batch_norm(x, _const(x, RM), _const(x, RV), w, b, False, 0.1, 1e-3)


# -- functional forms: forward, float64 gradcheck, torch values and gradients ------------
FUNCTIONAL_CASES = {
    "bn_train_2d": ([(6, 3), (3,), (3,)], lambda x, w, b: batch_norm(x, None, None, w, b, True)),
    "bn_train_3d": ([(4, 3, 5), (3,), (3,)],
                    lambda x, w, b: batch_norm(x, None, None, w, b, True)),
    "bn_train_4d": ([(2, 3, 2, 3), (3,), (3,)],
                    lambda x, w, b: batch_norm(x, None, None, w, b, True, eps=1e-3)),
    "bn_train_no_affine": ([(4, 3, 2)], lambda x: batch_norm(x, None, None, None, None, True)),
    "bn_train_weight_only": ([(4, 3), (3,)], lambda x, w: batch_norm(x, None, None, w, None,
                                                                     True)),
    "bn_eval_2d": ([(5, 3), (3,), (3,)], _bn_eval),
    "bn_eval_4d": ([(2, 3, 2, 2), (3,), (3,)], _bn_eval),
    "bn_eval_no_affine": ([(2, 3, 4)], _bn_eval),
    "ln_1d": ([(4, 5), (5,), (5,)], lambda x, w, b: layer_norm(x, (5,), w, b)),
    "ln_3d_input": ([(2, 3, 4), (4,), (4,)], lambda x, w, b: layer_norm(x, [4], w, b, 1e-3)),
    "ln_2_dims": ([(2, 3, 4), (3, 4), (3, 4)], lambda x, w, b: layer_norm(x, (3, 4), w, b)),
    "ln_weight_only": ([(3, 4), (4,)], lambda x, w: layer_norm(x, (4,), w)),
    "ln_1d_input": ([(7,), (7,), (7,)], lambda x, w, b: layer_norm(x, (7,), w, b)),
    "gn_2d": ([(3, 6), (6,), (6,)], lambda x, w, b: group_norm(x, 2, w, b)),
    "gn_3d": ([(2, 6, 4), (6,), (6,)], lambda x, w, b: group_norm(x, 3, w, b)),
    "gn_4d": ([(2, 4, 3, 2), (4,), (4,)], lambda x, w, b: group_norm(x, 2, w, b, 1e-3)),
    "gn_one_group": ([(2, 4, 3)], lambda x: group_norm(x, 1)),
    "gn_per_channel": ([(2, 4, 3), (4,), (4,)], lambda x, w, b: group_norm(x, 4, w, b)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(FUNCTIONAL_CASES))
def test_functional(case, device):
    shapes, fn = FUNCTIONAL_CASES[case]
    out = check_op(shapes, fn, device=device, atol=1e-5, grad_atol=2e-4)
    assert out[0].dtype == engine.float32


@pytest.mark.parametrize("device", DEVICES)
def test_layer_norm_int_shape(device):
    x = engine.randn(3, 6, device=device)
    np.testing.assert_array_equal(to_np(F.layer_norm(x, 6)), to_np(F.layer_norm(x, (6,))))


@pytest.mark.parametrize("device", DEVICES)
def test_float64_stays_float64(device):
    x = engine.randn(4, 3, dtype=engine.float64, device=device)
    for y in (F.layer_norm(x, (3,)), F.group_norm(x, 3), F.batch_norm(x, None, None,
                                                                        training=True)):
        assert y.dtype == engine.float64


# -- the fused backward: raw-array fast path == Tensor-op path, double backward -------
FUSED = {
    "batch_norm": (lambda x, w, b: F.batch_norm(x, None, None, w, b, True), (4, 3, 2), (3,)),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (3, 2), w.reshape(3, 2), b.reshape(3, 2)),
                   (4, 3, 2), (6,)),
    "group_norm": (lambda x, w, b: F.group_norm(x, 3, w, b), (2, 6, 2), (6,)),
}


@pytest.mark.parametrize("name", list(FUSED))
def test_fast_path_matches_tensor_path(name):
    fn, xshape, pshape = FUSED[name]
    rng = np.random.default_rng(3)
    ins = [engine.tensor(rng.standard_normal(s).astype(np.float32), requires_grad=True)
           for s in (xshape, pshape, pshape)]
    g = engine.tensor(rng.standard_normal(xshape).astype(np.float32))
    fast = engine.autograd.grad(fn(*ins), ins, g)
    slow = engine.autograd.grad(fn(*ins), ins, g, create_graph=True)
    assert slow[0].requires_grad  # the input gradient depends on x: recorded
    for a, b in zip(fast, slow):
        assert a.dtype == b.dtype == engine.float32
        np.testing.assert_allclose(to_np(a), to_np(b), atol=2e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["batch_norm", "layer_norm", "group_norm"])
def test_gradgradcheck(name):
    fn, xshape, pshape = FUSED[name]
    rng = np.random.default_rng(4)
    ins = [engine.tensor(rng.standard_normal(s), dtype=engine.float64, requires_grad=True)
           for s in (xshape, pshape, pshape)]
    assert engine.autograd.gradgradcheck(fn, ins)


@needs_torch
@pytest.mark.parametrize("name", ["batch_norm", "layer_norm"])
def test_double_backward_matches_torch(name):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    w = rng.standard_normal(4)
    g = rng.standard_normal((3, 4))

    def run(lib, fn):
        xs = [lib.tensor(a, requires_grad=True) for a in (x, w)]
        (gx, gw) = lib.autograd.grad((fn(*xs) * lib.tensor(g)).sum(), xs, create_graph=True)
        return lib.autograd.grad((gx * gx).sum() + (gw * gw).sum(), xs)

    def fn_of(mod):
        if name == "batch_norm":
            return lambda x, w: mod.batch_norm(x, None, None, w, None, True)
        return lambda x, w: mod.layer_norm(x, (4,), w)

    for a, b in zip(run(engine, fn_of(F)), run(torch, fn_of(TF))):
        np.testing.assert_allclose(to_np(a), to_np(b), atol=1e-9, rtol=1e-7)


# -- running statistics of the BatchNorm layers over several training steps -----------
BN_CASES = {
    "1d_2d_input": (nn.BatchNorm1d, (8, 3), {}),
    "1d_3d_input": (nn.BatchNorm1d, (4, 3, 5), {}),
    "1d_momentum_none": (nn.BatchNorm1d, (6, 3), {"momentum": None}),
    "1d_momentum_0.5": (nn.BatchNorm1d, (4, 3, 2), {"momentum": 0.5}),
    "1d_no_affine": (nn.BatchNorm1d, (5, 3), {"affine": False}),
    "1d_no_bias": (nn.BatchNorm1d, (5, 3), {"bias": False}),
    "1d_untracked": (nn.BatchNorm1d, (5, 3, 2), {"track_running_stats": False}),
    "2d": (nn.BatchNorm2d, (2, 3, 4, 4), {}),
    "2d_momentum_none_eps": (nn.BatchNorm2d, (2, 3, 3, 2), {"momentum": None, "eps": 1e-3}),
    "2d_untracked_no_affine": (nn.BatchNorm2d, (3, 3, 2, 2),
                               {"track_running_stats": False, "affine": False}),
    "3d": (nn.BatchNorm3d, (2, 3, 2, 2, 2), {}),
}


@needs_torch
@pytest.mark.parametrize("case", list(BN_CASES))
def test_batchnorm_running_stats_match_torch(case):
    cls, shape, kwargs = BN_CASES[case]
    mine = cls(3, **kwargs)
    ref = getattr(torch.nn, cls.__name__)(3, **kwargs)
    rng = np.random.default_rng(6)
    if mine.weight is not None:
        with torch.no_grad():
            ref.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, 3).astype(np.float32)))
        mine.load_state_dict({k: engine.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    for step in range(4):
        x = (rng.standard_normal(shape) * (step + 1) + step).astype(np.float32)
        xe, xt = engine.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        ye, yt = mine(xe), ref(xt)
        np.testing.assert_allclose(to_np(ye), to_np(yt), atol=1e-5, rtol=1e-4)
        g = rng.standard_normal(shape).astype(np.float32)
        ye.backward(engine.tensor(g))
        yt.backward(torch.tensor(g))
        np.testing.assert_allclose(to_np(xe.grad), to_np(xt.grad), atol=1e-4, rtol=1e-3)
        for k, v in ref.state_dict().items():
            np.testing.assert_allclose(to_np(mine.state_dict()[k]), v.numpy(), rtol=1e-5,
                                       atol=1e-6, err_msg=k)
        for (n, p), q in zip(mine.named_parameters(), ref.parameters()):
            np.testing.assert_allclose(to_np(p.grad), q.grad.numpy(), atol=1e-4, rtol=1e-3,
                                       err_msg=n)
    mine.eval()
    ref.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    np.testing.assert_allclose(to_np(mine(engine.tensor(x))), ref(torch.tensor(x)).detach(),
                               atol=1e-5, rtol=1e-4)


def test_num_batches_tracked_counts_and_eval_freezes_stats():
    bn = nn.BatchNorm1d(2)
    for _ in range(3):
        bn(engine.randn(4, 2))
    assert bn.num_batches_tracked.dtype == engine.int64 and int(bn.num_batches_tracked) == 3
    before = to_np(bn.running_mean).copy()
    bn.eval()
    bn(engine.randn(4, 2))
    assert int(bn.num_batches_tracked) == 3
    np.testing.assert_array_equal(to_np(bn.running_mean), before)


def test_running_var_uses_unbiased_variance():
    x = engine.tensor([[1.0], [3.0]])
    rm, rv = engine.zeros(1), engine.zeros(1)
    F.batch_norm(x, rm, rv, training=True, momentum=1.0)
    assert rm.tolist() == [2.0] and rv.tolist() == [2.0]  # unbiased: 2, biased: 1


# -- module structure: state_dict, repr, init -----------------------------------------------
MODULES = [
    ("BatchNorm1d", (3,), {}),
    ("BatchNorm1d", (4,), {"affine": False}),
    ("BatchNorm1d", (4,), {"bias": False}),
    ("BatchNorm2d", (5,), {"eps": 1e-3, "momentum": None}),
    ("BatchNorm2d", (5,), {"track_running_stats": False}),
    ("BatchNorm2d", (2,), {"affine": False, "track_running_stats": False}),
    ("BatchNorm3d", (2,), {"momentum": 0.3}),
    ("LayerNorm", (4,), {}),
    ("LayerNorm", ([2, 3],), {"eps": 1e-6}),
    ("LayerNorm", ((4,),), {"elementwise_affine": False}),
    ("LayerNorm", (4,), {"bias": False}),
    ("GroupNorm", (2, 4), {}),
    ("GroupNorm", (3, 6), {"eps": 1e-3, "affine": False}),
    ("GroupNorm", (1, 4), {"bias": False}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", MODULES)
def test_module_matches_torch_structure(name, args, kwargs):
    mine, ref = getattr(nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(mine) == repr(ref)
    sd, tsd = mine.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    for k in tsd:
        assert tuple(sd[k].shape) == tuple(tsd[k].shape), k
        assert str(sd[k].dtype).split(".")[-1] == str(tsd[k].dtype).split(".")[-1], k
        np.testing.assert_array_equal(to_np(sd[k]), tsd[k].numpy())
    assert [n for n, _ in mine.named_buffers()] == [n for n, _ in ref.named_buffers()]


@needs_torch
def test_load_torch_state_dict_roundtrip():
    ref = torch.nn.BatchNorm2d(3)
    ref(torch.randn(4, 3, 2, 2))
    mine = nn.BatchNorm2d(3)
    mine.load_state_dict({k: engine.tensor(v.numpy()) for k, v in ref.state_dict().items()})
    assert int(mine.num_batches_tracked) == 1
    np.testing.assert_allclose(to_np(mine.running_var), ref.running_var.numpy())


@pytest.mark.parametrize("device", DEVICES)
def test_modules_on_device(device):
    for m, x in ((nn.BatchNorm1d(3, device=device), engine.randn(4, 3, device=device)),
                 (nn.LayerNorm(3, device=device), engine.randn(4, 3, device=device)),
                 (nn.GroupNorm(1, 3, device=device), engine.randn(4, 3, device=device))):
        y = m(x)
        y.sum().backward()
        assert y.device == x.device and m.weight.grad.device == x.device


# -- errors -------------------------------------------------------------------------------
ERRORS = [
    (lambda: F.batch_norm(engine.randn(1, 3), None, None, training=True), ValueError,
     "Expected more than 1 value per channel when training, got input size "
     "engine.Size([1, 3])"),
    (lambda: F.batch_norm(engine.randn(3, 5), None, None), RuntimeError,
     "running_mean must be defined in evaluation mode"),
    (lambda: F.batch_norm(engine.randn(3, 5), engine.zeros(4), engine.ones(4), training=True),
     RuntimeError, "running_mean should contain 5 elements not 4"),
    (lambda: F.batch_norm(engine.randn(3, 5), None, None, training=True, eps=0.0), ValueError,
     "batch_norm eps must be positive during training, but got 0.0"),
    (lambda: F.batch_norm(engine.randn(3, 5), None, None, training=True, momentum=None),
     TypeError, "batch_norm(): argument 'momentum' (position 7) must be float, not NoneType"),
    (lambda: F.layer_norm(engine.randn(3, 5), [4]), RuntimeError,
     "Given normalized_shape=[4], expected input with shape [*, 4], but got input of "
     "size[3, 5]"),
    (lambda: F.layer_norm(engine.randn(3, 5), (3, 5), weight=engine.ones(5)), RuntimeError,
     "Expected weight to be of same shape as normalized_shape, but got weight of shape [5] "
     "and normalized_shape = [3, 5]"),
    (lambda: F.group_norm(engine.randn(2, 6), 4), RuntimeError,
     "Expected number of channels in input to be divisible by num_groups, but got input of "
     "shape [2, 6] and num_groups=4"),
    (lambda: F.group_norm(engine.randn(6), 3), RuntimeError,
     "Expected at least 2 dimensions for input tensor but received 1"),
    (lambda: F.group_norm(engine.randn(2, 6), 3, weight=engine.ones(5)), RuntimeError,
     "Expected weight to be a vector of size equal to the number of channels in input, but "
     "got weight of shape [5] and input of shape [2, 6]"),
    (lambda: nn.GroupNorm(4, 6), ValueError, "num_channels (6) must be divisible by "
     "num_groups (4)"),
    (lambda: nn.BatchNorm1d(3)(engine.randn(2, 3, 4, 5)), ValueError,
     "expected 2D or 3D input (got 4D input)"),
    (lambda: nn.BatchNorm2d(3)(engine.randn(2, 3, 4)), ValueError,
     "expected 4D input (got 3D input)"),
]


@pytest.mark.parametrize("fn,exc,msg", ERRORS)
def test_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


def test_saved_input_modified_in_place_raises():
    x = engine.randn(3, 4, requires_grad=True)
    h = x * 1
    y = F.layer_norm(h, (4,))
    with engine.no_grad():
        h.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_grad_fn_names():
    x = engine.randn(4, 3, requires_grad=True)
    assert F.layer_norm(x, (3,)).grad_fn.name() == "NativeLayerNormBackward0"
    assert F.batch_norm(x, None, None, training=True).grad_fn.name() == \
        "NativeBatchNormBackward0"
    assert F.group_norm(x, 1).grad_fn.name() == "NativeGroupNormBackward0"
    assert issubclass(type(F.group_norm(x, 1).grad_fn), Normalize)
