"""Attention: F.scaled_dot_product_attention and F.multi_head_attention_forward.

Masks follow PyTorch. In scaled_dot_product_attention a bool mask marks the positions
that TAKE PART in attention (True = attend) and a float mask is added to the scores. In
multi_head_attention_forward (and nn.MultiheadAttention) a bool mask marks positions
NOT allowed to attend (True = masked); float masks are added in both.

Fully masked rows (a query that may attend to nothing): as PyTorch 2.x,
scaled_dot_product_attention gives zero weights there (so a zero output row and zero
gradients), through a "safe" softmax; the need_weights=True path of multi-head
attention uses a plain softmax, so such rows come out as nan, as in PyTorch.
"""

from __future__ import annotations

import math

import numpy as np

from ... import dtypes
from ...autograd.node import Op
from ...backend import xp_of
from ...errors import EngineRuntimeError
from ...ops.creation import ones, zeros
from ...ops.join import cat
from ...tensor import Tensor
from .activation import softmax
from .dropout import dropout
from .linear import linear

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]

_C_NAMES = {"float32": "float", "float64": "double", "float16": "c10::Half",
            "int64": "long int", "int32": "int", "uint8": "unsigned char"}


class SafeSoftmax(Op):
    """softmax along the last dim, with rows that are entirely -inf giving zeros.

    >>> import engine
    >>> SafeSoftmax.apply(engine.tensor([[0.0, 0.0], [float("-inf"), float("-inf")]]))
    tensor([[0.5000, 0.5000],
            [0.0000, 0.0000]])
    """

    def forward(self, x):
        self.save_output()
        xp = xp_of(x)
        m = x.max(axis=-1, keepdims=True)
        m = xp.where(m == -xp.inf, 0, m).astype(x.dtype, copy=False)
        e = xp.exp(x - m)
        s = e.sum(axis=-1, keepdims=True)
        s[s == 0] = 1
        e /= s
        return e

    def backward(self, g):
        y = self.saved_output
        return y * (g - (g * y).sum(-1, keepdim=True))


def _bool(t: Tensor) -> bool:
    return t.dtype.name == "bool"


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(Q K^T * scale + mask) V over the last two dims (batch dims broadcast).

    `attn_mask`: bool (True = take part in attention) or float (added to the scores),
    broadcastable to (..., L, S). `is_causal` applies a lower-triangular mask (not
    together with attn_mask, as PyTorch). `scale` defaults to 1/sqrt(E). `dropout_p`
    drops attention weights (always: pass 0.0 in evaluation). `enable_gqa` lets key and
    value have fewer heads (dim -3) than query, repeating them.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> q = k = v = engine.ones(2, 3, 4)
    >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
    engine.Size([2, 3, 4])
    """
    if attn_mask is not None and not _bool(attn_mask) and attn_mask.dtype != query.dtype:
        raise EngineRuntimeError(
            "Expected attn_mask dtype to be bool or float or to match query dtype, but got "
            f"attn_mask.dtype: {_C_NAMES.get(attn_mask.dtype.name, attn_mask.dtype.name)} and "
            f" query.dtype: {_C_NAMES.get(query.dtype.name, query.dtype.name)} instead.")
    if is_causal and attn_mask is not None:
        raise EngineRuntimeError(
            "_scaled_dot_product_attention: Explicit attn_mask should not be set when "
            "is_causal=True")
    L, S = query.shape[-2], key.shape[-2]
    if enable_gqa and key.dim() >= 3 and key.shape[-3] != query.shape[-3]:
        rep = query.shape[-3] // key.shape[-3]
        key = _repeat_heads(key, rep)
        value = _repeat_heads(value, rep)
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = (query * scale).matmul(key.transpose(-2, -1))
    allowed = None
    if is_causal:
        allowed = ones(L, S, dtype=dtypes.bool_, device=query.device).tril()
    elif attn_mask is not None:
        if _bool(attn_mask):
            allowed = attn_mask
        else:
            scores = scores + attn_mask
    if allowed is not None:
        scores = scores.masked_fill(allowed.logical_not(), float("-inf"))
    attn = SafeSoftmax.apply(scores)
    if dropout_p > 0.0:
        attn = dropout(attn, dropout_p, True)
    return attn.matmul(value)


def _repeat_heads(t: Tensor, rep: int) -> Tensor:
    """(..., Hk, S, E) -> (..., Hk * rep, S, E), each head repeated rep times in a row."""
    shape = tuple(t.shape)
    t = t.unsqueeze(-3).expand(*shape[:-2], rep, *shape[-2:])
    return t.reshape(*shape[:-3], shape[-3] * rep, *shape[-2:])


def _canonical_mask(mask: Tensor | None, name: str, dtype) -> Tensor | None:
    """bool masks (True = masked) -> float masks with -inf there; float masks unchanged."""
    if mask is None:
        return None
    if not _bool(mask) and not mask.is_floating_point():
        raise AssertionError(f"only bool and floating types of {name} are supported")
    if _bool(mask):
        return zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(
            mask, float("-inf"))
    return mask


def _linear(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """linear over the last dim as one 2-d GEMM."""
    lead = tuple(x.shape[:-1])
    return linear(x.reshape(-1, x.shape[-1]), w, b).reshape(*lead, w.shape[0])


def _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads) -> bool:
    if query.dim() == 3:
        if key.dim() != 3 or value.dim() != 3:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key` and `value` to be 3-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 2:
            raise AssertionError(
                "For batched (3-D) `query`, expected `key_padding_mask` to be `None` or 2-D "
                f"but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None and attn_mask.dim() not in (2, 3):
            raise AssertionError(
                "For batched (3-D) `query`, expected `attn_mask` to be `None`, 2-D or 3-D "
                f"but found {attn_mask.dim()}-D tensor instead")
        return True
    if query.dim() == 2:
        if key.dim() != 2 or value.dim() != 2:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key` and `value` to be 2-D but found "
                f"{key.dim()}-D and {value.dim()}-D tensors respectively")
        if key_padding_mask is not None and key_padding_mask.dim() != 1:
            raise AssertionError(
                "For unbatched (2-D) `query`, expected `key_padding_mask` to be `None` or 1-D "
                f"but found {key_padding_mask.dim()}-D tensor instead")
        if attn_mask is not None:
            if attn_mask.dim() not in (2, 3):
                raise AssertionError(
                    "For unbatched (2-D) `query`, expected `attn_mask` to be `None`, 2-D or "
                    f"3-D but found {attn_mask.dim()}-D tensor instead")
            expected = (num_heads, query.shape[0], key.shape[0])
            if attn_mask.dim() == 3 and tuple(attn_mask.shape) != expected:
                raise AssertionError(f"Expected `attn_mask` shape to be {expected} but got "
                                     f"{attn_mask.shape}")
        return False
    raise AssertionError("query should be unbatched 2D or batched 3D tensor but received "
                         f"{query.dim()}-D query tensor")


def multi_head_attention_forward(
        query, key, value, embed_dim_to_check: int, num_heads: int, in_proj_weight,
        in_proj_bias, bias_k, bias_v, add_zero_attn: bool, dropout_p: float,
        out_proj_weight, out_proj_bias, training: bool = True, key_padding_mask=None,
        need_weights: bool = True, attn_mask=None, use_separate_proj_weight: bool = False,
        q_proj_weight=None, k_proj_weight=None, v_proj_weight=None, static_k=None,
        static_v=None, average_attn_weights: bool = True, is_causal: bool = False,
        batch_first: bool = False):
    """Multi-head attention as torch.nn.functional.multi_head_attention_forward, on
    (L, N, E) inputs ((L, E) unbatched; `batch_first=True`, an engine extension, takes
    (N, L, E) without transposing). Returns (output, weights or None).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> x, w, b = engine.randn(5, 2, 4), engine.randn(12, 4), engine.zeros(12)
    >>> out, attn = F.multi_head_attention_forward(x, x, x, 4, 2, w, b, None, None, False,
    ...                                            0.0, engine.randn(4, 4), None)
    >>> out.shape, attn.shape
    (engine.Size([5, 2, 4]), engine.Size([2, 5, 5]))
    """
    if static_k is not None or static_v is not None:
        raise EngineRuntimeError("static_k / static_v are not supported by this engine")
    batched = _check_shapes(query, key, value, key_padding_mask, attn_mask, num_heads)
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        batch_first = False
    if batch_first:  # work batch-first: (N, L, E)
        bsz, tgt_len, embed_dim = query.shape
        src_len = key.shape[1]
    else:
        tgt_len, bsz, embed_dim = query.shape
        src_len = key.shape[0]
    if key_padding_mask is not None and attn_mask is not None and (
            _bool(key_padding_mask) != _bool(attn_mask)):
        import warnings

        warnings.warn("Support for mismatched key_padding_mask and attn_mask is deprecated. "
                      "Use same type for both instead.", stacklevel=2)
    key_padding_mask = _canonical_mask(key_padding_mask, "key_padding_mask", query.dtype)
    if is_causal and attn_mask is None:
        raise EngineRuntimeError(
            "Need attn_mask if specifying the is_causal hint. You may use the Transformer "
            "module method `generate_square_subsequent_mask` to create this mask.")
    if is_causal and key_padding_mask is None and not need_weights:
        attn_mask = None  # as PyTorch: the hint alone selects the causal mask
    else:
        attn_mask = _canonical_mask(attn_mask, "attn_mask", query.dtype)
        if key_padding_mask is not None:
            is_causal = False
    if embed_dim != embed_dim_to_check:
        raise AssertionError(f"was expecting embedding dimension of {embed_dim_to_check}, "
                             f"but got {embed_dim}")
    head_dim = embed_dim // num_heads
    if head_dim * num_heads != embed_dim:
        raise AssertionError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
    if use_separate_proj_weight:
        if tuple(key.shape[:2]) != tuple(value.shape[:2]):
            raise AssertionError(f"key's sequence and batch dims {key.shape[:2]} do not match "
                                 f"value's {value.shape[:2]}")
    elif key.shape != value.shape:
        raise AssertionError(f"key shape {key.shape} does not match value shape {value.shape}")

    # in-projection
    b_q = b_k = b_v = None
    if in_proj_bias is not None:
        b_q, b_k, b_v = in_proj_bias.chunk(3)
    if not use_separate_proj_weight:
        if query is key and key is value:
            q, k, v = _linear(query, in_proj_weight, in_proj_bias).chunk(3, -1)
        else:
            w_q, w_k, w_v = in_proj_weight.chunk(3)
            q, k, v = (_linear(query, w_q, b_q), _linear(key, w_k, b_k),
                       _linear(value, w_v, b_v))
    else:
        q, k, v = (_linear(query, q_proj_weight, b_q), _linear(key, k_proj_weight, b_k),
                   _linear(value, v_proj_weight, b_v))
    if not batch_first:
        q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)

    # attention mask as (1 or N, 1 or heads, L, S)
    if attn_mask is not None:
        if attn_mask.dim() == 2:
            if tuple(attn_mask.shape) != (tgt_len, src_len):
                raise EngineRuntimeError(f"The shape of the 2D attn_mask is {attn_mask.shape}, "
                                         f"but should be {(tgt_len, src_len)}.")
            attn_mask = attn_mask.reshape(1, 1, tgt_len, src_len)
        else:
            if tuple(attn_mask.shape) != (bsz * num_heads, tgt_len, src_len):
                raise EngineRuntimeError(
                    f"The shape of the 3D attn_mask is {attn_mask.shape}, but should be "
                    f"{(bsz * num_heads, tgt_len, src_len)}.")
            attn_mask = attn_mask.reshape(bsz, num_heads, tgt_len, src_len)
    if bias_k is not None and bias_v is not None:
        k = cat([k, bias_k.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
        v = cat([v, bias_v.reshape(1, 1, embed_dim).expand(bsz, 1, embed_dim)], 1)
        attn_mask, key_padding_mask = _pad_masks(attn_mask, key_padding_mask)
    elif bias_k is not None or bias_v is not None:
        raise AssertionError("bias_k is set but bias_v is None" if bias_k is not None
                             else "bias_v is set but bias_k is None")
    # heads: (N, heads, L, head_dim)
    q = q.reshape(bsz, tgt_len, num_heads, head_dim).transpose(1, 2)
    k = k.reshape(bsz, k.shape[1], num_heads, head_dim).transpose(1, 2)
    v = v.reshape(bsz, v.shape[1], num_heads, head_dim).transpose(1, 2)
    if add_zero_attn:
        z = zeros(bsz, num_heads, 1, head_dim, dtype=k.dtype, device=k.device)
        k, v = cat([k, z], 2), cat([v, z], 2)
        attn_mask, key_padding_mask = _pad_masks(attn_mask, key_padding_mask)
    src_len = k.shape[2]
    if key_padding_mask is not None:
        if key_padding_mask.shape[0] != bsz:
            raise AssertionError(f"Expected key_padded_mask.shape[0] to be {bsz}, but got "
                                 f"{key_padding_mask.shape[0]}")
        if key_padding_mask.shape[1] != src_len:
            raise AssertionError(f"Expected key_padded_mask.shape[1] to be {src_len}, but "
                                 f"got {key_padding_mask.shape[1]}")
        kpm = key_padding_mask.reshape(bsz, 1, 1, src_len)
        attn_mask = kpm if attn_mask is None else attn_mask + kpm
    if not training:
        dropout_p = 0.0

    if need_weights:
        scores = (q * (1.0 / math.sqrt(head_dim))).matmul(k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        with np.errstate(invalid="ignore"):  # fully masked rows: nan, as PyTorch
            weights = softmax(scores, -1)
        if dropout_p > 0.0:
            weights = dropout(weights, dropout_p)
        out = weights.matmul(v)
    else:
        out = scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal)
        weights = None
    # (N, heads, L, d) -> (N, L, E) -> out projection
    out = out.transpose(1, 2).reshape(bsz, tgt_len, embed_dim)
    out = _linear(out, out_proj_weight, out_proj_bias)
    if not batch_first:
        out = out.transpose(0, 1)
    if weights is not None and average_attn_weights:
        weights = weights.mean(1)
    if not batched:
        out = out.squeeze(1)
        weights = None if weights is None else weights.squeeze(0)
    return out, weights


def _pad_masks(attn_mask, key_padding_mask):
    """One more (allowed) key position at the end of both masks."""
    def pad(m):
        if m is None:
            return None
        return cat([m, zeros(*m.shape[:-1], 1, dtype=m.dtype, device=m.device)], -1)

    return pad(attn_mask), pad(key_padding_mask)
