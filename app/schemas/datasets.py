"""Datasets: the JSON upload body and the dataset metadata returned by the API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from app.schemas.common import Name, RequestModel, ResponseModel

_DATASET_EXAMPLE = {
    "id": "6d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "name": "xor", "format": "json",
    "rows": 4, "input_shape": [2], "input_dtype": "float32", "target_shape": [],
    "target_dtype": "int64", "num_classes": 2, "size_bytes": 320,
    "sha256": "5f0c1e3c8a4b2d6e9f7a1b3c5d7e9f0a2b4c6d8e0f1a3b5c7d9e1f3a5b7c9d1e",
    "created_at": "2026-01-01T12:00:00Z",
}

SAMPLES_DOC = (
    "One entry per sample: a number, a flat array, or a nested rectangular array "
    "(an image `[C][H][W]`, a token sequence, ...). Every sample has the same shape; "
    "numbers must be finite (no NaN/Infinity), booleans and strings are refused."
)


class DatasetCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"name": "xor", "inputs": [[0, 0], [0, 1], [1, 0], [1, 1]], "targets": [0, 1, 1, 0]},
        {"name": "tiny-images", "inputs": [[[[0.0, 0.5], [1.0, 0.25]]]], "targets": [3]},
    ]})

    name: Name
    inputs: list[Any] = Field(min_length=1, description=SAMPLES_DOC + " Stored as float32.")
    targets: list[Any] = Field(
        min_length=1,
        description="One target per sample: a number (class index or regression value) or "
        "an array. All integers: stored as int64 (class indices, `num_classes` = max + 1); "
        "otherwise float32.",
    )


class DatasetOut(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_DATASET_EXAMPLE]})

    id: uuid.UUID
    name: str
    format: Literal["json", "npy", "npz", "csv"] = Field(description="How it was uploaded.")
    rows: int = Field(description="Number of samples.")
    input_shape: list[int] = Field(description="Shape of one input sample.")
    input_dtype: Literal["float32"]
    target_shape: list[int] = Field(description="Shape of one target (`[]`: a scalar).")
    target_dtype: Literal["int64", "float32"]
    num_classes: int | None = Field(
        description="For non-negative integer targets: the largest class index + 1."
    )
    size_bytes: int = Field(description="Size of the stored content.")
    sha256: str = Field(
        description="SHA-256 of the stored content: the inputs `.npy` followed by the "
        "targets `.npy`."
    )
    created_at: datetime


class DatasetPage(ResponseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"items": [_DATASET_EXAMPLE], "next_cursor": "WyIyMDI2LTAxLTAxVDEyOjAwOjAwWiJd"}
    ]})

    items: list[DatasetOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
