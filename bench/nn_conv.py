"""Convolution and pooling layers, engine vs PyTorch (CPU), side by side in one run.

1. Conv2d(3 -> 64, 3x3, padding=1) forward + backward on a (32, 3, 32, 32) float32
   batch: as a first layer (input without grad) and as an inner layer (input grad too).
2. MaxPool2d(2) forward + backward on (32, 64, 32, 32) float32.

Prints per-case median times and the ratio engine / PyTorch (median of the per-round
ratios; lower is better). Engine and torch rounds alternate, so load from other
processes hits both alike.
Run: `.venv/bin/python bench/nn_conv.py`.

Measured 2026-11-29 on the 2-core machine (torch 2.13.0+cpu, 2 threads, numpy 2.4.6),
runs while other processes were quiet: conv without x grad 5.7-7.2 ms vs 4.9-5.7 ms
(ratio 1.0-1.4), with x grad 7.4-9.2 ms vs 8.6-13 ms (0.7-1.0), MaxPool2d(2)
4.9-7.1 ms vs 6.4-7.0 ms (0.8-1.1). Under background load both sides slow down by up to
10x (BLAS/OpenMP threads wait for cores) and single ratios scatter between 0.5 and 2.5.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("bench/nn_conv.py compares against PyTorch: pip install torch==2.13.0")


def side_by_side(engine_fn, torch_fn, number: int, repeat: int = 9) -> tuple:
    """Median seconds per call of each, over `repeat` rounds of `number` calls; the two
    alternate round by round (with a short pause between, so neither runs while the
    other's BLAS/OpenMP threads still spin) and see the same machine load. Also returns
    the median of the per-round ratios."""
    engine_fn(), torch_fn()  # warm up
    e_times, t_times = [], []
    for _ in range(repeat):
        time.sleep(0.05)  # let the other library's idle worker threads stop spinning
        e_times.append(timeit.timeit(engine_fn, number=number) / number)
        time.sleep(0.05)
        t_times.append(timeit.timeit(torch_fn, number=number) / number)
    ratio = statistics.median(e / t for e, t in zip(e_times, t_times))
    return statistics.median(e_times), statistics.median(t_times), ratio


def conv_case(lib, input_grad: bool):
    rng = np.random.default_rng(0)
    lib.manual_seed(0)
    conv = lib.nn.Conv2d(3, 64, 3, padding=1)
    x = lib.tensor(rng.standard_normal((32, 3, 32, 32), dtype=np.float32),
                   requires_grad=input_grad)
    seed = lib.tensor(rng.standard_normal((32, 64, 32, 32), dtype=np.float32))

    def run():
        conv(x).backward(seed)
        conv.weight.grad = conv.bias.grad = x.grad = None

    return run


def pool_case(lib):
    rng = np.random.default_rng(0)
    pool = lib.nn.MaxPool2d(2)
    x = lib.tensor(rng.standard_normal((32, 64, 32, 32), dtype=np.float32), requires_grad=True)
    seed = lib.tensor(rng.standard_normal((32, 64, 16, 16), dtype=np.float32))

    def run():
        pool(x).backward(seed)
        x.grad = None

    return run


def main() -> None:
    torch.set_grad_enabled(True)
    rows = [
        ("Conv2d(3,64,3,p=1) fwd+bwd, x (32,3,32,32), no x grad",
         side_by_side(conv_case(engine, False), conv_case(torch, False), 10)),
        ("Conv2d(3,64,3,p=1) fwd+bwd, x (32,3,32,32), with x grad",
         side_by_side(conv_case(engine, True), conv_case(torch, True), 10)),
        ("MaxPool2d(2) fwd+bwd, x (32,64,32,32)",
         side_by_side(pool_case(engine), pool_case(torch), 10)),
    ]
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}"
          f"  load average {load} (other processes skew BLAS timings)")
    print(f"{'case':56} {'engine':>10} {'torch':>10} {'ratio':>6}")
    for name, (e, t, r) in rows:
        print(f"{name:56} {e * 1e3:8.2f}ms {t * 1e3:8.2f}ms {r:6.2f}")


if __name__ == "__main__":
    main()
