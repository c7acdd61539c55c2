"""The fused CUDA optimizer kernels.

On a GPU (tests marked `gpu`): each kernel against the plain path (CuPy ufuncs) and the
CPU. Everywhere: each kernel body evaluated with NumPy on the CPU (the bodies use only
declarations, assignments and `sel`, so a few substitutions make them Python), called
through the optimizers' own `_fused` call sites, must give bitwise the plain path's
results: this checks argument order, state order and the formulas without a GPU.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import engine
import engine.optim as optim
from engine.nn import Parameter
from engine.optim import _fused_cuda

from .helpers import to_np

CASES = [
    ("SGD", {"lr": 0.1}), ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                   "weight_decay": 0.01}),
    ("SGD", {"lr": 0.05, "momentum": 0.8, "dampening": 0.5, "maximize": True}),
    ("Adam", {"lr": 0.01}), ("Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.1,
                                      "maximize": True}),
    ("AdamW", {"lr": 0.01, "weight_decay": 0.1}),
    ("RMSprop", {}), ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("RMSprop", {"centered": True}), ("RMSprop", {"momentum": 0.9, "maximize": True}),
    ("Adagrad", {"lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1}),
    ("Adamax", {"weight_decay": 0.1}), ("NAdam", {"decoupled_weight_decay": True,
                                                  "weight_decay": 0.1}),
    ("NAdam", {"maximize": True}), ("RAdam", {"lr": 0.01, "weight_decay": 0.1}),
    ("RAdam", {"lr": 0.01, "decoupled_weight_decay": True, "weight_decay": 0.1}),
]
IDS = [f"{n}-{k}" for n, k in CASES]


def _data(dtype, steps=30):
    rng = np.random.default_rng(0)
    shapes = [(33, 17), (5,), (2, 3, 4)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    return init, grads


def _run(name, kwargs, init, grads, device="cpu"):
    ps = [Parameter(engine.tensor(a, device=device)) for a in init]
    opt = getattr(optim, name)(ps, foreach=False, **kwargs)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = engine.tensor(g, device=device)
        opt.step()
    return [to_np(p.cpu()) for p in ps]


def _emulate(name, p, ins, outs):
    """Evaluate kernel `name`'s body with NumPy (vectorized over the arrays)."""
    in_params, out_params, body = _fused_cuda._SPECS[name]
    T = outs[0].dtype.type
    ns = {"T": T, "sel": np.where, "sqrt": np.sqrt, "fabs": np.abs}
    for decl, value in zip(in_params.split(","), ins):
        ns[decl.split()[1]] = value
    out_names = [d.split()[1] for d in out_params.split(",")]
    for n, a in zip(out_names, outs):
        ns[n] = a.copy()
    code = re.sub(r"\(T\)(\w+(?:\.\w+)?)", r"T(\1)", body)
    code = re.sub(r"\bT (\w+) =", r"\1 =", code).replace("&&", " and ")
    exec("\n".join(s.strip() for s in code.replace(";", "\n").splitlines() if s.strip()), ns)
    for n, a in zip(out_names, outs):
        np.copyto(a, ns[n])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_kernel_bodies_evaluated_on_cpu_match_plain_path_bitwise(name, kwargs, dtype,
                                                                 monkeypatch):
    init, grads = _data(dtype, steps=12)
    plain = _run(name, kwargs, init, grads)
    monkeypatch.setattr(_fused_cuda, "usable", lambda p, group: group.get("fused")
                        is not False)
    monkeypatch.setattr(_fused_cuda, "run", _emulate)
    fused = _run(name, kwargs, init, grads)
    for f, p in zip(fused, plain):
        assert f.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(f, p)


def test_kernel_specs_are_well_formed():
    for name, (in_params, out_params, body) in _fused_cuda._SPECS.items():
        names = [d.split()[1] for d in (in_params + "," + out_params).split(",")]
        assert len(names) == len(set(names)), name
        assert all(t == "T" or t in ("float64", "int32")
                   for t in (d.split()[0] for d in in_params.split(","))), name
        assert "?" not in body and "if" not in body.replace("fabs", ""), name
        assert len(_fused_cuda._scalar_types(name)) == len(in_params.split(","))


def test_fused_kernels_are_not_used_on_cpu():
    p = Parameter(engine.ones(2))
    assert not _fused_cuda.usable(p, {"fused": True})


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=IDS)
def test_fused_cuda_kernel_matches_plain_path(name, kwargs, dtype, monkeypatch):
    init, grads = _data(dtype)
    _fused_cuda._cache.clear()
    fused = _run(name, kwargs, init, grads, "cuda")
    assert _fused_cuda._cache, "the fused kernel was not used"
    monkeypatch.setattr(_fused_cuda, "enabled", False)
    plain = _run(name, kwargs, init, grads, "cuda")
    cpu = _run(name, kwargs, init, grads, "cpu")
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-13)
    for f, p, c in zip(fused, plain, cpu):
        assert f.dtype == np.dtype(dtype)
        np.testing.assert_allclose(f, p, rtol=rtol, atol=atol)
        np.testing.assert_allclose(p, c, rtol=rtol, atol=atol)


@pytest.mark.gpu
def test_fused_false_uses_plain_path_on_cuda_and_state_placement():
    p = Parameter(engine.ones(4, device="cuda"))
    _fused_cuda._cache.clear()
    opt = optim.Adam([p], fused=False)
    p.grad = engine.ones(4, device="cuda")
    opt.step()
    assert not _fused_cuda._cache
    assert opt.state[p]["exp_avg"].device == p.device
    assert opt.state[p]["step"].device == engine.device("cpu")
    fused = optim.Adam([p], fused=True)
    fused.load_state_dict(opt.state_dict())
    fused.step()
    assert "adam" in _fused_cuda._cache
    assert fused.state[p]["step"].item() == 2.0
