"""LR schedulers: 100 steps against torch.optim.lr_scheduler, state dicts, validation.

The formulas are plain Python float math in the same order as PyTorch's, so the rates
match to 1e-12 relative (in practice exactly)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

import engine
import engine.optim as optim
from engine.nn import Parameter

from .helpers import needs_torch, torch

STEPS = 100


def _lam(e):
    return 0.95 ** e


def _lam2(e):
    return 1.0 / (1 + e)


def _mult(e):
    return 0.98


# name -> (optimizer name, optimizer kwargs, builder(S, opt))
CASES = {
    "StepLR": ("SGD", {}, lambda S, o: S.StepLR(o, step_size=7, gamma=0.5)),
    "MultiStepLR": ("SGD", {}, lambda S, o: S.MultiStepLR(o, [10, 30, 30, 60], gamma=0.5)),
    "ExponentialLR": ("SGD", {}, lambda S, o: S.ExponentialLR(o, gamma=0.97)),
    "CosineAnnealingLR": ("SGD", {},
                          lambda S, o: S.CosineAnnealingLR(o, T_max=30, eta_min=0.001)),
    "CosineAnnealingWarmRestarts": (
        "SGD", {}, lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2,
                                                              eta_min=0.01)),
    "CosineAnnealingWarmRestarts-1": (
        "SGD", {}, lambda S, o: S.CosineAnnealingWarmRestarts(o, T_0=7)),
    "LinearLR": ("SGD", {}, lambda S, o: S.LinearLR(o, start_factor=0.25, end_factor=0.9,
                                                    total_iters=40)),
    "ConstantLR": ("SGD", {}, lambda S, o: S.ConstantLR(o, factor=0.5, total_iters=17)),
    "PolynomialLR": ("SGD", {}, lambda S, o: S.PolynomialLR(o, total_iters=50, power=2.0)),
    "LambdaLR": ("SGD", {}, lambda S, o: S.LambdaLR(o, _lam)),
    "LambdaLR-list": ("SGD", {}, lambda S, o: S.LambdaLR(o, [_lam, _lam2])),
    "MultiplicativeLR": ("SGD", {}, lambda S, o: S.MultiplicativeLR(o, _mult)),
    "OneCycleLR-SGD": ("SGD", {"momentum": 0.9},
                       lambda S, o: S.OneCycleLR(o, max_lr=0.5, total_steps=STEPS)),
    "OneCycleLR-Adam": ("Adam", {}, lambda S, o: S.OneCycleLR(
        o, max_lr=[0.5, 0.05], total_steps=STEPS + 10, three_phase=True,
        anneal_strategy="linear", pct_start=0.25)),
    "CyclicLR-triangular2": ("SGD", {"momentum": 0.9}, lambda S, o: S.CyclicLR(
        o, 0.01, 0.1, step_size_up=7, step_size_down=13, mode="triangular2")),
    "CyclicLR-exp_range-Adam": ("Adam", {}, lambda S, o: S.CyclicLR(
        o, [0.01, 0.02], 0.1, step_size_up=10, mode="exp_range", gamma=0.99)),
    "CyclicLR-no-momentum": ("Adagrad", {}, lambda S, o: S.CyclicLR(
        o, 0.01, 0.1, step_size_up=5, cycle_momentum=False)),
    "SequentialLR": ("SGD", {}, lambda S, o: S.SequentialLR(
        o, [S.LinearLR(o, start_factor=0.1, total_iters=10), S.CosineAnnealingLR(o, 90)],
        milestones=[10])),
    "SequentialLR-3": ("SGD", {}, lambda S, o: S.SequentialLR(
        o, [S.ConstantLR(o, factor=0.3, total_iters=5), S.ExponentialLR(o, gamma=0.9),
            S.StepLR(o, step_size=10)], milestones=[5, 20])),
    "ChainedScheduler": ("SGD", {}, lambda S, o: S.ChainedScheduler(
        [S.ExponentialLR(o, gamma=0.99), S.MultiStepLR(o, [20, 50], gamma=0.5)])),
}


def _make(mod, opt_name, opt_kwargs, builder):
    lib, make = (optim, lambda: Parameter(engine.ones(2))) if mod == "engine" else \
        (torch.optim, lambda: torch.nn.Parameter(torch.ones(2)))
    opt = getattr(lib, opt_name)([{"params": [make()]}, {"params": [make()], "lr": 0.3}],
                                 lr=0.1, **opt_kwargs)
    return opt, builder(lib.lr_scheduler, opt)


def _trace(opt, sched, steps=STEPS, metrics=None):
    out = [list(sched.get_last_lr())]
    moms = []
    for i in range(steps):
        opt.step()
        sched.step() if metrics is None else sched.step(metrics[i])
        out.append(list(sched.get_last_lr()))
        g = opt.param_groups[0]
        moms.append(g["betas"][0] if "betas" in g else g.get("momentum"))
    return out, moms


@needs_torch
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_torch_for_100_steps(case):
    opt_name, opt_kwargs, builder = CASES[case]
    ours, our_moms = _trace(*_make("engine", opt_name, opt_kwargs, builder))
    theirs, their_moms = _trace(*_make("torch", opt_name, opt_kwargs, builder))
    np.testing.assert_allclose(np.array(ours), np.array(theirs), rtol=1e-12, atol=0)
    np.testing.assert_allclose(np.array(our_moms, float), np.array(their_moms, float),
                               rtol=1e-12, atol=0)


PLATEAU = {
    "min-rel": {"patience": 3, "factor": 0.5},
    "max-abs-cooldown": {"mode": "max", "threshold_mode": "abs", "threshold": 0.05,
                         "cooldown": 4, "patience": 2, "factor": 0.3},
    "min-lrs-eps": {"min_lr": [0.01, 0.05], "patience": 1, "factor": 0.2, "eps": 1e-3},
    "min-abs": {"threshold_mode": "abs", "threshold": 0.1, "patience": 0, "min_lr": 1e-4},
}


@needs_torch
@pytest.mark.parametrize("case", sorted(PLATEAU))
def test_reduce_lr_on_plateau_matches_torch(case):
    rng = np.random.default_rng(0)
    metrics = [float(math.exp(-i / 30) + 0.05 * v) for i, v in
               enumerate(rng.standard_normal(STEPS))]

    def builder(S, o):
        return S.ReduceLROnPlateau(o, **PLATEAU[case])

    ours, _ = _trace(*_make("engine", "SGD", {}, builder), metrics=metrics)
    theirs, _ = _trace(*_make("torch", "SGD", {}, builder), metrics=metrics)
    assert ours == theirs
    assert len({tuple(x) for x in ours}) > 1  # the schedule did reduce


@pytest.mark.parametrize("case", ["StepLR", "MultiStepLR", "CosineAnnealingLR",
                                  "CosineAnnealingWarmRestarts", "OneCycleLR-Adam",
                                  "CyclicLR-triangular2", "SequentialLR-3", "LambdaLR",
                                  "ChainedScheduler"])
def test_state_dict_round_trip_through_engine_save(case):
    opt_name, opt_kwargs, builder = CASES[case]
    opt, sched = _make("engine", opt_name, opt_kwargs, builder)
    straight, _ = _trace(opt, sched, steps=40)

    opt, sched = _make("engine", opt_name, opt_kwargs, builder)
    first, _ = _trace(opt, sched, steps=15)
    buf, obuf = io.BytesIO(), io.BytesIO()
    engine.save(sched.state_dict(), buf)
    engine.save(opt.state_dict(), obuf)
    opt2, sched2 = _make("engine", opt_name, opt_kwargs, builder)
    opt2.load_state_dict(engine.load(obuf.getvalue()))
    sched2.load_state_dict(engine.load(buf.getvalue()))
    rest, _ = _trace(opt2, sched2, steps=25)
    assert first + rest[1:] == straight


def test_plateau_state_dict_round_trip():
    opt, sched = _make("engine", "SGD", {}, lambda S, o: S.ReduceLROnPlateau(o, patience=0))
    for m in (1.0, 2.0, 3.0):
        sched.step(m)
    buf = io.BytesIO()
    engine.save(sched.state_dict(), buf)
    opt2, sched2 = _make("engine", "SGD", {}, lambda S, o: S.ReduceLROnPlateau(o))
    sched2.load_state_dict(engine.load(buf.getvalue()))
    assert sched2.best == 1.0 and sched2.patience == 0 and sched2.mode_worse == math.inf


@needs_torch
@pytest.mark.parametrize("case", ["StepLR", "OneCycleLR-SGD", "LambdaLR", "SequentialLR",
                                  "CyclicLR-triangular2"])
def test_state_dict_keys_match_torch(case):
    opt_name, opt_kwargs, builder = CASES[case]
    ours = _make("engine", opt_name, opt_kwargs, builder)[1].state_dict()
    theirs = _make("torch", opt_name, opt_kwargs, builder)[1].state_dict()
    assert set(ours) == set(theirs)
    assert "optimizer" not in ours


def test_initial_lr_and_base_lrs():
    opt, sched = _make("engine", "SGD", {}, lambda S, o: S.StepLR(o, 2))
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.3]
    assert sched.base_lrs == [0.1, 0.3] and sched.last_epoch == 0
    with pytest.raises(KeyError, match="initial_lr"):
        optim.lr_scheduler.StepLR(optim.SGD([Parameter(engine.ones(1))]), 2, last_epoch=3)
    assert issubclass(optim.lr_scheduler._LRScheduler, optim.lr_scheduler.LRScheduler)


def test_validation_and_warnings():
    S = optim.lr_scheduler
    opt = optim.SGD([Parameter(engine.ones(1))], lr=0.1)
    with pytest.raises(TypeError, match="is not an Optimizer"):
        S.StepLR(object(), 2)
    with pytest.raises(ValueError, match="Factor should be < 1.0."):
        S.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode foo is unknown!"):
        S.ReduceLROnPlateau(opt, mode="foo")
    with pytest.raises(ValueError, match="between 0 and 1"):
        S.ConstantLR(opt, factor=2.0)
    with pytest.raises(ValueError, match="Expected positive integer T_0"):
        S.CosineAnnealingWarmRestarts(opt, T_0=0)
    with pytest.raises(ValueError, match="total_steps OR"):
        S.OneCycleLR(opt, max_lr=1.0)
    with pytest.raises(ValueError, match="optimizer must support momentum"):
        S.OneCycleLR(optim.Adagrad([Parameter(engine.ones(1))]), 1.0, total_steps=5)
    with pytest.raises(ValueError, match="number of milestone points"):
        S.SequentialLR(opt, [S.StepLR(opt, 2), S.StepLR(opt, 3)], milestones=[])
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        S.LambdaLR(optim.SGD([{"params": [Parameter(engine.ones(1))]},
                              {"params": [Parameter(engine.ones(1))]}]), [_lam])
    sched = S.StepLR(opt, 2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    one = S.OneCycleLR(optim.SGD([Parameter(engine.ones(1))], momentum=0.9), 1.0,
                       total_steps=2)
    one.optimizer.step()
    one.step()
    one.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        one.step()


def test_tensor_lr_is_filled_in_place():
    lr = engine.tensor(0.1)
    opt = optim.Adam([Parameter(engine.ones(1))], lr=lr)
    sched = optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and lr.item() == pytest.approx(0.05)
    assert isinstance(sched.get_last_lr()[0], engine.Tensor)
