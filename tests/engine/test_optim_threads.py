"""The CPU optimizer step split across threads (`engine.optim._threads`): bitwise the
single-threaded results, for every elementwise optimizer, with large parameters, small
batched ones and a non-contiguous one."""

from __future__ import annotations

import numpy as np
import pytest

import engine
import engine.optim as optim
from engine.nn import Parameter
from engine.optim import _elementwise, _threads

from .helpers import to_np

CASES = [("SGD", {"momentum": 0.9, "lr": 0.1, "nesterov": True}), ("SGD", {"lr": 0.1}),
         ("Adam", {"amsgrad": True, "weight_decay": 0.1}), ("AdamW", {}),
         ("Adam", {"maximize": True}), ("RMSprop", {"centered": True, "momentum": 0.5}),
         ("Adagrad", {}), ("Adamax", {}), ("NAdam", {}), ("RAdam", {})]


def _train(name, kwargs, threads, monkeypatch):
    monkeypatch.setenv("ENGINE_OPTIM_THREADS", str(threads))
    monkeypatch.setattr(_elementwise, "PARALLEL_MIN_NUMEL", 1 << 12)
    monkeypatch.setattr(_elementwise, "PARALLEL_CHUNK", 1000)
    rng = np.random.default_rng(0)
    shapes = [(50, 61), (7,), (3001,), (4, 5), (40, 30)]
    init = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ps = [Parameter(engine.tensor(a)) for a in init]
    ps[4] = Parameter(engine.tensor(init[4]).t())  # not contiguous: updated on its own
    opt = getattr(optim, name)(ps, **kwargs)
    for i in range(6):
        for j, p in enumerate(ps):
            g = rng.standard_normal(p.shape).astype(np.float32)
            p.grad = None if (j == 3 and i == 2) else engine.tensor(g)
        opt.step()
    return [to_np(p) for p in ps], opt


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_threaded_step_is_bitwise_the_serial_step(name, kwargs, monkeypatch):
    serial, _ = _train(name, kwargs, 1, monkeypatch)
    for threads in (2, 3):
        threaded, opt = _train(name, kwargs, threads, monkeypatch)
        for a, b in zip(threaded, serial):
            np.testing.assert_array_equal(a, b)
        assert any(len(k) == 3 for k in opt._workspace), "no part ran on a helper thread"


def test_errors_in_helper_threads_reach_the_caller():
    def boom():
        raise ValueError("from a helper")

    ran = []
    with pytest.raises(ValueError, match="from a helper"):
        _threads.run([lambda: ran.append(0), boom])
    assert ran == [0]
    _threads.run([lambda: ran.append(1), lambda: ran.append(2)])  # still usable
    assert sorted(ran) == [0, 1, 2]
