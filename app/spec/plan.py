"""How a job's data divides into batches, steps and epochs (shared by API and workers)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from app.spec.schema import JobSpec


@dataclass(frozen=True)
class Plan:
    train_rows: int
    validation_rows: int
    steps_per_epoch: int  # optimizer steps per epoch (the last batch may be smaller)
    total_steps: int  # optimizer steps of the whole job
    epochs: int  # epochs begun, the last possibly cut short by max_steps
    batch_size: int

    @property
    def last_batch_rows(self) -> int:
        """Rows in an epoch's last batch (no batch is dropped)."""
        return self.train_rows % self.batch_size or self.batch_size


def make_plan(spec: JobSpec, rows: int, validation_rows: int = 0) -> Plan:
    """The plan for `rows` training-dataset rows; `validation_rows` is the size of a
    separate validation dataset (a `validation_split` is carved out of `rows`)."""
    held_out = int(rows * spec.validation_split) if spec.validation_split else 0
    train_rows = rows - held_out
    steps_per_epoch = max(1, math.ceil(train_rows / spec.batch_size))
    limits = [steps_per_epoch * spec.epochs] if spec.epochs else []
    if spec.max_steps:
        limits.append(spec.max_steps)
    total = min(limits) if limits else steps_per_epoch
    return Plan(train_rows=train_rows, validation_rows=held_out or validation_rows,
                steps_per_epoch=steps_per_epoch, total_steps=total,
                epochs=math.ceil(total / steps_per_epoch), batch_size=spec.batch_size)
