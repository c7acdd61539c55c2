"""Argument models of the sequence layers and the spec-only sequence helpers.

Sequences are batch-first: a sample is [T, F] (T steps of F features), a batch
[N, T, F]. `batch_first` is therefore not an argument: it is always true. A recurrent
layer yields its output sequence [T, H * directions] (not the `(output, h_n)` tuple),
`MultiheadAttention` is self-attention (query = key = value = its input) yielding
[T, embed_dim]; reduce a sequence to one vector with `SequencePool`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from app.spec.args import Dim, Eps, Features, Probability, field_error
from app.spec.layers import LayerArgs

MAX_RECURRENT_LAYERS = 16


class _Recurrent(LayerArgs):
    input_size: Features
    hidden_size: Features
    num_layers: int = Field(1, ge=1, le=MAX_RECURRENT_LAYERS)
    bias: bool = True
    dropout: Probability = 0.0
    bidirectional: bool = False

    @model_validator(mode="after")
    def _dropout_between_layers(self) -> _Recurrent:
        if self.dropout > 0 and self.num_layers == 1:
            raise field_error("dropout", "applies between stacked layers: it needs "
                              "num_layers > 1")
        return self


class RNN(_Recurrent):
    """Elman RNN over [T, input_size] samples, yielding [T, hidden_size * directions]."""

    type: Literal["RNN"]
    nonlinearity: Literal["tanh", "relu"] = "tanh"


class LSTM(_Recurrent):
    """LSTM over [T, input_size] samples, yielding [T, hidden_size * directions]."""

    type: Literal["LSTM"]


class GRU(_Recurrent):
    """GRU over [T, input_size] samples, yielding [T, hidden_size * directions]."""

    type: Literal["GRU"]


class _Heads(LayerArgs):
    def _check_heads(self, dim_name: str, heads_name: str) -> None:
        dim, heads = getattr(self, dim_name), getattr(self, heads_name)
        if dim % heads:
            raise field_error(heads_name, f"must divide {dim_name} ({dim})")


class MultiheadAttention(_Heads):
    """Self-attention over [T, embed_dim] samples, yielding [T, embed_dim]."""

    type: Literal["MultiheadAttention"]
    embed_dim: Features
    num_heads: int = Field(ge=1, le=256)
    dropout: Probability = 0.0
    bias: bool = True

    @model_validator(mode="after")
    def _heads_divide(self) -> MultiheadAttention:
        self._check_heads("embed_dim", "num_heads")
        return self


class TransformerEncoderLayer(_Heads):
    """Self-attention and a feed-forward block over [T, d_model] samples."""

    type: Literal["TransformerEncoderLayer"]
    d_model: Features
    nhead: int = Field(ge=1, le=256)
    dim_feedforward: Features = 2048
    dropout: Probability = 0.1
    activation: Literal["relu", "gelu"] = "relu"
    layer_norm_eps: Eps = 1e-5
    norm_first: bool = False
    bias: bool = True

    @model_validator(mode="after")
    def _heads_divide(self) -> TransformerEncoderLayer:
        self._check_heads("d_model", "nhead")
        return self


class SequencePool(LayerArgs):
    """Reduces the step dimension of [T, F] samples to [F]: the mean or max over steps,
    or the first or last step."""

    type: Literal["SequencePool"]
    mode: Literal["mean", "max", "first", "last"] = "mean"


class Transpose(LayerArgs):
    """Swaps two dimensions (dimension 0 is the batch), e.g. [T, F] -> [F, T] with
    dim0=1, dim1=2 to feed a sequence to Conv1d."""

    type: Literal["Transpose"]
    dim0: Dim
    dim1: Dim
