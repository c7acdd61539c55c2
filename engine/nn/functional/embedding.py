"""Embedding lookup: F.embedding.

`EmbeddingLookup` gathers rows of the weight; its backward scatters the gradient into a
zero matrix with add-at (repeated indices accumulate), zeroes the padding row and, with
scale_grad_by_freq, divides by each index's count in the batch. That backward is itself
an op (`EmbeddingScatter`) whose backward is the masked lookup, so double backward works.
"""

from __future__ import annotations

import numpy as np

from ...autograd.grad_mode import no_grad
from ...autograd.node import Op, device_mismatch
from ...backend import xp_of
from ...errors import EngineIndexError, EngineRuntimeError
from ...ops.indexing import add_at, device_ctx
from ...tensor import Tensor

__all__ = ["embedding"]

_TYPE_NAMES = {"float32": "Float", "float64": "Double", "float16": "Half", "int16": "Short",
               "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _inverse_counts(xp, idx, num: int, dtype):
    """1 / (how often each position's index occurs), per position of the flat idx."""
    counts = xp.bincount(idx, minlength=num)
    return (1.0 / counts[idx].astype(dtype))[:, None]


class EmbeddingLookup(Op):
    """weight[idx]; with `adjoint`, also zeroes padding positions and applies the
    frequency scaling (the transpose of EmbeddingScatter).

    >>> import engine, numpy as np
    >>> w = engine.tensor([[1.0], [2.0]])
    >>> EmbeddingLookup.apply(w, idx=np.array([1, 0, 1]), pad=0, freq=False)
    tensor([[2.],
            [1.],
            [2.]])
    """

    def forward(self, w, idx, pad, freq, adjoint=False):
        self.idx, self.pad, self.freq = idx, pad, freq
        out = w[idx]
        if adjoint:
            xp = xp_of(w)
            flat = out.reshape(-1, w.shape[1])
            if freq:
                flat *= _inverse_counts(xp, idx.reshape(-1), w.shape[0], w.dtype)
            if pad >= 0:
                flat[idx.reshape(-1) == pad] = 0
        return out

    def backward(self, g):
        return EmbeddingScatter.apply(g, idx=self.idx, pad=self.pad, freq=self.freq,
                                      num=self._in_shapes[0][0])


class EmbeddingScatter(Op):
    """The embedding gradient: g's rows added into a (num, dim) zero matrix at idx.

    >>> import engine, numpy as np
    >>> g = engine.ones(3, 1)
    >>> EmbeddingScatter.apply(g, idx=np.array([1, 1, 2]), pad=2, freq=False, num=3)
    tensor([[0.],
            [2.],
            [0.]])
    """

    def forward(self, g, idx, pad, freq, num):
        self.idx, self.pad, self.freq = idx, pad, freq
        xp = xp_of(g)
        flat_idx = idx.reshape(-1)
        rows = g.reshape(-1, g.shape[-1])
        if freq:
            rows = rows * _inverse_counts(xp, flat_idx, num, g.dtype)
        out = xp.zeros((num, g.shape[-1]), dtype=g.dtype)
        add_at(xp, out, flat_idx, rows)
        if pad >= 0:
            out[pad] = 0
        return out

    def backward(self, gg):
        return EmbeddingLookup.apply(gg, idx=self.idx, pad=self.pad, freq=self.freq,
                                     adjoint=True)


def _index_type_error(t: Tensor) -> EngineRuntimeError:
    name = _TYPE_NAMES.get(t.dtype.name, t.dtype.name)
    return EngineRuntimeError(
        "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
        f"Long, Int; but got engine.{name}Tensor instead (while checking arguments for "
        "embedding)"
    )


def _renorm_(weight: Tensor, idx, max_norm: float, norm_type: float) -> None:
    """Rescale (in place, untracked) the referenced rows whose norm exceeds max_norm."""
    xp = weight._device.backend.xp
    with no_grad(), device_ctx(weight._device):
        rows = xp.unique(idx.reshape(-1))
        w = weight._data[rows]
        if norm_type == float("inf"):
            norms = xp.abs(w).max(axis=1)
        else:
            norms = (xp.abs(w) ** norm_type).sum(axis=1) ** (1.0 / norm_type)
        scale = xp.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight._data[rows] = (w * scale[:, None]).astype(w.dtype, copy=False)
        weight._vc.value += 1


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of `weight` (num_embeddings, dim) at the integer indices `input`: the output
    has shape input.shape + (dim,). The padding row gets no gradient; repeated indices
    accumulate theirs. max_norm renormalizes the referenced rows in place first. The
    gradient is always dense (sparse=True is accepted and gives a dense gradient).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> w = engine.tensor([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    >>> F.embedding(engine.tensor([[1, 2], [1, 0]]), w, padding_idx=0).sum().backward()
    >>> w.grad
    tensor([[0., 0.],
            [2., 2.],
            [1., 1.]])
    """
    if not isinstance(input, Tensor) or input.dtype.name not in ("int64", "int32"):
        raise _index_type_error(input) if isinstance(input, Tensor) else EngineRuntimeError(
            "embedding(): argument 'indices' must be a Tensor")
    if weight.dim() != 2:
        raise EngineRuntimeError("'weight' must be 2-D")
    if input._device is not weight._device:
        raise device_mismatch(weight._device, input._device)
    num = weight.shape[0]
    if padding_idx is not None:
        if padding_idx >= num or padding_idx < -num:
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            padding_idx += num
    else:
        padding_idx = -1
    idx = input._data
    if idx.size:
        with device_ctx(input._device):
            lo, hi = int(idx.min()), int(idx.max())
        if lo < 0 or hi >= num:
            raise EngineIndexError("index out of range in self")
    if idx.dtype != np.int64:
        idx = idx.astype(np.int64)
    if max_norm is not None and idx.size:
        _renorm_(weight, idx, float(max_norm), float(norm_type))
    return EmbeddingLookup.apply(weight, idx=idx, pad=padding_idx, freq=bool(scale_grad_by_freq))
