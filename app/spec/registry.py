"""The spec's layer table: one entry per layer type a spec may name.

An entry ties a layer's argument model to the function building its module and the
facts validation needs before building it (see `app.spec.shapes`). Adding a layer is
adding its argument model and one entry here; the OpenAPI document, validation and the
builder pick it up. `Sequential` and `Residual` (containers) are handled by
`app.spec.schema` and `app.spec.build`. Losses, optimizers and schedulers are in
`app.spec.registry_training`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.spec import blocks
from app.spec import layers as L
from app.spec import layers_conv as C
from app.spec import layers_seq as S
from app.spec import shapes as sh
from engine import nn


@dataclass(frozen=True)
class LayerEntry:
    args: type[L.LayerArgs]
    build: Callable[[Any], nn.Module]
    params: sh.Count = sh.no_params
    check: sh.Check | None = None
    out_bound: sh.Bound = sh.same_size
    extra: Callable[[Any, sh.Shape, sh.Shape], int] | None = None
    size_field: str | None = None  # the argument setting the output size (error messages)
    tokens: bool = False  # takes integer token ids (so only the dataset's inputs)
    batch_stats: bool = False  # needs more than one value per channel in a batch


def make(cls: type[nn.Module], **fixed: Any) -> Callable[[Any], nn.Module]:
    """Build `cls` from the arguments' fields (all but `type`), plus `fixed` ones."""
    def build(args: Any) -> nn.Module:
        kwargs = {k: v for k, v in args if k != "type"}
        return cls(**kwargs, **fixed)
    build.__name__ = f"make_{cls.__name__}"
    return build


def _entry(args: type[L.LayerArgs], build: Callable[[Any], nn.Module] | None = None,
           **facts: Any) -> tuple[str, LayerEntry]:
    name = args.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    return name, LayerEntry(args, build or make(getattr(nn, name)), **facts)


_SEQ = "[C, L] samples (channels, length)"
_IMG = "[C, H, W] samples (channels, height, width): add an Unflatten layer to shape a flat input"
_activations = [L.ReLU, L.ReLU6, L.SiLU, L.Tanh, L.Sigmoid, L.LogSigmoid, L.Mish, L.LeakyReLU,
                L.ELU, L.GELU, L.Softplus, L.Softmax, L.LogSoftmax, L.Hardtanh]

LAYERS: dict[str, LayerEntry] = dict([
    _entry(L.Linear, params=sh.linear_params, check=sh.last_dim("in_features"),
           out_bound=sh.linear_bound, size_field="out_features"),
    _entry(L.Identity),
    _entry(L.Flatten),
    _entry(L.Unflatten),
    _entry(L.BatchNorm1d, params=sh.norm_params("num_features", "affine"), batch_stats=True,
           check=sh.first_dim("num_features", (1, 2), "[C] or [C, L] samples")),
    _entry(L.BatchNorm2d, params=sh.norm_params("num_features", "affine"), batch_stats=True,
           check=sh.first_dim("num_features", (3,), _IMG)),
    _entry(L.LayerNorm, params=sh.layer_norm_params, check=sh.trailing("normalized_shape")),
    _entry(L.GroupNorm, params=sh.norm_params("num_channels", "affine"),
           check=sh.first_dim("num_channels", (1, 2, 3), "[C], [C, L] or [C, H, W] samples")),
    _entry(L.Dropout),
    _entry(L.Dropout1d, check=sh.rank(2, needs=_SEQ)),
    _entry(L.Dropout2d, check=sh.rank(3, needs=_IMG)),
    _entry(L.Embedding, params=lambda a: a.num_embeddings * a.embedding_dim, tokens=True,
           out_bound=sh.embedding_bound, size_field="embedding_dim"),
    *(_entry(cls) for cls in _activations),
    _entry(C.Conv1d, params=sh.conv_params(1), out_bound=sh.conv_bound(1),
           check=sh.first_dim("in_channels", (2,), _SEQ), size_field="out_channels"),
    _entry(C.Conv2d, params=sh.conv_params(2), out_bound=sh.conv_bound(2),
           check=sh.first_dim("in_channels", (3,), _IMG), size_field="out_channels"),
    _entry(C.ConvTranspose1d, params=sh.conv_params(1, transposed=True),
           out_bound=sh.conv_transpose_bound(1), size_field="out_channels",
           check=sh.first_dim("in_channels", (2,), _SEQ)),
    _entry(C.ConvTranspose2d, params=sh.conv_params(2, transposed=True),
           out_bound=sh.conv_transpose_bound(2), size_field="out_channels",
           check=sh.first_dim("in_channels", (3,), _IMG)),
    _entry(C.MaxPool1d, check=sh.rank(2, needs=_SEQ)),
    _entry(C.MaxPool2d, check=sh.rank(3, needs=_IMG)),
    _entry(C.AvgPool1d, check=sh.rank(2, needs=_SEQ)),
    _entry(C.AvgPool2d, check=sh.rank(3, needs=_IMG)),
    _entry(C.AdaptiveAvgPool1d, check=sh.rank(2, needs=_SEQ), out_bound=sh.adaptive_bound(1)),
    _entry(C.AdaptiveAvgPool2d, check=sh.rank(3, needs=_IMG), out_bound=sh.adaptive_bound(2)),
    _entry(C.AdaptiveMaxPool1d, check=sh.rank(2, needs=_SEQ), out_bound=sh.adaptive_bound(1)),
    _entry(C.AdaptiveMaxPool2d, check=sh.rank(3, needs=_IMG), out_bound=sh.adaptive_bound(2)),
    _entry(S.RNN, make(blocks.RNNOutput, batch_first=True), params=sh.recurrent_params(1),
           check=sh.sequence_of("input_size"), out_bound=sh.recurrent_bound,
           extra=sh.recurrent_extra(1), size_field="hidden_size"),
    _entry(S.LSTM, make(blocks.LSTMOutput, batch_first=True), params=sh.recurrent_params(4),
           check=sh.sequence_of("input_size"), out_bound=sh.recurrent_bound,
           extra=sh.recurrent_extra(4), size_field="hidden_size"),
    _entry(S.GRU, make(blocks.GRUOutput, batch_first=True), params=sh.recurrent_params(3),
           check=sh.sequence_of("input_size"), out_bound=sh.recurrent_bound,
           extra=sh.recurrent_extra(3), size_field="hidden_size"),
    _entry(S.MultiheadAttention, make(blocks.SelfAttention, batch_first=True),
           params=sh.mha_params, check=sh.sequence_of("embed_dim"),
           extra=sh.attention_extra("num_heads")),
    _entry(S.TransformerEncoderLayer, make(nn.TransformerEncoderLayer, batch_first=True),
           params=sh.transformer_params, check=sh.sequence_of("d_model"),
           extra=sh.attention_extra("nhead")),
    _entry(S.SequencePool, make(blocks.SequencePool),
           check=sh.rank(2, needs="[steps, features] sequences")),
    _entry(S.Transpose, make(blocks.Transpose)),
])

CONTAINERS = ("Sequential", "Residual")
LAYER_TYPES = (*CONTAINERS, *LAYERS)
