"""A 3-layer MLP trained 200 steps with engine and with PyTorch, from identical weights
and batches, follows the same loss curve."""

import numpy as np
import pytest

import engine

from .helpers import needs_torch, torch

pytestmark = needs_torch

OPTIMIZERS = {
    "sgd_momentum": ("SGD", {"lr": 0.05, "momentum": 0.9}),
    "adam": ("Adam", {"lr": 1e-3}),
    "adamw": ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}),
    "rmsprop": ("RMSprop", {"lr": 1e-3}),
}


def build(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(),
                         nn.Linear(32, 4))


def loss_curve(lib, name, kwargs, weights, batches):
    model = build(lib)
    model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    opt = getattr(lib.optim, name)(model.parameters(), **kwargs)
    loss_fn = lib.nn.CrossEntropyLoss()
    losses = []
    for x, y in batches:
        opt.zero_grad()
        loss = loss_fn(model(lib.tensor(x)), lib.tensor(y))
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return np.array(losses)


@pytest.mark.parametrize("key", sorted(OPTIMIZERS))
def test_mlp_loss_curve_tracks_pytorch(key):
    name, kwargs = OPTIMIZERS[key]
    engine.manual_seed(0)
    weights = {k: v.numpy().copy() for k, v in build(engine).state_dict().items()}
    rng = np.random.default_rng(0)
    w_true = rng.standard_normal((16, 4))
    batches = []
    for _ in range(200):
        x = rng.standard_normal((32, 16)).astype(np.float32)
        batches.append((x, (x @ w_true).argmax(1).astype(np.int64)))
    ours = loss_curve(engine, name, kwargs, weights, batches)
    theirs = loss_curve(torch, name, kwargs, weights, batches)
    assert ours[-1] < 0.7 * ours[0]  # it actually trained
    np.testing.assert_allclose(ours, theirs, rtol=1e-4)
