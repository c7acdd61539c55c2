"""Early stopping on a per-epoch metric, as a job's `early_stopping` rule asks."""

from __future__ import annotations

from typing import Any

from app.spec.schema import JobSpec


class EarlyStopper:
    """Tracks `early_stopping.monitor` per epoch; `update` says when to stop. A resumed
    job starts tracking afresh."""

    def __init__(self, spec: JobSpec) -> None:
        rule = spec.early_stopping
        assert rule is not None
        self.monitor, self.mode, self.patience = rule.monitor, rule.mode, rule.patience
        self.min_delta, self.restore_best = rule.min_delta, rule.restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.bad = 0
        self.epoch = 0

    def update(self, values: dict[str, float], model: Any) -> bool:
        self.epoch += 1
        value = values.get(self.monitor)
        if value is None:  # not measured (e.g. no validation data): never stops
            return False
        better = self.best is None or (value < self.best - self.min_delta
                                       if self.mode == "min" else
                                       value > self.best + self.min_delta)
        if better:
            self.best, self.best_epoch, self.bad = value, self.epoch, 0
            if self.restore_best:
                self.best_state = {k: v.detach().clone()
                                   for k, v in model.state_dict().items()}
            return False
        self.bad += 1
        return self.bad >= self.patience


def score_of(spec: JobSpec, values: dict[str, float]) -> float | None:
    """The retention score of a checkpoint with these epoch metrics (lower is better):
    the early-stopping monitor, else `val_loss`, else `val_accuracy` negated; None when
    none of them was measured."""
    rule = spec.early_stopping
    if rule is not None:
        value = values.get(rule.monitor)
        return None if value is None else (value if rule.mode == "min" else -value)
    if "val_loss" in values:
        return values["val_loss"]
    if "val_accuracy" in values:
        return -values["val_accuracy"]
    return None
