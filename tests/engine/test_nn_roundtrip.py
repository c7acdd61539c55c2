"""Weights move between engine and PyTorch as safetensors files, both ways, and the
same architecture computes the same outputs."""

import numpy as np
import pytest

import engine

from .helpers import needs_torch, torch

pytestmark = needs_torch


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.GELU(),
                         nn.Linear(16, 3))


def cnn_bn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(8, 16, 3), nn.BatchNorm2d(16), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 4))


def lstm_classifier(lib):
    nn = lib.nn

    class LSTMClassifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 8, padding_idx=0)
            self.lstm = nn.LSTM(8, 12, num_layers=2, batch_first=True, bidirectional=True)
            self.head = nn.Linear(24, 3)

        def forward(self, tokens):
            out, _ = self.lstm(self.embed(tokens))
            return self.head(out[:, -1])

    return LSTMClassifier()


def transformer(lib):
    nn = lib.nn

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(20, 16)
            layer = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.0,
                                               batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 2)

        def forward(self, tokens):
            return self.head(self.norm(self.encoder(self.embed(tokens))).mean(dim=1))

    return Encoder()


def inputs(name: str):
    rng = np.random.default_rng(0)
    if name in ("lstm_classifier", "transformer"):
        return rng.integers(0, 20, (4, 7))
    if name == "cnn_bn":
        return rng.standard_normal((2, 1, 10, 10)).astype(np.float32)
    return rng.standard_normal((5, 8)).astype(np.float32)


def _train_a_little(model, lib, x):
    """A few steps so batch-norm running stats and weights move away from init."""
    opt = lib.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(3):
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()
    model.eval()


BUILDERS = {"mlp": mlp, "cnn_bn": cnn_bn, "lstm_classifier": lstm_classifier,
            "transformer": transformer}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_engine_to_pytorch(name, tmp_path):
    from safetensors.torch import load_file

    build = BUILDERS[name]
    engine.manual_seed(0)
    e = build(engine)
    x = inputs(name)
    _train_a_little(e, engine, engine.tensor(x))
    engine.save(e.state_dict(), tmp_path / "e.safetensors")
    t = build(torch)
    t.load_state_dict(load_file(tmp_path / "e.safetensors"))
    t.eval()
    with engine.no_grad(), torch.no_grad():
        np.testing.assert_allclose(e(engine.tensor(x)).numpy(), t(torch.tensor(x)).numpy(),
                                   rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_pytorch_to_engine(name, tmp_path):
    from safetensors.torch import save_file

    build = BUILDERS[name]
    torch.manual_seed(0)
    t = build(torch)
    x = inputs(name)
    _train_a_little(t, torch, torch.tensor(x))
    save_file(t.state_dict(), tmp_path / "t.safetensors")
    e = build(engine)
    e.load_state_dict(engine.load(tmp_path / "t.safetensors"))
    e.eval()
    assert set(e.state_dict()) == set(t.state_dict())
    with engine.no_grad(), torch.no_grad():
        np.testing.assert_allclose(e(engine.tensor(x)).numpy(), t(torch.tensor(x)).numpy(),
                                   rtol=1e-4, atol=1e-5)
