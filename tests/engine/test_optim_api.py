"""Optimizer API: argument validation, param groups, closures, zero_grad, foreach
batching, devices."""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine
import engine.optim as optim
from engine.nn import Parameter

from .helpers import fake_device, needs_torch, to_np, torch

INVALID = [
    ("SGD", {"lr": -1}, "Invalid learning rate: -1"),
    ("SGD", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ("SGD", {"weight_decay": -1e-3}, "Invalid weight_decay value: -0.001"),
    ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    ("SGD", {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
     "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", {"lr": -1}, "Invalid learning rate: -1"),
    ("Adam", {"eps": -1.0}, "Invalid epsilon value: -1.0"),
    ("Adam", {"betas": (1.5, 0.999)}, "Invalid beta parameter at index 0: 1.5"),
    ("Adam", {"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1: 1.0"),
    ("Adam", {"weight_decay": -0.1}, "Invalid weight_decay value: -0.1"),
    ("Adam", {"betas": (0, 0.999)}, "betas must be either both floats or both Tensors"),
    ("AdamW", {"betas": (-0.1, 0.9)}, "Invalid beta parameter at index 0: -0.1"),
    ("RMSprop", {"alpha": -0.1}, "Invalid alpha value: -0.1"),
    ("RMSprop", {"momentum": -1.0}, "Invalid momentum value: -1.0"),
    ("RMSprop", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
    ("Adagrad", {"lr_decay": -1.0}, "Invalid lr_decay value: -1.0"),
    ("Adagrad", {"initial_accumulator_value": -1.0},
     "Invalid initial_accumulator_value value: -1.0"),
    ("Adamax", {"betas": (0.9, 2.0)}, "Invalid beta parameter at index 1: 2.0"),
    ("NAdam", {"momentum_decay": -1.0}, "Invalid momentum_decay value: -1.0"),
    ("NAdam", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ("RAdam", {"weight_decay": -2.0}, "Invalid weight_decay value: -2.0"),
]


@pytest.mark.parametrize("name,kwargs,msg", INVALID, ids=[m for _, _, m in INVALID])
def test_argument_validation_messages(name, kwargs, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        getattr(optim, name)([Parameter(engine.ones(1))], **kwargs)
    if torch is not None:
        with pytest.raises(ValueError, match=re.escape(msg)):
            getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kwargs)


def test_implementation_flags():
    p = Parameter(engine.ones(2))
    for cls in (optim.Adam, optim.AdamW, optim.SGD, optim.Adagrad):
        opt = cls([p], fused=True)  # CPU: accepted (the fused path is CUDA-only)
        assert opt.param_groups[0]["fused"] is True
        with pytest.raises(RuntimeError, match="`fused` and `foreach` cannot be `True`"):
            cls([p], fused=True, foreach=True)
        with pytest.raises(RuntimeError, match="`fused` does not support `differentiable`"):
            cls([p], fused=True, differentiable=True)
    for cls in (optim.RMSprop, optim.Adamax, optim.NAdam, optim.RAdam, optim.Adam):
        opt = cls([p], foreach=True, capturable=True)
        p.grad = engine.ones(2)
        opt.step()
        with pytest.raises(RuntimeError, match="differentiable"):
            cls([p], differentiable=True)
    with pytest.raises(TypeError):
        optim.RMSprop([p], fused=True)  # like PyTorch: no such argument


def test_param_group_checks():
    a, b = Parameter(engine.ones(1)), Parameter(engine.ones(1))
    opt = optim.SGD([a], lr=0.1)
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="some parameters appear in more than one parameter"):
        optim.SGD([{"params": [a]}, {"params": [b, a]}])
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        optim.SGD([])
    with pytest.raises(TypeError, match="should be an iterable of Tensors or dicts"):
        optim.SGD(a)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {a}}])
    with pytest.raises(TypeError, match="optimizer can only optimize Tensors"):
        optim.SGD([1.0])
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([a * 2])
    with pytest.warns(UserWarning, match="duplicate parameters"):
        optim.SGD([a, a])
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0 and opt.defaults["lr"] == 0.1
    named = optim.Adam([("w", a), ("b", b)])
    assert named.param_groups[0]["param_names"] == ["w", "b"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]
    assert "Parameter Group 0" in repr(named) and "lr: 0.001" in repr(named)


def test_closure_is_called_with_grad_enabled_and_its_loss_returned():
    w = Parameter(engine.tensor([3.0]))
    opt = optim.SGD([w], lr=0.1)
    seen = []

    def closure():
        seen.append(engine.is_grad_enabled())
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with engine.no_grad():
        loss = opt.step(closure)
    assert seen == [True] and loss.item() == 9.0
    assert w.item() == pytest.approx(3.0 - 0.1 * 6.0)
    assert engine.is_grad_enabled()  # the caller's mode is restored
    assert optim.Adam([w]).step() is None


def test_zero_grad_set_to_none_true_and_false():
    w = Parameter(engine.ones(3))
    opt = optim.SGD([w])
    (w * 2).sum().backward()
    grad = w.grad
    opt.zero_grad(set_to_none=False)
    assert w.grad is grad and w.grad.tolist() == [0.0, 0.0, 0.0]
    opt.zero_grad()
    assert w.grad is None
    opt.zero_grad()  # no grads: nothing to do


def test_step_bumps_version_once_and_skips_params_without_grad():
    a, b = Parameter(engine.ones(2)), Parameter(engine.ones(2))
    opt = optim.Adam([a, b], lr=0.1)
    va, vb = a._version, b._version
    a.grad = engine.ones(2)
    opt.step()
    assert a._version == va + 1 and b._version == vb
    assert b.tolist() == [1.0, 1.0] and b not in opt.state


def test_scratch_workspace_is_shared_and_reused():
    ps = [Parameter(engine.ones(n)) for n in (10, 1000, 3)]
    opt = optim.Adam(ps, foreach=False)
    for p in ps:
        p.grad = engine.ones(p.shape)
    opt.step()
    (ws,) = opt._workspace.values()
    opt.step()
    assert list(opt._workspace.values())[0] is ws and ws.size == 2 * 1000


FOREACH_CASES = [("SGD", {"momentum": 0.9, "lr": 0.1}), ("SGD", {"lr": 0.1}),
                 ("Adam", {"amsgrad": True, "weight_decay": 0.1}), ("AdamW", {}),
                 ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adagrad", {}),
                 ("Adamax", {}), ("NAdam", {"decoupled_weight_decay": True,
                                            "weight_decay": 0.1}), ("RAdam", {})]


@pytest.mark.parametrize("name,kwargs", FOREACH_CASES, ids=[n for n, _ in FOREACH_CASES])
def test_foreach_batches_small_params_bitwise_like_single_tensor_path(name, kwargs):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (5,), (40_000,), (2, 2, 2), (7,)]  # one too big to batch
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(12)]
    runs = []
    for foreach in (False, None, True):
        ps = [Parameter(engine.tensor(a)) for a in init]
        opt = getattr(optim, name)(ps, foreach=foreach, **kwargs)
        for i, gs in enumerate(grads):
            for j, (p, g) in enumerate(zip(ps, gs)):
                p.grad = None if (j == 4 and i % 4 == 1) else engine.tensor(g)
            opt.step()
            if i == 6:  # reload the state: the flat buffers must be rebuilt
                sd = opt.state_dict()
                opt = getattr(optim, name)(ps, foreach=foreach, **kwargs)
                opt.load_state_dict(sd)
        runs.append((ps, opt))
        if foreach is not False:
            assert opt._packs, "no batched update happened"
    (ref, ref_opt), *others = runs
    for ps, opt in others:
        for p, q in zip(ps, ref):
            assert np.array_equal(to_np(p), to_np(q))
        for k in range(len(ps)):
            for key, v in opt.state[ps[k]].items():
                assert np.array_equal(to_np(v), to_np(ref_opt.state[ref[k]][key])), key


def test_training_a_model_reduces_the_loss():
    engine.manual_seed(0)
    net = engine.nn.Sequential(engine.nn.Linear(4, 16), engine.nn.Linear(16, 1))
    x = engine.randn(64, 4)
    y = x @ engine.randn(4, 1) + 0.5
    opt = optim.AdamW(net.parameters(), lr=1e-2)
    first = None
    for _ in range(50):
        opt.zero_grad()
        loss = ((net(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < first * 0.1


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"momentum": 0.9, "lr": 0.1}), ("Adam", {"amsgrad": True}), ("RMSprop", {}),
    ("NAdam", {"weight_decay": 0.1}),
])
def test_non_cpu_device_runs_the_same_math_and_load_moves_state(name, kwargs):
    dev = fake_device()
    rng = np.random.default_rng(0)
    init = rng.standard_normal(6).astype(np.float32)
    grads = [rng.standard_normal(6).astype(np.float32) for _ in range(6)]
    runs = []
    for d in ("cpu", dev):
        p = Parameter(engine.tensor(init, device=d))
        opt = getattr(optim, name)([p], **kwargs)
        for g in grads:
            p.grad = engine.tensor(g, device=d)
            opt.step()
        runs.append((p, opt))
    (cp, copt), (fp, fopt) = runs
    assert fp.device == engine.device(dev)
    assert np.array_equal(to_np(cp.cpu()), to_np(fp.cpu()))
    st = fopt.state[fp]
    for k, v in st.items():
        want = engine.device("cpu") if k in ("step", "mu_product") else engine.device(dev)
        assert v.device == want, k
    moved = getattr(optim, name)([fp], **kwargs)
    moved.load_state_dict(copt.state_dict())  # CPU state onto a fake-device parameter
    assert all(v.device == st[k].device for k, v in moved.state[fp].items())


@needs_torch
def test_fused_true_on_cpu_matches_torch_fused_adam():
    rng = np.random.default_rng(3)
    init = rng.standard_normal(10).astype(np.float32)
    grads = [rng.standard_normal(10).astype(np.float32) for _ in range(20)]
    p, q = Parameter(engine.tensor(init)), torch.nn.Parameter(torch.tensor(init))
    opt, topt = optim.Adam([p], lr=0.01, fused=True), torch.optim.Adam([q], lr=0.01, fused=True)
    for g in grads:
        p.grad, q.grad = engine.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(to_np(p), to_np(q), rtol=1e-5, atol=1e-6)
