"""What workers produce for a job: metric series, lifecycle events and checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import ConfigDict, Field

from app.schemas.common import ResponseModel

_EVENT = {"id": 1, "type": "created", "created_at": "2026-01-01T12:00:00Z",
          "payload": {"from": None, "to": "queued", "parameters": 82, "total_steps": 50}}


class MetricPoint(ResponseModel):
    step: int
    value: float


class MetricSeries(ResponseModel):
    name: str = Field(description="e.g. `train_loss`, `val_loss`, `val_accuracy`.")
    points: list[MetricPoint] = Field(description="By step, ascending.")
    total_points: int = Field(description="Points in the series within the step range, "
                              "before downsampling.")
    downsampled: bool


class MetricsOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"series": [{
        "name": "train_loss", "total_points": 3, "downsampled": False,
        "points": [{"step": 1, "value": 0.69}, {"step": 2, "value": 0.52},
                   {"step": 3, "value": 0.31}]}]}]})

    series: list[MetricSeries] = Field(description="One per metric name, by name; empty "
                                       "until a worker records metrics.")


class JobEventOut(ResponseModel):
    id: int = Field(description="Increasing within a job.")
    type: str = Field(description="`created`, `cancelled`, `cancel_requested`, and the "
                      "worker's: `running`, `queued` (retried), `succeeded`, `failed`, ...")
    payload: dict[str, Any]
    created_at: datetime


class JobEventPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_EVENT], "next_cursor": None}]})

    items: list[JobEventOut] = Field(description="Oldest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class CheckpointOut(ResponseModel):
    id: int
    step: int
    kind: str = Field(description="`periodic`, `epoch`, `stop` (training state to resume "
                      "from) or `weights` (the final model).")
    epoch: int = Field(description="Epochs completed when it was taken.")
    metrics: dict[str, float] = Field(description="The epoch's train/validation metrics "
                                      "when it was taken at an epoch's end.")
    score: float | None = Field(description="What `?checkpoint=best` minimises: the "
                                "monitored validation metric (negated when higher is "
                                "better); null when none was measured.")
    sha256: str
    size_bytes: int
    created_at: datetime


class CheckpointPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [{
        "id": 7, "step": 1000, "kind": "epoch", "epoch": 4, "size_bytes": 40960,
        "metrics": {"val_loss": 0.21, "val_accuracy": 0.94}, "score": 0.21,
        "sha256": "5f0c1e3c8a4b2d6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e",
        "created_at": "2026-01-01T12:10:00Z"}], "next_cursor": None}]})

    items: list[CheckpointOut] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
