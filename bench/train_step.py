"""Time per training step (forward, backward, optimizer step), engine vs PyTorch CPU,
side by side in one run, plus the ideal: the same MLP as plain NumPy with preallocated
buffers. Each row also shows the fraction of this machine's measured float32 GEMM rate
the step achieves.

Each step is timed in its own block (not interleaved with the others: the idle threads
of one library's thread pool, OpenBLAS's or PyTorch's OpenMP, keep spinning for a while
and slow the other library's next calls). The load average before and after the run is
printed with the table: on a busy machine the numbers say little.

Run: `.venv/bin/python bench/train_step.py`
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("bench/train_step.py compares against PyTorch: pip install torch==2.13.0")

SIZES = (784, 512, 512, 10)


def median_time(step, repeat: int = 30, warmup: int = 5) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def load() -> str:
    try:
        return "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover
        return "load average unknown"


def gemm_rate() -> float:
    """Measured float32 GEMM FLOP/s of NumPy's BLAS on this machine."""
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    b = a.copy()
    t = median_time(lambda: a @ b, repeat=10, warmup=2)
    return 2 * 1024**3 / t


def mlp_flops(batch: int) -> float:
    fwd = sum(2 * batch * i * o for i, o in zip(SIZES, SIZES[1:]))
    return 3 * fwd  # forward + two GEMMs per layer in backward


def data(batch: int, channels_hw=None):
    rng = np.random.default_rng(0)
    shape = (batch, SIZES[0]) if channels_hw is None else (batch, *channels_hw)
    x = rng.standard_normal(shape, dtype=np.float32)
    y = rng.integers(0, 10, batch)
    return x, y


def mlp(lib):
    nn = lib.nn
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                         nn.Linear(512, 10))


def cnn(lib):
    nn = lib.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))


def framework_step(lib, build, batch: int, shape=None, **adam_kwargs):
    lib.manual_seed(0)
    model = build(lib)
    opt = lib.optim.Adam(model.parameters(), lr=1e-3, **adam_kwargs)
    x, y = data(batch, shape)
    x, y = lib.tensor(x), lib.tensor(y)
    loss_fn = lib.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    return step


class NumpyMLP:
    """The ideal: hand-written forward/backward/Adam with preallocated buffers."""

    def __init__(self, batch: int) -> None:
        rng = np.random.default_rng(0)
        self.ws = [(rng.standard_normal((o, i), dtype=np.float32) / np.sqrt(i)).astype(
            np.float32) for i, o in zip(SIZES, SIZES[1:])]
        self.bs = [np.zeros(o, np.float32) for o in SIZES[1:]]
        self.params = [p for pair in zip(self.ws, self.bs) for p in pair]
        self.grads = [np.zeros_like(p) for p in self.params]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.tmp = [np.zeros_like(p) for p in self.params]
        self.acts = [np.zeros((batch, s), np.float32) for s in SIZES]
        self.dacts = [np.zeros((batch, s), np.float32) for s in SIZES]
        self.t = 0
        x, y = data(batch)
        self.acts[0][...] = x
        self.y = y

    def step(self) -> None:
        a, d, n = self.acts, self.dacts, len(self.ws)
        for k in range(n):
            np.matmul(a[k], self.ws[k].T, out=a[k + 1])
            a[k + 1] += self.bs[k]
            if k < n - 1:
                np.maximum(a[k + 1], 0, out=a[k + 1])
        logits = a[-1]
        probs = d[-1]
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=probs)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=1, keepdims=True)
        probs[np.arange(len(self.y)), self.y] -= 1
        probs /= len(self.y)
        for k in reversed(range(n)):
            np.matmul(d[k + 1].T, a[k], out=self.grads[2 * k])
            np.sum(d[k + 1], axis=0, out=self.grads[2 * k + 1])
            if k > 0:
                np.matmul(d[k + 1], self.ws[k], out=d[k])
                d[k] *= a[k] > 0
        self.t += 1
        b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, g, m, v, tmp in zip(self.params, self.grads, self.m, self.v, self.tmp):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= np.sqrt(c2)
            tmp += eps
            np.divide(m, tmp, out=tmp)
            tmp *= lr / c1
            p -= tmp


def main() -> None:
    torch.set_num_threads(torch.get_num_threads())
    rate = gemm_rate()
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}"
          f"  measured f32 GEMM {rate / 1e9:.1f} GFLOP/s")
    print(f"{'case':34} {'engine':>9} {'torch':>9} {'fused':>9} {'ideal':>9} {'ratio':>6} "
          f"{'eng %GEMM':>9}")
    print(load())
    for batch in (32, 256):
        e = median_time(framework_step(engine, mlp, batch))
        t = median_time(framework_step(torch, mlp, batch))
        tf = median_time(framework_step(torch, mlp, batch, fused=True))
        ideal = median_time(NumpyMLP(batch).step)
        frac = mlp_flops(batch) / e / rate
        print(f"{f'MLP 784-512-512-10 Adam b={batch}':34} {e * 1e3:7.2f}ms {t * 1e3:7.2f}ms "
              f"{tf * 1e3:7.2f}ms {ideal * 1e3:7.2f}ms {e / t:6.2f} {frac:9.0%}")
    shape = (1, 28, 28)
    e = median_time(framework_step(engine, cnn, 64, shape), repeat=10)
    t = median_time(framework_step(torch, cnn, 64, shape), repeat=10)
    tf = median_time(framework_step(torch, cnn, 64, shape, fused=True), repeat=10)
    print(f"{'CNN 2x(conv+pool) b=64 1x28x28':34} {e * 1e3:7.2f}ms {t * 1e3:7.2f}ms "
          f"{tf * 1e3:7.2f}ms {'-':>9} {e / t:6.2f} {'-':>9}")
    print(load())
    print("ratio = engine / torch (default Adam); ideal = plain NumPy with preallocated buffers")


if __name__ == "__main__":
    main()
