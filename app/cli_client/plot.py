"""`trainforge jobs metrics --plot`: a PNG of a job's loss curves (matplotlib)."""

from __future__ import annotations

from typing import Any


def plot_metrics(series: dict[str, Any], path: str, *, title: str = "") -> str:
    """A PNG of the loss curves (every series with `loss` in its name; all series when
    none has) against the step. Needs matplotlib (`pip install 'trainforge[plot]'`)."""
    try:
        import matplotlib
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'trainforge[plot]' "
                         "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [s for name, s in sorted(series.items()) if "loss" in name] or list(
        series.values())
    if not chosen:
        raise ValueError("the job has no metrics to plot yet")
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    try:
        for s in chosen:
            ax.plot(s.steps, s.values, label=s.name, marker="o" if len(s.points) < 30 else None)
        ax.set_xlabel("step")
        ax.set_ylabel("value")
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
