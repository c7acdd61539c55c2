"""The reference tasks the service runs too: real (small) datasets, trained on the CPU."""

from pathlib import Path

import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn
from engine.utils.data import DataLoader, TensorDataset

DATA = Path(__file__).resolve().parent.parent / "data"


def split(n: int, seed: int = 0, train_fraction: float = 0.8):
    perm = np.random.default_rng(seed).permutation(n)
    cut = int(n * train_fraction)
    return perm[:cut], perm[cut:]


def digits(flat: bool):
    d = np.load(DATA / "digits.npz")
    x = d["images"].astype(np.float32) / 16.0
    x = x.reshape(len(x), -1) if flat else x[:, None]
    y = d["target"].astype(np.int64)
    tr, te = split(len(x))
    train = (engine.tensor(x[tr]), engine.tensor(y[tr]))
    return train, (engine.tensor(x[te]), engine.tensor(y[te]))


def fit_classifier(model, train, test, epochs: int, lr: float) -> float:
    engine.manual_seed(0)
    loader = DataLoader(TensorDataset(*train), batch_size=32, shuffle=True,
                        generator=engine.Generator().manual_seed(0))
    opt = engine.optim.Adam(model.parameters(), lr=lr)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    model.eval()
    with engine.no_grad():
        pred = model(test[0]).argmax(dim=1)
    return (pred == test[1]).float().mean().item()


def test_mlp_on_digits_reaches_96_percent():
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    acc = fit_classifier(model, *digits(flat=True), epochs=30, lr=1e-3)
    assert acc >= 0.96, acc


@pytest.mark.skipif(not hasattr(nn, "Conv2d") or not hasattr(nn, "MaxPool2d"),
                    reason="needs nn.Conv2d and nn.MaxPool2d")
def test_small_cnn_on_digits_reaches_97_percent():
    engine.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * 4 * 4, 10),
    )
    acc = fit_classifier(model, *digits(flat=False), epochs=15, lr=2e-3)
    assert acc >= 0.97, acc


def test_regression_mlp_on_diabetes_beats_the_mean_widely():
    d = np.load(DATA / "diabetes.npz")
    x, y = d["data"], d["target"]
    x = (x - x.mean(0)) / x.std(0)
    tr, te = split(len(x))
    mu, sd = y[tr].mean(), y[tr].std()
    ytr, yte = (y[tr] - mu) / sd, (y[te] - mu) / sd
    engine.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = engine.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    loader = DataLoader(TensorDataset(engine.tensor(x[tr]), engine.tensor(ytr[:, None])),
                        batch_size=32, shuffle=True, generator=engine.Generator().manual_seed(1))
    for _ in range(60):
        for xb, yb in loader:
            opt.zero_grad()
            F.mse_loss(model(xb), yb).backward()
            opt.step()
    with engine.no_grad():
        mse = F.mse_loss(model(engine.tensor(x[te])), engine.tensor(yte[:, None])).item()
    baseline = float(((yte - ytr.mean()) ** 2).mean())
    assert mse < 0.65 * baseline, (mse, baseline)  # R^2 well above 0.35
