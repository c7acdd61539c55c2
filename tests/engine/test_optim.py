"""Optimizers: parity with torch.optim over 100 steps, state dicts, validation.

Parity runs feed both sides the same fixed random gradient sequence (NumPy, seeded) for
100 steps from identical parameters. Tolerance: rtol 1e-5 / atol 1e-6. The update math
follows PyTorch's single-tensor order of operations, but PyTorch's vectorized CPU
kernels fuse `a + alpha * b` (add with alpha, lerp, addcmul) into one FMA with a single
rounding where NumPy rounds twice, so results differ by an ulp now and then; the
differences do not grow past that tolerance over 100 steps.
"""

from __future__ import annotations

import io

import numpy as np
import pytest

import engine
import engine.optim as optim
from engine.nn import Parameter

from .helpers import needs_torch, to_np, torch

# small tensors (updated together by the multi-tensor path) and one past
# FOREACH_MAX_NUMEL (updated on its own)
SHAPES = [(7, 5), (5,), (3, 4, 2), (130, 260)]
STEPS = 100


@pytest.fixture(autouse=True)
def _torch_single_thread():
    """PyTorch's intra-op threads oversubscribe the CPUs under pytest-xdist (its OpenMP
    workers spin): on a busy 2-core machine a 100-step reference run takes seconds
    instead of 0.1 s. One thread for the duration of each test, then restored."""
    if torch is None:
        yield
        return
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

CASES = [
    ("SGD", {"lr": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.9}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.5}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1, "maximize": True}),
    ("Adam", {"lr": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.1}),
    ("Adam", {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True, "maximize": True}),
    ("Adam", {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6, "decoupled_weight_decay": True,
              "weight_decay": 0.1}),
    ("AdamW", {"lr": 0.01}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "maximize": True}),
    ("RMSprop", {}),
    ("RMSprop", {"centered": True}),
    ("RMSprop", {"momentum": 0.9, "lr": 0.001}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "lr": 0.001}),
    ("RMSprop", {"alpha": 0.9, "maximize": True, "eps": 1e-6}),
    ("Adagrad", {}),
    ("Adagrad", {"lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1}),
    ("Adagrad", {"lr": 0.1, "maximize": True, "eps": 1e-8}),
    ("Adamax", {}),
    ("Adamax", {"lr": 0.01, "weight_decay": 0.1, "betas": (0.8, 0.99)}),
    ("Adamax", {"maximize": True}),
    ("NAdam", {}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("NAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("NAdam", {"momentum_decay": 0.01, "maximize": True}),
    ("RAdam", {"lr": 0.01}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}),
    ("RAdam", {"maximize": True, "betas": (0.9, 0.99)}),
]


def _data(seed=0, steps=STEPS, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(steps)]
    return init, grads


def _engine_run(name, kwargs, init, grads):
    params = [Parameter(engine.tensor(a)) for a in init]
    opt = getattr(optim, name)(params, **kwargs)
    for gs in grads:
        for p, g in zip(params, gs):
            p.grad = engine.tensor(g)
        opt.step()
    return params, opt


def _torch_run(name, kwargs, init, grads):
    """PyTorch's optimizer over the same initial values and gradient sequence."""
    tparams = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    for gs in grads:
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
    return tparams


@needs_torch
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_torch_over_100_steps(name, kwargs):
    init, grads = _data()
    params, _ = _engine_run(name, kwargs, init, grads)
    tparams = _torch_run(name, kwargs, init, grads)
    for p, q in zip(params, tparams):
        assert p.dtype == engine.float32
        np.testing.assert_allclose(to_np(p), to_np(q), rtol=1e-5, atol=1e-6)


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad", "NAdam", "RAdam"])
def test_float64_parameters_match_torch(name):
    init, grads = _data(steps=20)
    init = [a.astype(np.float64) for a in init]
    grads = [[g.astype(np.float64) for g in gs] for gs in grads]
    kwargs = {"lr": 0.01, "weight_decay": 0.01}
    params, opt = _engine_run(name, kwargs, init, grads)
    tparams = _torch_run(name, kwargs, init, grads)
    for p, q in zip(params, tparams):
        assert p.dtype == engine.float64
        np.testing.assert_allclose(to_np(p), to_np(q), rtol=1e-12, atol=1e-13)
    state = opt.state[params[0]]
    assert all(v.dtype == (engine.float32 if k in ("step", "mu_product") else engine.float64)
               for k, v in state.items())


@needs_torch
@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "NAdam"])
def test_param_groups_with_different_settings_and_missing_grads(name):
    init, grads = _data(seed=1, steps=30)
    momentum = {"momentum": 0.9} if name in ("SGD", "RMSprop") else {}

    def groups(ps):
        return [{"params": ps[:1], "lr": 0.02, **momentum},
                {"params": ps[1:], "lr": 0.005, "weight_decay": 0.1}]

    results = []
    for mod, make, wrap in ((optim, Parameter, engine.tensor),
                            (torch.optim, torch.nn.Parameter, torch.tensor)):
        ps = [make(wrap(a)) for a in init]
        opt = getattr(mod, name)(groups(ps), lr=0.01)
        for i, gs in enumerate(grads):
            for j, (p, g) in enumerate(zip(ps, gs)):
                # the last parameter gets no gradient on every third step: skipped
                p.grad = None if (j == 2 and i % 3 == 0) else wrap(g)
            opt.step()
        results.append(ps)
    for p, q in zip(*results):
        np.testing.assert_allclose(to_np(p), to_np(q), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kwargs", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_state_dict_checkpoint_round_trip_is_bitwise(name, kwargs, tmp_path):
    init, grads = _data(seed=2, steps=12)
    straight, _ = _engine_run(name, kwargs, init, grads)

    params, opt = _engine_run(name, kwargs, init, grads[:5])
    path = tmp_path / "opt.safetensors"
    engine.save(opt.state_dict(), path)
    resumed = [Parameter(p.detach().clone()) for p in params]
    opt2 = getattr(optim, name)(resumed, **kwargs)
    opt2.load_state_dict(engine.load(path))
    for gs in grads[5:]:
        for p, g in zip(resumed, gs):
            p.grad = engine.tensor(g)
        opt2.step()
    for a, b in zip(straight, resumed):
        assert np.array_equal(to_np(a), to_np(b))


def test_loaded_state_is_a_copy_and_step_stays_float32_on_cpu():
    init, grads = _data(steps=3)
    params, opt = _engine_run("Adam", {}, init, grads)
    sd = opt.state_dict()
    fresh = optim.Adam(params)
    fresh.load_state_dict(sd)
    st = fresh.state[params[0]]
    assert st["step"].dtype == engine.float32 and st["step"].dim() == 0
    assert st["step"].device == engine.device("cpu") and st["step"].item() == 3.0
    assert st["exp_avg"]._data is not sd["state"][0]["exp_avg"]._data
    assert st["exp_avg"].tolist() == sd["state"][0]["exp_avg"].tolist()


def test_load_state_dict_casts_to_param_dtype_and_accepts_numeric_step():
    p = Parameter(engine.ones(3, dtype=engine.float64))
    opt = optim.Adam([p])
    sd = {"state": {0: {"step": 4, "exp_avg": engine.ones(3), "exp_avg_sq": engine.ones(3)}},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    st = opt.state[p]
    assert st["exp_avg"].dtype == engine.float64 and st["step"].dtype == engine.float32
    assert st["step"].item() == 4.0


def test_load_state_dict_validates_groups():
    a, b = Parameter(engine.ones(1)), Parameter(engine.ones(1))
    sd = optim.SGD([a, b]).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        optim.SGD([{"params": [a]}, {"params": [b]}]).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        optim.SGD([a]).load_state_dict(sd)


@needs_torch
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", {"momentum": 0.9}), ("SGD", {}), ("Adam", {"amsgrad": True}), ("AdamW", {}),
    ("RMSprop", {"momentum": 0.9, "centered": True}), ("Adagrad", {}), ("Adamax", {}),
    ("NAdam", {}), ("RAdam", {}),
])
def test_state_dict_layout_matches_torch(name, kwargs):
    init, grads = _data(steps=3)
    sds = []
    for mod, make, wrap in ((optim, Parameter, engine.tensor),
                            (torch.optim, torch.nn.Parameter, torch.tensor)):
        ps = [make(wrap(a)) for a in init]
        opt = getattr(mod, name)([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.5}],
                                 **kwargs)
        for gs in grads:
            for i, (p, g) in enumerate(zip(ps, gs)):
                p.grad = wrap(g) if i != 1 else None  # parameter 1 never gets state
            opt.step()
        sds.append(opt.state_dict())
    ours, theirs = sds
    assert list(ours) == list(theirs) == ["state", "param_groups"]
    assert list(ours["state"]) == list(theirs["state"])
    for k in theirs["state"]:
        assert list(ours["state"][k]) == list(theirs["state"][k])
        for key, tv in theirs["state"][k].items():
            ev = ours["state"][k][key]
            assert tuple(ev.shape) == tuple(tv.shape) and ev.dtype.name == str(tv.dtype)[6:]
            # a rough value check (lr 0.01 and 0.5 here: centered RMSprop's sqrt(v - m^2)
            # amplifies PyTorch's FMA-vs-NumPy rounding differences where v ~ m^2)
            scale = float(np.abs(to_np(tv)).max()) or 1.0
            np.testing.assert_allclose(to_np(ev), to_np(tv), rtol=1e-4, atol=1e-5 * scale)
    assert ours["param_groups"] == theirs["param_groups"]


def test_state_dict_saves_through_engine_save():
    init, grads = _data(steps=2)
    _, opt = _engine_run("Adam", {"amsgrad": True}, init, grads)
    buf = io.BytesIO()
    engine.save(opt.state_dict(), buf)
    out = engine.load(buf.getvalue())
    assert list(out["state"]) == list(range(len(SHAPES)))
    assert out["param_groups"][0]["betas"] == (0.9, 0.999)
    assert out["state"][0]["step"].item() == 2.0
