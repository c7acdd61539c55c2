"""Training is reproducible: the same seed gives bitwise-identical weights, and a run
checkpointed at step k (model, optimizer, data-loader position, global RNG) and resumed in
a fresh process ends bitwise-identical to the uninterrupted run.

The model uses dropout (global RNG) and the loader shuffles, from its own generator or
from seeds drawn from the global RNG. This file is also the script the fresh process runs:
`python test_reproducibility.py resume MODE CHECKPOINT OUT`.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

import engine
from engine import nn
from engine.utils.data import DataLoader, TensorDataset

EPOCHS, BATCH = 3, 6  # 40 samples: 7 batches an epoch (the last one of 4), 21 steps
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(6, 16), nn.Linear(16, 3)
        self.drop = nn.Dropout(0.2) if hasattr(nn, "Dropout") else None

    def forward(self, x):
        h = self.fc1(x).relu()
        if self.drop is not None:
            h = self.drop(h)
        else:  # hand-made dropout: still draws from the global RNG
            h = h * (engine.rand(*h.shape) >= 0.2).float() / 0.8
        return self.fc2(h)


class HandSGD:
    """Plain SGD under no_grad, for when engine.optim is not there."""

    def __init__(self, params, lr):
        self.params, self.lr = list(params), lr

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        with engine.no_grad():
            for p in self.params:
                p -= self.lr * p.grad

    def state_dict(self):
        return {"lr": self.lr}

    def load_state_dict(self, state):
        self.lr = state["lr"]


def loss_fn(out, y):
    ce = getattr(nn.functional, "cross_entropy", None)
    if ce is not None:
        return ce(out, y)
    onehot = (y.reshape(-1, 1) == engine.arange(3).reshape(1, -1)).float()
    return ((out - onehot) ** 2).mean()


def build(seed: int, mode: str):
    """Model, optimizer and loader; `mode` is "generator" (the loader shuffles with its
    own Generator) or "global" (each epoch's seed comes from the global RNG)."""
    rng = np.random.default_rng(0)  # fixed data, independent of the seeds under test
    x = engine.tensor(rng.standard_normal((40, 6)).astype(np.float32))
    y = engine.tensor(rng.integers(0, 3, 40))
    engine.manual_seed(seed)
    model = Net()
    try:
        import engine.optim as optim

        opt = optim.Adam(model.parameters(), lr=1e-2)
    except ImportError:
        opt = HandSGD(model.parameters(), lr=0.1)
    gen = engine.Generator().manual_seed(seed + 1) if mode == "generator" else None
    loader = DataLoader(TensorDataset(x, y), batch_size=BATCH, shuffle=True, generator=gen)
    return model, opt, loader


def train(model, opt, loader, *, start_epoch=0, step=0, stop_at=None, ckpt=None):
    """Train to the end, or to step `stop_at`, saving a checkpoint to `ckpt` there."""
    for _ in range(start_epoch, EPOCHS):
        for x, y in loader:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            opt.step()
            step += 1
            if step == stop_at:
                engine.save({"model": model.state_dict(), "optim": opt.state_dict(),
                             "loader": loader.state_dict(), "rng": engine.get_rng_state(),
                             "step": step}, ckpt)
                return step
    return step


def resume(mode: str, ckpt: str, out: str) -> None:
    """The fresh process: rebuild everything (with another seed), load the checkpoint,
    finish training and save the final weights."""
    state = engine.load(ckpt)
    model, opt, loader = build(seed=999, mode=mode)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optim"])
    loader.load_state_dict(state["loader"])
    engine.set_rng_state(state["rng"])
    steps = train(model, opt, loader, start_epoch=state["loader"]["epoch"], step=state["step"])
    assert steps == EPOCHS * len(loader), steps
    engine.save(model.state_dict(), out)


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k].numpy(), b[k].numpy(), equal_nan=True)
        for k in a)


def final_weights(seed: int, mode: str) -> dict:
    model, opt, loader = build(seed, mode)
    assert train(model, opt, loader) == EPOCHS * len(loader)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("mode", ["generator", "global"])
def test_same_seed_same_weights(mode):
    a, b = final_weights(0, mode), final_weights(0, mode)
    assert same(a, b)
    assert not same(a, final_weights(1, mode))


@pytest.mark.parametrize("mode", ["generator", "global"])
@pytest.mark.parametrize("stop_at", [10, 14])  # mid-epoch; right after an epoch's last batch
def test_resume_in_fresh_process_is_bitwise_identical(tmp_path, mode, stop_at):
    reference = final_weights(0, mode)
    model, opt, loader = build(0, mode)
    ckpt, out = str(tmp_path / "ckpt.safetensors"), str(tmp_path / "final.safetensors")
    assert train(model, opt, loader, stop_at=stop_at, ckpt=ckpt) == stop_at
    env = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "resume", mode, ckpt, out],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert same(dict(engine.load(out)), reference)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "resume":
        sys.exit("usage: test_reproducibility.py resume MODE CHECKPOINT OUT")
    resume(*sys.argv[2:])
