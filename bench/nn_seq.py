"""Sequence layers, engine vs PyTorch (CPU), side by side in one run.

1. LSTM(128 -> 256), sequence length 50, batch 32: forward + backward of out.sum()
   (gradients for the parameters and the input).
2. TransformerEncoderLayer(d_model=256, nhead=4, dim_feedforward=2048, dropout=0,
   batch_first=True) on (16, 128, 256): forward + backward.

Both libraries get the same weights (copied through state_dict) and inputs. Engine and
torch blocks of calls alternate (with a pause between blocks, see `interleaved`), so
background load hits both alike; each figure is the median over the repeats. Prints
per-case times and the ratio engine / PyTorch (lower is better).
Run: `.venv/bin/python bench/nn_seq.py`.
"""

from __future__ import annotations

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
    sys.exit("bench/nn_seq.py compares against PyTorch: pip install torch==2.13.0")


def interleaved(fns, number: int, repeat: int = 7, pause: float = 0.3) -> list[float]:
    """Median seconds per call of each fn, timing them in turn within every repeat.

    Each library keeps its worker threads spinning for a while after its last call
    (OpenBLAS for NumPy, OpenMP for PyTorch); with 2 cores that would slow down whichever
    runs next, so every block of calls starts after a short pause."""
    for fn in fns:
        fn()  # warm up
    times = [[] for _ in fns]
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            time.sleep(pause)
            times[k].append(timeit.timeit(fn, number=number) / number)
    return [statistics.median(t) for t in times]


def _copy_weights(e_model, t_model) -> None:
    t_model.load_state_dict({k: torch.tensor(v.detach().numpy())
                             for k, v in e_model.state_dict().items()})


def _step(lib, model, x, loss_of):
    def run():
        loss_of(model(x)).backward()
        model.zero_grad(set_to_none=True)
        x.grad = None

    return run


def lstm_case():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((50, 32, 128), dtype=np.float32)
    e_model = engine.nn.LSTM(128, 256)
    t_model = torch.nn.LSTM(128, 256)
    _copy_weights(e_model, t_model)
    ex = engine.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    return (_step(engine, e_model, ex, lambda out: out[0].sum()),
            _step(torch, t_model, tx, lambda out: out[0].sum()))


def encoder_case():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((16, 128, 256), dtype=np.float32)
    kw = dict(d_model=256, nhead=4, dim_feedforward=2048, dropout=0.0, batch_first=True)
    e_model = engine.nn.TransformerEncoderLayer(**kw)
    t_model = torch.nn.TransformerEncoderLayer(**kw)
    _copy_weights(e_model, t_model)
    ex = engine.tensor(xs, requires_grad=True)
    tx = torch.tensor(xs, requires_grad=True)
    return (_step(engine, e_model, ex, lambda out: out.sum()),
            _step(torch, t_model, tx, lambda out: out.sum()))


def main() -> None:
    torch.set_grad_enabled(True)
    rows = []
    e, t = interleaved(lstm_case(), number=3)
    rows.append(("LSTM(128->256) T=50 B=32 fwd+bwd", e, t))
    e, t = interleaved(encoder_case(), number=1)
    rows.append(("TransformerEncoderLayer(256, 4) (16, 128, 256) fwd+bwd", e, t))
    print(f"torch {torch.__version__} threads={torch.get_num_threads()}  numpy {np.__version__}")
    print(f"{'case':58} {'engine':>10} {'torch':>10} {'ratio':>7}")
    for name, e, t in rows:
        print(f"{name:58} {e * 1e3:8.2f}ms {t * 1e3:8.2f}ms {e / t:7.2f}")


if __name__ == "__main__":
    main()
