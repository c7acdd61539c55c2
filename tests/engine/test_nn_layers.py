"""Dropout, Embedding and the activation layers, against PyTorch where it applies:
values, gradients, reprs, initialization, seeding and errors."""

import re
import warnings

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn

from .helpers import DEVICES, check_op, needs_torch, to_np, torch

TF = torch.nn.functional if torch is not None else None


def _lib(*args):
    """(functional module, nn module) of the library the tensors in args belong to."""
    if any(isinstance(a, engine.Tensor) for a in args):
        return F, nn
    return TF, torch.nn


def _module(name, *ctor, **kw):
    """x -> <lib>.nn.<name>(*ctor, **kw)(x), on engine or torch tensors alike."""
    def call(x):
        return getattr(_lib(x)[1], name)(*ctor, **kw)(x)

    return call


# -- dropout ------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_train_zeroes_and_scales(p, device):
    x = engine.rand(200_000, device=device) + 1.0
    x.requires_grad_()
    y = F.dropout(x, p)
    assert y.dtype == engine.float32 and y.device == x.device
    kept = to_np(y) != 0
    assert abs(1 - kept.mean() - p) < 0.01
    np.testing.assert_allclose(to_np(y)[kept], to_np(x)[kept] / (1 - p), rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(to_np(x.grad), kept / np.float32(1 - p), rtol=1e-6)


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_eval_and_p0_are_identity(device):
    x = engine.randn(5, 3, device=device)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    drop = nn.Dropout(0.7).eval()
    assert drop(x) is x
    assert nn.Dropout(0.7).train()(x) is not x


def test_dropout_p1_zeroes_everything():
    x = engine.randn(4, 3, requires_grad=True)
    y = F.dropout(x, 1.0)
    y.sum().backward()
    assert not to_np(y).any() and not to_np(x.grad).any()


@pytest.mark.parametrize("device", DEVICES)
def test_dropout_seeding_is_reproducible(device):
    x = engine.ones(1000, device=device)
    engine.manual_seed(123)
    a = to_np(F.dropout(x, 0.5))
    b = to_np(F.dropout(x, 0.5))
    engine.manual_seed(123)
    c = to_np(F.dropout(x, 0.5))
    np.testing.assert_array_equal(a, c)
    assert (a != b).any()


def test_dropout_inplace():
    x = engine.ones(100)
    y = F.dropout(x, 0.5, inplace=True)
    assert y is x and set(np.unique(to_np(x))) <= {0.0, 2.0}
    leaf = engine.ones(50, requires_grad=True)
    h = leaf * 1
    nn.Dropout(0.5, inplace=True)(h).sum().backward()
    np.testing.assert_array_equal(to_np(leaf.grad), to_np(h.detach()))


def test_dropout_double_backward():
    x = engine.randn(6, dtype=engine.float64, requires_grad=True)
    engine.manual_seed(0)
    y = F.dropout(x, 0.5)
    (g,) = engine.autograd.grad((y * y).sum(), x, create_graph=True)
    (gg,) = engine.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(to_np(gg), 2 * (to_np(y) != 0) * 4.0)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn,shape,batched", [
    (F.dropout1d, (4, 16, 5), True), (F.dropout1d, (16, 5), False),
    (F.dropout2d, (4, 16, 3, 3), True), (F.dropout3d, (2, 16, 2, 2, 2), True),
    (F.dropout3d, (16, 2, 2, 2), False),
])
def test_channel_dropout_zeroes_whole_channels(fn, shape, batched, device):
    x = engine.ones(*shape, device=device, requires_grad=True)
    y = fn(x, 0.5)
    per_channel = int(np.prod(shape[2:] if batched else shape[1:]))
    channels = to_np(y).reshape(-1, per_channel)
    assert ((channels == 0).all(1) | (channels == 2).all(1)).all()
    assert 0 < (channels == 0).all(1).mean() < 1
    assert fn(x, 0.5, training=False) is x
    y.sum().backward()
    np.testing.assert_array_equal(to_np(x.grad), to_np(y.detach()))


def test_dropout2d_warns_for_3d_input():
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        F.dropout2d(engine.ones(2, 3, 4))


@pytest.mark.parametrize("fn,args,exc,msg", [
    (F.dropout, (engine.ones(2), 1.5), ValueError,
     "dropout probability has to be between 0 and 1, but got 1.5"),
    (F.dropout, (engine.ones(2), -0.1), ValueError,
     "dropout probability has to be between 0 and 1, but got -0.1"),
    (nn.Dropout, (1.5,), ValueError, "dropout probability has to be between 0 and 1, but got 1.5"),
    (nn.Dropout2d, (2,), ValueError, "dropout probability has to be between 0 and 1, but got 2"),
    (F.dropout1d, (engine.ones(2, 3, 4, 5),), RuntimeError,
     "dropout1d: Expected 2D or 3D input, but received a 4D input."),
])
def test_dropout_errors(fn, args, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn(*args)


# -- embedding ----------------------------------------------------------------------------
IDX = np.array([[1, 2, 4, 1], [4, 3, 0, 4]], dtype=np.int64)


def _emb(**kw):
    def call(w, i):
        return _lib(w)[0].embedding(i, w, **kw)

    return call


EMBEDDING_CASES = {
    "plain": ({}, True),
    "repeated_1d": ({}, True, np.array([3, 3, 3, 0], dtype=np.int64)),
    "scalar_index": ({}, True, np.array(2, dtype=np.int64)),
    "int32_index": ({}, True, IDX.astype(np.int32)),
    "padding_idx": ({"padding_idx": 4}, False),
    "padding_idx_negative": ({"padding_idx": -2}, False),
    "scale_grad_by_freq": ({"scale_grad_by_freq": True}, False),
    "freq_and_padding": ({"scale_grad_by_freq": True, "padding_idx": 1}, False),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(EMBEDDING_CASES))
def test_embedding_functional(case, device):
    kw, gradcheck, *idx = EMBEDDING_CASES[case]
    idx = idx[0] if idx else IDX
    check_op([(5, 3), idx], _emb(**kw), lambda w, i: w[i], gradcheck=gradcheck, device=device)


@needs_torch
@pytest.mark.parametrize("kw", [{"padding_idx": 0}, {"scale_grad_by_freq": True},
                                {"padding_idx": 2, "scale_grad_by_freq": True}])
def test_embedding_gradient_matches_torch_with_padding_row_zero(kw):
    w = np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32)
    we, wt = engine.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    F.embedding(engine.tensor(IDX), we, **kw).sum().backward()
    TF.embedding(torch.tensor(IDX), wt, **kw).sum().backward()
    np.testing.assert_allclose(to_np(we.grad), wt.grad.numpy(), rtol=1e-6)
    if "padding_idx" in kw:
        assert not to_np(we.grad)[kw["padding_idx"]].any()


@needs_torch
@pytest.mark.parametrize("max_norm,norm_type", [(1.0, 2.0), (0.5, 1.0), (1.5, 3.0)])
def test_embedding_max_norm_renormalizes_like_torch(max_norm, norm_type):
    w = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32) * 2
    we, wt = engine.tensor(w.copy()), torch.tensor(w.copy())
    ye = F.embedding(engine.tensor(IDX), we, max_norm=max_norm, norm_type=norm_type)
    yt = TF.embedding(torch.tensor(IDX), wt, max_norm=max_norm, norm_type=norm_type)
    np.testing.assert_allclose(to_np(we), wt.numpy(), rtol=1e-5)
    np.testing.assert_allclose(to_np(ye), yt.numpy(), rtol=1e-5)


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1}])
def test_embedding_gradgradcheck(kw):
    w = engine.randn(5, 3, dtype=engine.float64, requires_grad=True)
    idx = engine.tensor(IDX)
    assert engine.autograd.gradgradcheck(lambda t: F.embedding(idx, t, **kw) ** 2, (w,))


@pytest.mark.parametrize("kw", [{}, {"padding_idx": 4}, {"scale_grad_by_freq": True},
                                {"scale_grad_by_freq": True, "padding_idx": 1}])
def test_embedding_backward_is_linear_in_grad_with_exact_adjoint(kw):
    """The weight gradient as a function of the output gradient v is linear; its own
    gradient (the double backward) must be its exact transpose. (PyTorch leaves the
    frequency scaling out of this transpose; the engine keeps it.)"""
    w = engine.randn(5, 3, dtype=engine.float64, requires_grad=True)
    idx = engine.tensor(IDX)

    def weight_grad(v):
        y = F.embedding(idx, w, **kw)
        return engine.autograd.grad(y, w, v, create_graph=True)[0]

    v = engine.randn(*IDX.shape, 3, dtype=engine.float64, requires_grad=True)
    assert engine.autograd.gradcheck(weight_grad, (v,))


@needs_torch
@pytest.mark.parametrize("kw", [{"padding_idx": 4}, {"padding_idx": 0}])
def test_embedding_double_backward_matches_torch(kw):
    """With a padding row the gradient is not the derivative, so compare the
    second-order gradients with PyTorch's instead of finite differences."""
    w = np.random.default_rng(2).standard_normal((5, 3))
    v = np.random.default_rng(3).standard_normal(IDX.shape + (3,))

    def run(lib, fmod):
        t = lib.tensor(w, requires_grad=True)
        y = fmod.embedding(lib.tensor(IDX), t, **kw)
        (g,) = lib.autograd.grad((y * y * lib.tensor(v)).sum(), t, create_graph=True)
        return lib.autograd.grad((g * g).sum(), t)[0]

    np.testing.assert_allclose(to_np(run(engine, F)), to_np(run(torch, TF)), rtol=1e-10)


def test_embedding_module_init_and_padding():
    engine.manual_seed(0)
    emb = nn.Embedding(2000, 8, padding_idx=3)
    w = to_np(emb.weight)
    assert emb.weight.shape == (2000, 8) and emb.weight.requires_grad
    assert not w[3].any()
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1) < 0.05
    out = emb(engine.tensor([3, 5, 3]))
    out.sum().backward()
    assert not to_np(emb.weight.grad)[3].any() and to_np(emb.weight.grad)[5].all()
    assert list(emb.state_dict()) == ["weight"]


def test_embedding_from_pretrained():
    w = engine.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad and emb.num_embeddings == 3 and emb.embedding_dim == 2
    assert emb(engine.tensor([2, 0])).tolist() == [[5.0, 6.0], [1.0, 2.0]]
    tuned = nn.Embedding.from_pretrained(w, freeze=False, padding_idx=1)
    assert tuned.weight.requires_grad and tuned.padding_idx == 1
    tuned(engine.tensor([1, 2])).sum().backward()
    assert tuned.weight.grad.tolist() == [[0.0, 0.0], [0.0, 0.0], [1.0, 1.0]]
    assert tuned.weight.tolist()[1] == [3.0, 4.0]  # from_pretrained keeps the padding row


@needs_torch
@pytest.mark.parametrize("args,kwargs", [
    ((10, 3), {}),
    ((10, 3), {"padding_idx": 0}),
    ((10, 3), {"padding_idx": -1}),
    ((10, 3), {"max_norm": 1.0, "norm_type": 1.0}),
    ((10, 3), {"scale_grad_by_freq": True, "sparse": True}),
    ((10, 3), {"norm_type": 2.0, "max_norm": 2}),
])
def test_embedding_repr_matches_torch(args, kwargs):
    assert repr(nn.Embedding(*args, **kwargs)) == repr(torch.nn.Embedding(*args, **kwargs))


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda: F.embedding(engine.tensor([1.0]), engine.randn(3, 2)), RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
     "Long, Int; but got engine.FloatTensor instead (while checking arguments for embedding)"),
    (lambda: F.embedding(engine.tensor([3]), engine.randn(3, 2)), IndexError,
     "index out of range in self"),
    (lambda: F.embedding(engine.tensor([-1]), engine.randn(3, 2)), IndexError,
     "index out of range in self"),
    (lambda: F.embedding(engine.tensor([1]), engine.randn(3, 2), padding_idx=3),
     AssertionError, "Padding_idx must be within num_embeddings"),
    (lambda: nn.Embedding(3, 2, padding_idx=-4), AssertionError,
     "Padding_idx must be within num_embeddings"),
    (lambda: nn.Embedding.from_pretrained(engine.randn(3)), AssertionError,
     "Embeddings parameter is expected to be 2-dimensional"),
    (lambda: nn.Embedding(3, 2, _weight=engine.randn(2, 2)), AssertionError,
     "Shape of weight does not match num_embeddings and embedding_dim"),
])
def test_embedding_errors(fn, exc, msg):
    with pytest.raises(exc, match=re.escape(msg)):
        fn()


# -- activation layers -------------------------------------------------------------------
ACTIVATIONS = [
    ("ReLU", (), {}), ("LeakyReLU", (), {}), ("LeakyReLU", (0.2,), {}),
    ("ELU", (), {}), ("ELU", (0.5,), {}), ("GELU", (), {}), ("GELU", ("tanh",), {}),
    ("SiLU", (), {}), ("Tanh", (), {}), ("Sigmoid", (), {}), ("Softplus", (), {}),
    ("Softplus", (2.0, 1.0), {}), ("Softmax", (), {"dim": 1}), ("Softmax", (0,), {}),
    ("LogSoftmax", (), {"dim": -1}), ("Hardtanh", (), {}), ("Hardtanh", (-0.5, 1.5), {}),
    ("ReLU6", (), {}), ("Mish", (), {}), ("LogSigmoid", (), {}),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name,args,kwargs", ACTIVATIONS)
def test_activation_layer_matches_torch(name, args, kwargs, device):
    out = check_op([(3, 4)], _module(name, *args, **kwargs), low=-4.0, high=8.0 if
                   name == "ReLU6" else 4.0, device=device)
    assert out[0].dtype == engine.float32


REPRS = ACTIVATIONS + [
    ("ReLU", (True,), {}), ("LeakyReLU", (0.1, True), {}), ("ELU", (1.0, True), {}),
    ("SiLU", (), {"inplace": True}), ("Softplus", (2, 10), {}), ("Softmax", (), {}),
    ("Hardtanh", (-2, 2, True), {}), ("ReLU6", (True,), {}), ("Mish", (True,), {}),
]


@needs_torch
@pytest.mark.parametrize("name,args,kwargs", REPRS)
def test_activation_repr_matches_torch(name, args, kwargs):
    assert repr(getattr(nn, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args,
                                                                                   **kwargs))


def test_relu_inplace_modifies_input():
    x = engine.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]


def test_activation_layer_errors():
    with pytest.raises(AssertionError, match=re.escape("max_val (1.0) must be greater than "
                                                       "min_val (2.0)")):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(RuntimeError, match="approximate argument must be either none or tanh"):
        nn.GELU("fast")(engine.ones(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.Hardtanh(-1.0, 1.0).min_val == -1.0
    with pytest.warns(FutureWarning, match="min_value"):
        assert nn.Hardtanh(min_value=-3.0).min_val == -3.0
