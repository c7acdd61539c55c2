"""Shape and movement ops: reshape/view, expand, squeeze/unsqueeze, flatten, permute and
transposes, narrow. Joining and splitting (cat, stack, split, chunk, unbind) live in
`.join`, copying rearrangements (flip, roll, tril/triu, repeat/tile) in `.rearrange`;
both are re-exported here.

Views (reshape of a contiguous tensor, expand, squeeze, unsqueeze, permute, transpose,
narrow) share memory and the version counter with their input.
"""

from __future__ import annotations

import math
import numbers

from ..autograd.node import Op
from ..backend import xp_of
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from ._util import norm_dim, norm_dims
from .indexing import View

__all__ = ["reshape", "view", "expand", "expand_as", "flatten", "unflatten", "squeeze",
           "unsqueeze", "permute", "transpose", "swapaxes", "swapdims", "t", "movedim",
           "moveaxis", "narrow", "ravel"]

_VIEW_ERROR = (
    "view size is not compatible with input tensor's size and stride (at least one dimension "
    "spans across two contiguous subspaces). Use .reshape(...) instead."
)


def _shape_arg(shape) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


def _infer(shape: tuple, numel: int, src: tuple) -> tuple:
    if shape.count(-1) > 1:
        raise EngineRuntimeError("only one dimension can be inferred")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if known == 0 or numel % known:
            raise EngineRuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise EngineRuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


class Reshape(Op):
    is_view = True

    def forward(self, x, shape, strict=False):
        out = x.reshape(shape)
        if strict and out.size > 1 and not xp_of(x).may_share_memory(out, x):
            raise EngineRuntimeError(_VIEW_ERROR)
        return out

    def backward(self, g):
        return Reshape.apply(g, shape=self._in_shapes[0])


class Expand(Op):
    is_view = True

    def forward(self, x, shape):
        return xp_of(x).broadcast_to(x, shape)

    def backward(self, g):
        from .reduce import sum_to_shape

        return sum_to_shape(g, self._in_shapes[0])


class Permute(Op):
    is_view = True

    def forward(self, x, dims):
        self.dims = dims
        return x.transpose(dims)

    def backward(self, g):
        inv = [0] * len(self.dims)
        for i, d in enumerate(self.dims):
            inv[d] = i
        return Permute.apply(g, dims=tuple(inv))


def reshape(x: Tensor, *shape) -> Tensor:
    """x with a new shape of the same number of elements (-1 infers one dimension).

    >>> import engine
    >>> engine.arange(6).reshape(2, -1)
    tensor([[0, 1, 2],
            [3, 4, 5]])
    """
    shape = _infer(_shape_arg(shape), x._data.size, x._data.shape)
    if shape == x._data.shape:
        return x
    return Reshape.apply(x, shape=shape)


def view(x: Tensor, *shape) -> Tensor:
    """Like reshape, but always shares memory with x (raises when the layout can't).

    >>> import engine
    >>> engine.arange(4).view(2, 2)
    tensor([[0, 1],
            [2, 3]])
    """
    if len(shape) == 1 and not isinstance(shape[0], int | list | tuple):
        return x.to(shape[0])  # view(dtype) is not supported as a reinterpretation
    shape = _infer(_shape_arg(shape), x._data.size, x._data.shape)
    return Reshape.apply(x, shape=shape, strict=True)


def expand(x: Tensor, *shape) -> Tensor:
    """Broadcast x to a larger shape without copying (-1 keeps a dimension).

    >>> import engine
    >>> engine.tensor([[1.0], [2.0]]).expand(2, 3)
    tensor([[1., 1., 1.],
            [2., 2., 2.]])
    """
    shape = _shape_arg(shape)
    lead = len(shape) - x.ndim
    if lead < 0:
        raise EngineRuntimeError(
            f"expand(): the number of sizes provided ({len(shape)}) must be greater or equal "
            f"to the number of dimensions in the tensor ({x.ndim})"
        )
    full = tuple(
        x._data.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape)
    )
    for i, s in enumerate(x._data.shape):
        if s != 1 and s != full[i + lead]:
            raise EngineRuntimeError(
                f"The expanded size of the tensor ({full[i + lead]}) must match the existing "
                f"size ({s}) at non-singleton dimension {i + lead}.  Target sizes: "
                f"{list(shape)}.  Tensor sizes: {list(x._data.shape)}"
            )
    if full == x._data.shape:
        return x
    return Expand.apply(x, shape=full)


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    """x broadcast to other's shape."""
    return expand(x, *other.shape)


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    """Merge dims start_dim..end_dim into one (a view when x is contiguous).

    >>> import engine
    >>> engine.zeros(2, 3, 4).flatten(1).shape
    engine.Size([2, 12])
    """
    if x.ndim == 0:
        return Reshape.apply(x, shape=(1,))
    s, e = norm_dim(start_dim, x.ndim), norm_dim(end_dim, x.ndim)
    if s > e:
        raise EngineRuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return x
    shape = x._data.shape
    return Reshape.apply(x, shape=shape[:s] + (math.prod(shape[s:e + 1]),) + shape[e + 1:])


def ravel(x: Tensor) -> Tensor:
    """x as a 1-d tensor."""
    return reshape(x, -1)


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Split dim into `sizes` (one may be -1).

    >>> import engine
    >>> engine.zeros(2, 6).unflatten(1, (2, 3)).shape
    engine.Size([2, 2, 3])
    """
    d = norm_dim(dim, x.ndim)
    sizes = tuple(int(s) for s in sizes)
    n = x._data.shape[d]
    known = math.prod(s for s in sizes if s != -1)
    if sizes.count(-1) == 1 and known and n % known == 0:
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    if math.prod(sizes) != n or -1 in sizes:
        raise EngineRuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size of dim {d} "
            f"({n}) in the input tensor"
        )
    shape = x._data.shape
    return Reshape.apply(x, shape=shape[:d] + sizes + shape[d + 1:])


def squeeze(x: Tensor, dim=None) -> Tensor:
    """Remove size-1 dims (all, or those among `dim`, an int or tuple).

    >>> import engine
    >>> engine.zeros(1, 3, 1).squeeze().shape, engine.zeros(1, 3, 1).squeeze(0).shape
    (engine.Size([3]), engine.Size([3, 1]))
    """
    shape = x._data.shape
    dims = range(len(shape)) if dim is None else norm_dims(dim, x.ndim) or ()
    drop = {d for d in dims if shape[d] == 1}
    return Reshape.apply(x, shape=tuple(s for i, s in enumerate(shape) if i not in drop))


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    """Insert a size-1 dim at `dim` (in [-ndim-1, ndim]).

    >>> import engine
    >>> engine.zeros(3).unsqueeze(-1).shape
    engine.Size([3, 1])
    """
    d = norm_dim(dim, x.ndim + 1)
    shape = x._data.shape
    return Reshape.apply(x, shape=shape[:d] + (1,) + shape[d:])


def permute(x: Tensor, *dims) -> Tensor:
    """Reorder the dims (a view).

    >>> import engine
    >>> engine.zeros(2, 3, 4).permute(2, 0, 1).shape
    engine.Size([4, 2, 3])
    """
    dims = _shape_arg(dims)
    if len(dims) != x.ndim:
        raise EngineRuntimeError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            "length of the desired ordering of dimensions i.e. input.dim() = "
            f"{x.ndim} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(norm_dim(d, x.ndim) for d in dims)
    if len(set(dims)) != len(dims):
        raise EngineRuntimeError("permute(): duplicate dims are not allowed.")
    return Permute.apply(x, dims=dims)


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    """Swap two dims (a view).

    >>> import engine
    >>> engine.zeros(2, 3).transpose(0, 1).shape
    engine.Size([3, 2])
    """
    a, b = norm_dim(dim0, x.ndim), norm_dim(dim1, x.ndim)
    dims = list(range(x.ndim))
    if dims:
        dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(x, dims=tuple(dims))


swapaxes = swapdims = transpose


def t(x: Tensor) -> Tensor:
    """Transpose of a <= 2-d tensor.

    >>> import engine
    >>> engine.tensor([[1, 2]]).t()
    tensor([[1],
            [2]])
    """
    if x.ndim > 2:
        raise EngineRuntimeError(
            f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D"
        )
    return Permute.apply(x, dims=tuple(reversed(range(x.ndim))))


def _T(x: Tensor) -> Tensor:  # noqa: N802
    return Permute.apply(x, dims=tuple(reversed(range(x.ndim))))


def _mT(x: Tensor) -> Tensor:  # noqa: N802
    if x.ndim < 2:
        raise EngineRuntimeError(
            "tensor.mT is only supported on matrices or batches of matrices. Got "
            f"{x.ndim}-D tensor."
        )
    return transpose(x, -2, -1)


def movedim(x: Tensor, source, destination) -> Tensor:
    """Move dims `source` to positions `destination` (ints or sequences); a view.

    >>> import engine
    >>> engine.zeros(2, 3, 4).movedim(0, -1).shape
    engine.Size([3, 4, 2])
    """
    src = (source,) if isinstance(source, numbers.Integral) else tuple(source)
    dst = (destination,) if isinstance(destination, numbers.Integral) else tuple(destination)
    if len(src) != len(dst):
        raise EngineRuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    for name, given in (("source", src), ("destination", dst)):
        if len({norm_dim(d, x.ndim) for d in given}) != len(given):
            raise EngineRuntimeError(f"movedim: repeated dim in `{name}` ({list(given)})")
    src = [norm_dim(d, x.ndim) for d in src]
    dst = [norm_dim(d, x.ndim) for d in dst]
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return Permute.apply(x, dims=tuple(order))


moveaxis = movedim


def narrow(x: Tensor, dim: int, start, length: int) -> Tensor:
    """x[..., start:start + length, ...] along `dim` (a view).

    >>> import engine
    >>> engine.arange(6).narrow(0, 2, 3)
    tensor([2, 3, 4])
    """
    from ..errors import EngineIndexError

    d = norm_dim(dim, x.ndim)
    n = x._data.shape[d]
    start, length = int(start), int(length)
    if not -n <= start <= n:
        raise EngineIndexError(
            f"start out of range (expected to be in range of [{-n}, {n}], but got {start})"
        )
    if length < 0:
        raise EngineRuntimeError("narrow(): length must be non-negative.")
    start %= n if n else 1
    if start + length > n:
        raise EngineRuntimeError(
            f"start ({start}) + length ({length}) exceeds dimension size ({n})."
        )
    key = (slice(None),) * d + (slice(start, start + length), Ellipsis)
    return View.apply(x, keys=(key, None))


METHODS = {name: globals()[name] for name in __all__ if name not in ("moveaxis",)}
METHODS.update({
    "moveaxis": movedim, "view_as": lambda self, other: view(self, *other.shape),
    "reshape_as": lambda self, other: reshape(self, *other.shape),
    "T": property(_T), "mT": property(_mT),
})

# joining/splitting and copying rearrangements, re-exported here (they import the above)
from . import join as _join  # noqa: E402
from . import rearrange as _rearrange  # noqa: E402

for _module in (_join, _rearrange):
    globals().update({name: getattr(_module, name) for name in _module.__all__})
    __all__ += _module.__all__
    METHODS.update(_module.METHODS)
