"""Engine vs PyTorch (CPU), side by side in one run.

1. Python overhead: one small autograd op with backward on shape (4,) tensors.
2. Throughput: an elementwise + reduction chain on (1024, 1024) float32, forward and
   backward.

Prints per-case times and the ratio engine / PyTorch (lower is better; < 1 means the
engine is faster). Run: `.venv/bin/python bench/engine_ops.py`.
"""

from __future__ import annotations

import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import engine  # noqa: E402

try:
    import torch
except ImportError:  # pragma: no cover
    sys.exit("bench/engine_ops.py compares against PyTorch: pip install torch==2.13.0")


def best_of(fn, number: int, repeat: int = 7) -> float:
    """Median seconds per call over `repeat` runs of `number` calls."""
    fn()  # warm up
    times = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(times) / number


def small_op(lib):
    a = lib.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    b = lib.tensor(np.ones(4, dtype=np.float32) * 0.5)
    g = lib.ones(4)

    def one_op():  # one op and its backward (explicit gradient, no reduction)
        (a * b).backward(g)

    def op_sum():  # the idiomatic scalar-loss form: op, sum, backward
        (a * b).sum().backward()

    return one_op, op_sum


def chain(lib):
    rng = np.random.default_rng(0)
    x = lib.tensor(rng.standard_normal((1024, 1024), dtype=np.float32), requires_grad=True)
    w = lib.tensor(rng.standard_normal((1024, 1024), dtype=np.float32), requires_grad=True)

    def run():
        y = ((x * w + 1.0).tanh() * x - w.exp() * 0.1).sum(dim=1).mean()
        y.backward()
        x.grad = None
        w.grad = None

    return run


def main() -> None:
    torch.set_grad_enabled(True)
    rows = []
    (e_one, e_sum), (t_one, t_sum) = small_op(engine), small_op(torch)
    rows.append(("mul + backward(gradient), (4,)", best_of(e_one, 2000), best_of(t_one, 2000)))
    rows.append(("mul + sum + backward, (4,)", best_of(e_sum, 2000), best_of(t_sum, 2000)))
    rows.append(("elementwise+reduction chain fwd+bwd, (1024, 1024) f32",
                 best_of(chain(engine), 5), best_of(chain(torch), 5)))
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}")
    print(f"{'case':58} {'engine':>11} {'torch':>11} {'ratio':>7}")
    for name, e, t in rows:
        print(f"{name:58} {e * 1e6:9.1f}us {t * 1e6:9.1f}us {e / t:7.2f}")


if __name__ == "__main__":
    main()
