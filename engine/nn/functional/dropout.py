"""Dropout: F.dropout and the channel-wise F.dropout1d / dropout2d / dropout3d.

The keep-mask is drawn from the input device's default generator, so
`engine.manual_seed` makes it reproducible. Kept entries are scaled by 1 / (1 - p), so
the expected value is unchanged; in evaluation mode (training=False) dropout is the
identity and returns its input.
"""

from __future__ import annotations

import warnings

from ...autograd.node import Op
from ...errors import EngineRuntimeError, EngineValueError
from ...ops.indexing import device_ctx
from ...random import generator_for
from ...tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d"]


class MaskedScale(Op):
    """x * mask, with a constant raw-array mask that broadcasts against x.

    >>> import engine, numpy as np
    >>> MaskedScale.apply(engine.tensor([1.0, 2.0]), mask=np.float32([0.0, 2.0]))
    tensor([0., 4.])
    """

    def forward(self, x, mask):
        self.mask = mask
        return x * mask

    def backward(self, g):
        return g * Tensor._wrap(self.mask, g._device)


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise EngineValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _mask(x: Tensor, p: float, shape: tuple):
    """Raw array of `shape`: 1 / (1 - p) where kept (probability 1 - p), else 0."""
    dev = x._device
    dtype = x._data.dtype if x._data.dtype.kind == "f" else "float32"
    with device_ctx(dev):
        xp = dev.backend.xp
        if p == 1.0:
            return xp.zeros(shape, dtype=dtype)
        u = generator_for(dev, None).uniform(shape, dtype)
        keep = u < (1.0 - p)
        return keep.astype(dtype) * (1.0 / (1.0 - p))


def _apply_mask(x: Tensor, mask, inplace: bool) -> Tensor:
    if inplace:
        return x.mul_(Tensor._wrap(mask, x._device))
    return MaskedScale.apply(x, mask=mask)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (training);
    the identity when training is False.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> _ = engine.manual_seed(0)
    >>> x = engine.ones(100)
    >>> F.dropout(x, 0.5, training=False) is x
    True
    >>> sorted(set(F.dropout(x, 0.5).tolist()) - {0.0})
    [2.0]
    """
    _check_p(p)
    if not training or p == 0.0 or input.numel() == 0:
        return input
    return _apply_mask(input, _mask(input, p, tuple(input.shape)), inplace)


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Dropout of whole channels: the mask has shape (N, C, 1, ...)."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    shape = tuple(input.shape[:2]) + (1,) * (input.dim() - 2)
    return _apply_mask(input, _mask(input, p, shape), inplace)


def _unbatched(input: Tensor, p: float, training: bool, inplace: bool) -> Tensor:
    """Channel dropout of an input without the batch dim (channels on dim 0)."""
    if not training or p == 0.0 or input.numel() == 0:
        return input
    shape = (input.shape[0],) + (1,) * (input.dim() - 1)
    return _apply_mask(input, _mask(input, p, shape), inplace)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, L) or (C, L) inputs with probability p.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> y = F.dropout1d(engine.ones(1, 8, 3))
    >>> bool(((y == 0).all(-1) | (y == 2).all(-1)).all())
    True
    """
    _check_p(p)
    if input.dim() not in (2, 3):
        raise EngineRuntimeError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. "
            "Note that dropout1d exists to provide channel-wise dropout on inputs with 1 "
            "spatial dimension, a channel dimension, and an optional batch dimension "
            "(i.e. 2D or 3D inputs)."
        )
    if input.dim() == 2:
        return _unbatched(input, p, training, inplace)
    return _feature_dropout(input, p, training, inplace)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, H, W) inputs with probability p (a 3-d input is
    taken as (N, C, L), as PyTorch does, with its warning).

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.dropout2d(engine.ones(2, 3, 4, 4), training=False).shape
    engine.Size([2, 3, 4, 4])
    """
    _check_p(p)
    d = input.dim()
    if d not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {d}-D input to dropout2d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout2d "
            "exists to provide channel-wise dropout on inputs with 2 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).",
            stacklevel=2,
        )
    if d == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise "
            "1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2,
        )
    return _feature_dropout(input, p, training, inplace)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of (N, C, D, H, W) or (C, D, H, W) inputs with probability p.

    >>> import engine
    >>> import engine.nn.functional as F
    >>> F.dropout3d(engine.ones(2, 3, 2, 2, 2), p=0.0).shape
    engine.Size([2, 3, 2, 2, 2])
    """
    _check_p(p)
    d = input.dim()
    if d not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {d}-D input to dropout3d, which is deprecated "
            "and will result in an error in a future release. To retain the behavior "
            "and silence this warning, please use dropout instead. Note that dropout3d "
            "exists to provide channel-wise dropout on inputs with 3 spatial dimensions, "
            "a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).",
            stacklevel=2,
        )
    if d != 5:
        return _unbatched(input, p, training, inplace)
    return _feature_dropout(input, p, training, inplace)
