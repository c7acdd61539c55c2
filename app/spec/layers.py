"""Argument models of the dense, shape, normalization, dropout, embedding and activation
layers: one strict model per `engine.nn` layer, named after it, with `type` its tag.

Arguments have PyTorch's names, meanings and defaults. Arguments that make no sense in a
spec (`device`, `dtype`, `inplace`, `sparse`, ...) are not accepted.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from app.spec.args import (
    MAX_EMBEDDINGS,
    Channels,
    Dim,
    Eps,
    Features,
    Groups,
    Momentum,
    Positive,
    Probability,
    Shape,
    Slope,
    SpecModel,
    field_error,
)


class LayerArgs(SpecModel):
    """Base of every layer's arguments."""

    type: str


class Linear(LayerArgs):
    """y = x A^T + b over the last dimension."""

    type: Literal["Linear"]
    in_features: Features
    out_features: Features
    bias: bool = True


class Identity(LayerArgs):
    """Passes its input through unchanged."""

    type: Literal["Identity"]


class Flatten(LayerArgs):
    """Flattens dimensions start_dim..end_dim (dimension 0 is the batch)."""

    type: Literal["Flatten"]
    start_dim: Dim = 1
    end_dim: Dim = -1


class Unflatten(LayerArgs):
    """Splits dimension `dim` into `unflattened_size` (dimension 0 is the batch)."""

    type: Literal["Unflatten"]
    dim: Dim
    unflattened_size: Shape


class BatchNorm1d(LayerArgs):
    """Batch normalization of [C] or [C, L] samples."""

    type: Literal["BatchNorm1d"]
    num_features: Channels
    eps: Eps = 1e-5
    momentum: Momentum | None = 0.1
    affine: bool = True
    track_running_stats: bool = True


class BatchNorm2d(BatchNorm1d):
    """Batch normalization of [C, H, W] samples."""

    type: Literal["BatchNorm2d"]  # type: ignore[assignment]


class LayerNorm(LayerArgs):
    """Normalizes over the last dimensions, which must equal `normalized_shape`."""

    type: Literal["LayerNorm"]
    normalized_shape: Shape
    eps: Eps = 1e-5
    elementwise_affine: bool = True
    bias: bool = True

    @model_validator(mode="after")
    def _bounded(self) -> LayerNorm:
        if math.prod(self.normalized_shape) > 1 << 24:
            raise field_error("normalized_shape", "at most 16777216 elements")
        return self


class GroupNorm(LayerArgs):
    """Group normalization of [C, ...] samples; `num_groups` must divide `num_channels`."""

    type: Literal["GroupNorm"]
    num_groups: Groups
    num_channels: Channels
    eps: Eps = 1e-5
    affine: bool = True

    @model_validator(mode="after")
    def _divides(self) -> GroupNorm:
        if self.num_channels % self.num_groups:
            raise field_error("num_groups", f"must divide num_channels ({self.num_channels})")
        return self


class Dropout(LayerArgs):
    """Zeroes elements with probability `p` while training."""

    type: Literal["Dropout"]
    p: Probability = 0.5


class Dropout1d(Dropout):
    """Zeroes whole channels of [C, L] samples with probability `p` while training."""

    type: Literal["Dropout1d"]  # type: ignore[assignment]


class Dropout2d(Dropout):
    """Zeroes whole channels of [C, H, W] samples with probability `p` while training."""

    type: Literal["Dropout2d"]  # type: ignore[assignment]


class Embedding(LayerArgs):
    """A lookup table from integer token ids (the dataset's inputs, so it must come first)
    to vectors: [T] -> [T, embedding_dim]."""

    type: Literal["Embedding"]
    num_embeddings: int = Field(ge=1, le=MAX_EMBEDDINGS)
    embedding_dim: Features
    padding_idx: int | None = Field(None, ge=-MAX_EMBEDDINGS, le=MAX_EMBEDDINGS)

    @model_validator(mode="after")
    def _padding_in_range(self) -> Embedding:
        n, idx = self.num_embeddings, self.padding_idx
        if idx is not None and not -n <= idx < n:
            raise field_error("padding_idx", f"must be within num_embeddings: {-n}..{n - 1}")
        return self


class ReLU(LayerArgs):
    type: Literal["ReLU"]


class ReLU6(LayerArgs):
    type: Literal["ReLU6"]


class SiLU(LayerArgs):
    type: Literal["SiLU"]


class Tanh(LayerArgs):
    type: Literal["Tanh"]


class Sigmoid(LayerArgs):
    type: Literal["Sigmoid"]


class LogSigmoid(LayerArgs):
    type: Literal["LogSigmoid"]


class Mish(LayerArgs):
    type: Literal["Mish"]


class LeakyReLU(LayerArgs):
    type: Literal["LeakyReLU"]
    negative_slope: Slope = 0.01


class ELU(LayerArgs):
    type: Literal["ELU"]
    alpha: Slope = 1.0


class GELU(LayerArgs):
    type: Literal["GELU"]
    approximate: Literal["none", "tanh"] = "none"


class Softplus(LayerArgs):
    type: Literal["Softplus"]
    beta: Positive = 1.0
    threshold: Positive = 20.0


class Softmax(LayerArgs):
    """Softmax along `dim` (default: the last)."""

    type: Literal["Softmax"]
    dim: Dim = -1


class LogSoftmax(Softmax):
    """Log-softmax along `dim` (default: the last); pair it with NLLLoss."""

    type: Literal["LogSoftmax"]  # type: ignore[assignment]


class Hardtanh(LayerArgs):
    type: Literal["Hardtanh"]
    min_val: Slope = -1.0
    max_val: Slope = 1.0

    @model_validator(mode="after")
    def _ordered(self) -> Hardtanh:
        if self.max_val <= self.min_val:
            raise field_error("max_val", f"must be greater than min_val ({self.min_val})")
        return self
