import io

import numpy as np
import pytest

import engine
from engine import nn

from .helpers import needs_torch, torch


def test_state_dict_roundtrip_with_metadata(tmp_path):
    net = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    path = tmp_path / "model.safetensors"
    engine.save(net.state_dict(), path, metadata={"spec": '{"layers": 2}'})
    loaded = engine.load(path)
    assert set(loaded) == set(net.state_dict())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    fresh.load_state_dict(loaded)
    x = engine.randn(5, 3)
    assert engine.equal(fresh(x), net(x))
    assert engine.load_metadata(path) == {"spec": '{"layers": 2}'}


def test_nested_structures_keep_types_and_int_keys():
    state = {"state": {0: {"step": engine.tensor(3.0), "exp_avg": engine.ones(2)}},
             "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0], "name": None}]}
    buf = io.BytesIO()
    engine.save(state, buf)
    out = engine.load(buf.getvalue())
    assert list(out["state"]) == [0]
    assert engine.equal(out["state"][0]["exp_avg"], engine.ones(2))
    assert out["param_groups"][0]["betas"] == (0.9, 0.999)
    assert out["param_groups"][0]["name"] is None


def test_dtypes_survive(tmp_path):
    sd = {"f16": engine.ones(2, dtype=engine.float16), "i64": engine.arange(3),
          "b": engine.tensor([True, False]), "f64": engine.zeros(1, dtype=engine.float64)}
    engine.save(sd, tmp_path / "x.safetensors")
    out = engine.load(tmp_path / "x.safetensors")
    assert {k: v.dtype for k, v in out.items()} == {k: v.dtype for k, v in sd.items()}


def test_refuses_arbitrary_objects_and_never_pickles(tmp_path):
    with pytest.raises(TypeError, match="no pickle"):
        engine.save({"fn": lambda x: x}, tmp_path / "bad.safetensors")
    assert not (tmp_path / "bad.safetensors").exists()


def test_corrupt_file_raises_clear_error():
    with pytest.raises(ValueError, match="safetensors"):
        engine.load(b"\x08\x00\x00\x00\x00\x00\x00\x00{}garbage")


def test_bytes_roundtrip_and_map_location():
    from engine.serialization import to_bytes

    out = engine.load(to_bytes({"w": engine.ones(2)}), map_location="cpu")
    assert out["w"].device == engine.device("cpu") and out["w"].tolist() == [1.0, 1.0]


@needs_torch
def test_engine_file_loads_into_pytorch_and_back(tmp_path):
    from safetensors.torch import load_file, save_file

    def build(lib):
        return lib.nn.Sequential(lib.nn.Linear(4, 6), lib.nn.Linear(6, 2))

    e = build(engine)
    engine.save(e.state_dict(), tmp_path / "e.safetensors")
    t = build(torch)
    t.load_state_dict(load_file(tmp_path / "e.safetensors"))
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    np.testing.assert_allclose(t(torch.tensor(x)).detach().numpy(),
                               e(engine.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    save_file(t.state_dict(), tmp_path / "t.safetensors")
    e2 = build(engine)
    e2.load_state_dict(engine.load(tmp_path / "t.safetensors"))
    assert engine.equal(e2[1].bias, e[1].bias)


def test_zero_dim_tensors_keep_their_shape():
    from engine.serialization import to_bytes

    out = engine.load(to_bytes({"step": engine.tensor(3.0), "t": engine.ones(2).t()}))
    assert out["step"].shape == () and out["step"].item() == 3.0
