"""Transformer encoder: TransformerEncoderLayer and TransformerEncoder, as torch.nn.

Submodule names match PyTorch (`self_attn`, `linear1`, `dropout`, `linear2`, `norm1`,
`norm2`, `dropout1`, `dropout2`; `layers.{i}` in the encoder), so state dicts load both
ways. Differences from PyTorch: there is no inference fast path and no nested-tensor
path. In evaluation mode with a `src_key_padding_mask`, PyTorch's TransformerEncoder
(batch_first, nested tensors enabled) returns 0 at padded positions; this engine returns
the values computed there (they are not attended to by any other position either way).
"""

from __future__ import annotations

import copy

from .. import dtypes
from ..errors import EngineRuntimeError
from ..ops.creation import full
from . import functional as F
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .norm import LayerNorm

__all__ = ["TransformerEncoderLayer", "TransformerEncoder", "generate_square_subsequent_mask"]


def generate_square_subsequent_mask(sz: int, device=None, dtype=None):
    """The (sz, sz) causal float mask: -inf above the diagonal, 0 elsewhere
    (PyTorch's `nn.Transformer.generate_square_subsequent_mask`).

    >>> from engine import nn
    >>> nn.generate_square_subsequent_mask(3).tolist()
    [[0.0, -inf, -inf], [0.0, 0.0, -inf], [0.0, 0.0, 0.0]]
    """
    return full((sz, sz), float("-inf"), dtype=dtype or dtypes.float32, device=device).triu(1)


def _get_activation_fn(activation: str):
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise EngineRuntimeError(f"activation should be relu/gelu, not {activation}")


def _canonical(mask, dtype):
    return F.attention._canonical_mask(mask, "mask", dtype)


def _mask_kinds_warning(a, b, name_a: str, name_b: str) -> None:
    if a is not None and b is not None and (a.dtype.name == "bool") != (b.dtype.name == "bool"):
        import warnings

        warnings.warn(f"Support for mismatched {name_a} and {name_b} is deprecated. Use same "
                      "type for both instead.", stacklevel=3)


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and
    LayerNorm (post-norm by default, pre-norm with norm_first=True).

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False).

    >>> import engine
    >>> from engine import nn
    >>> layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
    ...                                    batch_first=True)
    >>> layer(engine.randn(3, 5, 8)).shape
    engine.Size([3, 5, 8])
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation="relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True,
                 device=None, dtype=None) -> None:
        super().__init__()
        kw = {"device": device, "dtype": dtype}
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        if isinstance(activation, str):
            activation = _get_activation_fn(activation)
        if activation is F.relu or isinstance(activation, ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is F.gelu or isinstance(activation, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        self.activation = activation

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        _mask_kinds_warning(src_key_padding_mask, src_mask, "src_key_padding_mask", "src_mask")
        src_key_padding_mask = _canonical(src_key_padding_mask, src.dtype)
        src_mask = _canonical(src_mask, src.dtype)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal: bool = False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=False, is_causal=is_causal)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        lead = tuple(x.shape[:-1])  # the linears see 2-d (rows, features): one GEMM each
        x = x.reshape(-1, x.shape[-1])
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x.reshape(*lead, x.shape[-1]))


def _seq_len(src, batch_first: bool) -> int:
    if src.dim() == 2:
        return src.shape[0]
    return src.shape[1 if batch_first else 0]


def _detect_is_causal_mask(mask, is_causal, size) -> bool:
    """is_causal when given; otherwise whether mask equals the causal float mask."""
    if is_causal is not None or mask is None:
        return is_causal is True
    causal = generate_square_subsequent_mask(size, device=mask.device, dtype=mask.dtype)
    if tuple(mask.shape) != tuple(causal.shape):
        return False
    return bool((mask == causal).all())


class TransformerEncoder(Module):
    """A stack of `num_layers` deep copies of `encoder_layer`, then an optional `norm`.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None).
    `enable_nested_tensor` and `mask_check` are accepted for compatibility and ignored.

    >>> import engine
    >>> from engine import nn
    >>> layer = nn.TransformerEncoderLayer(8, 2, 16)
    >>> enc = nn.TransformerEncoder(layer, num_layers=2)
    >>> [n for n, _ in enc.named_parameters()][:2]
    ['layers.0.self_attn.in_proj_weight', 'layers.0.self_attn.in_proj_bias']
    >>> enc(engine.randn(5, 3, 8)).shape
    engine.Size([5, 3, 8])
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm=None,
                 enable_nested_tensor: bool = True, mask_check: bool = True) -> None:
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = False
        self.mask_check = mask_check

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        _mask_kinds_warning(src_key_padding_mask, mask, "src_key_padding_mask", "mask")
        src_key_padding_mask = _canonical(src_key_padding_mask, src.dtype)
        mask = _canonical(mask, src.dtype)
        batch_first = self.layers[0].self_attn.batch_first if len(self.layers) else False
        is_causal = _detect_is_causal_mask(mask, is_causal, _seq_len(src, batch_first))
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=src_key_padding_mask)
        if self.norm is not None:
            output = self.norm(output)
        return output
