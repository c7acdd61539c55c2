import math

import numpy as np
import pytest

import engine
from engine import nn
from engine.nn import init

from .helpers import needs_torch, torch


@needs_torch
@pytest.mark.parametrize("name,param", [("linear", None), ("tanh", None), ("relu", None),
                                        ("leaky_relu", 0.2), ("selu", None), ("conv2d", None)])
def test_calculate_gain_matches_pytorch(name, param):
    assert init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param))


def _stats(t):
    a = t.detach().numpy()
    return a.mean(), a.std(), np.abs(a).max()


def test_uniform_normal_constant():
    t = engine.empty(200, 100)
    _, _, mx = _stats(init.uniform_(t, -0.5, 0.5))
    assert mx <= 0.5
    mean, std, _ = _stats(init.normal_(t, 1.0, 0.1))
    assert abs(mean - 1.0) < 0.01 and abs(std - 0.1) < 0.01
    assert init.constant_(t, 3.0).detach().numpy().min() == 3.0
    assert init.zeros_(t).sum().item() == 0 and init.ones_(t).mean().item() == 1


def test_xavier_and_kaiming_scales():
    t = engine.empty(300, 200)
    _, _, mx = _stats(init.xavier_uniform_(t))
    assert mx <= math.sqrt(6 / 500)
    _, std, _ = _stats(init.xavier_normal_(t, gain=2.0))
    assert abs(std - 2 * math.sqrt(2 / 500)) < 0.005
    _, _, mx = _stats(init.kaiming_uniform_(t, a=math.sqrt(5)))
    assert mx <= math.sqrt(6 / (1 + 5) / 200) + 1e-6
    _, std, _ = _stats(init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"))
    assert abs(std - math.sqrt(2 / 300)) < 0.005


def test_trunc_normal_respects_bounds_and_moments():
    t = init.trunc_normal_(engine.empty(20000), mean=0.0, std=1.0, a=-2.0, b=2.0)
    a = t.detach().numpy()
    assert a.min() >= -2 and a.max() <= 2
    assert abs(a.std() - 0.8796) < 0.02  # std of N(0,1) truncated to [-2, 2]


def test_orthogonal_eye_dirac():
    q = init.orthogonal_(engine.empty(6, 4)).detach().numpy()
    np.testing.assert_allclose(q.T @ q, np.eye(4), atol=1e-5)
    w = init.orthogonal_(engine.empty(3, 8)).detach().numpy()
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-5)
    assert init.eye_(engine.empty(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]
    d = init.dirac_(engine.empty(2, 2, 3)).detach().numpy()
    assert d[0, 0, 1] == 1 and d[1, 1, 1] == 1 and d.sum() == 2


def test_init_is_seeded_and_outside_the_graph():
    p = nn.Parameter(engine.empty(3, 3))
    engine.manual_seed(1)
    a = init.kaiming_uniform_(p).detach().numpy().copy()
    engine.manual_seed(1)
    b = init.kaiming_uniform_(p).detach().numpy()
    np.testing.assert_array_equal(a, b)
    assert p.grad_fn is None and p.is_leaf


def test_fan_errors():
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init.xavier_uniform_(engine.empty(3))
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("nope")


@needs_torch
def test_clip_grad_norm_matches_pytorch():
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s).astype(np.float32) for s in [(3, 4), (5,), (2, 2, 2)]]
    for norm_type in (2.0, 1.0, math.inf):
        ep = [nn.Parameter(engine.zeros(g.shape)) for g in grads]
        tp = [torch.nn.Parameter(torch.zeros(g.shape)) for g in grads]
        for p, q, g in zip(ep, tp, grads):
            p.grad, q.grad = engine.tensor(g), torch.tensor(g)
        te = nn.utils.clip_grad_norm_(ep, 1.5, norm_type)
        tt = torch.nn.utils.clip_grad_norm_(tp, 1.5, norm_type)
        assert te.item() == pytest.approx(tt.item(), rel=1e-5)
        for p, q in zip(ep, tp):
            np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_clip_grad_value_and_vectors():
    lin = nn.Linear(3, 2)
    (lin(engine.ones(1, 3)) * 100).sum().backward()
    nn.utils.clip_grad_value_(lin.parameters(), 0.5)
    assert max(float(p.grad.abs().max()) for p in lin.parameters()) <= 0.5
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    nn.utils.vector_to_parameters(engine.arange(8.0), lin.parameters())
    assert lin.weight.tolist() == [[0, 1, 2], [3, 4, 5]] and lin.bias.tolist() == [6, 7]


def test_clip_grad_norm_nonfinite():
    p = nn.Parameter(engine.zeros(2))
    p.grad = engine.tensor([float("inf"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
