"""Tensor creation: from data, constant fills, ranges and random samples."""

from __future__ import annotations

import numbers

import numpy as np

from .. import dtypes
from ..backend import CPU, array_device, resolve
from ..errors import EngineRuntimeError, EngineTypeError, EngineValueError
from ..random import generator_for
from ..tensor import Tensor

__all__ = [
    "tensor", "as_tensor", "from_numpy", "zeros", "ones", "full", "empty", "arange",
    "linspace", "eye", "rand", "randn", "randint", "randperm", "zeros_like", "ones_like",
    "full_like", "empty_like", "rand_like", "randn_like", "randint_like", "scalar_tensor",
]


def _array_from(data, default_float: dtypes.dtype, device, dtype: dtypes.dtype | None = None):
    """(array on device, device) from Python data, NumPy/CuPy arrays or tensors.

    Python floats become `default_float` (float32), ints int64, bools bool; NumPy
    arrays keep their dtype unless `dtype` is given.
    """
    if isinstance(data, Tensor):
        src = data._device
        arr = data._data
    elif isinstance(data, np.ndarray | np.generic):
        src, arr = CPU, np.asarray(data)
    else:
        try:
            src = array_device(data)
            arr = data
        except EngineValueError:
            src, arr = CPU, _from_python(data, default_float)
    dev = resolve(device) if device is not None else src
    if dtype is not None:
        arr = arr.astype(dtype.np, copy=False)
    else:
        dtypes.from_numpy_dtype(arr.dtype)  # raises for unsupported dtypes
    if dev is not src:
        from ..backend import transfer

        arr = transfer(arr, src, dev)
    return arr, dev


def _from_python(data, default_float: dtypes.dtype) -> np.ndarray:
    if isinstance(data, list | tuple) and any(isinstance(x, Tensor) for x in _flat(data)):
        data = _tensors_to_values(data)
    try:
        arr = np.asarray(data)
    except ValueError as e:
        raise EngineValueError(f"could not build a tensor from the data: {e}") from None
    first = next(_flat(data), None) if isinstance(data, list | tuple) else data
    if arr.dtype == np.float64 and not isinstance(first, np.floating):
        arr = arr.astype(default_float.np)
    elif arr.dtype.kind == "i" and arr.dtype != np.int64:
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "biuf":
        raise EngineTypeError(
            f"Could not infer dtype of {type(data).__name__} (got NumPy dtype {arr.dtype})"
        )
    return arr


def _flat(data):
    for x in data:
        if isinstance(x, list | tuple):
            yield from _flat(x)
        else:
            yield x


def _tensors_to_values(data):
    if isinstance(data, Tensor):
        return data.tolist()
    if isinstance(data, list | tuple):
        return [_tensors_to_values(x) for x in data]
    return data


def tensor(data, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of `data`.

    >>> import engine
    >>> engine.tensor([1.0, 2.0]).dtype, engine.tensor([1, 2]).dtype
    (engine.float32, engine.int64)
    """
    dt = dtypes.to_dtype(dtype) if dtype is not None else None
    arr, dev = _array_from(data, dtypes.float32, device, dt)
    if isinstance(data, Tensor | np.ndarray) or arr is data:
        arr = arr.copy()
    t = Tensor._wrap(arr, dev)
    if requires_grad:
        t.requires_grad_()
    return t


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a NumPy array or tensor when it can.

    >>> import numpy as np, engine
    >>> a = np.zeros(2, dtype=np.float32); t = engine.as_tensor(a); a[0] = 5; t
    tensor([5., 0.])
    """
    dt = dtypes.to_dtype(dtype) if dtype is not None else None
    if isinstance(data, Tensor):
        return data.to(device=device, dtype=dt) if (dt or device) else data
    arr, dev = _array_from(data, dtypes.float32, device, dt)
    return Tensor._wrap(arr, dev)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A CPU tensor sharing memory with a NumPy array (its dtype is kept).

    >>> import numpy as np, engine
    >>> engine.from_numpy(np.arange(3)).dtype
    engine.int64
    """
    if not isinstance(arr, np.ndarray):
        raise EngineTypeError(f"expected np.ndarray (got {type(arr).__name__})")
    dtypes.from_numpy_dtype(arr.dtype)
    return Tensor._wrap(arr, CPU)


def scalar_tensor(value, dtype=None, device=None) -> Tensor:
    return full((), value, dtype=dtype or dtypes.float32, device=device)


def _shape(size) -> tuple:
    if len(size) == 1 and isinstance(size[0], list | tuple):
        size = tuple(size[0])
    shape = []
    for s in size:
        if not isinstance(s, numbers.Integral) and not (isinstance(s, Tensor) and s.numel() == 1):
            raise EngineTypeError(f"size must be a tuple of ints, but got {type(s).__name__}")
        s = int(s)
        if s < 0:
            raise EngineRuntimeError(
                f"Trying to create tensor with negative dimension {s}: {list(map(int, size))}"
            )
        shape.append(s)
    return tuple(shape)


def _make(fill, shape, dtype, device, requires_grad) -> Tensor:
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    dev = resolve(device)
    xp = dev.backend.xp
    with dev.backend.context(dev.index or 0):
        arr = fill(xp, shape, dt.np)
    t = Tensor._wrap(arr, dev)
    if requires_grad:
        t.requires_grad_()
    return t


def zeros(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: `zeros(2, 3)` or `zeros((2, 3))`.

    >>> import engine
    >>> engine.zeros(2)
    tensor([0., 0.])
    """
    return _make(lambda xp, s, d: xp.zeros(s, d), _shape(size), dtype, device, requires_grad)


def ones(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones.

    >>> import engine
    >>> engine.ones(2, dtype=engine.int64)
    tensor([1, 1])
    """
    return _make(lambda xp, s, d: xp.ones(s, d), _shape(size), dtype, device, requires_grad)


def empty(*size, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """An uninitialized tensor (filled with whatever memory held).

    >>> import engine
    >>> engine.empty(2, 3).shape
    engine.Size([2, 3])
    """
    return _make(lambda xp, s, d: xp.empty(s, d), _shape(size), dtype, device, requires_grad)


def full(size, fill_value, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """A tensor filled with `fill_value`; the dtype follows the value when not given.

    >>> import engine
    >>> engine.full((2,), 7)
    tensor([7, 7])
    """
    if dtype is None:
        dtype = _dtype_of_scalar(fill_value)
    shape = _shape((size,) if isinstance(size, numbers.Integral) else tuple(size))
    return _make(lambda xp, s, d: xp.full(s, fill_value, d), shape, dtype, device,
                 requires_grad)


def _dtype_of_scalar(value) -> dtypes.dtype:
    if isinstance(value, bool):
        return dtypes.bool_
    if isinstance(value, numbers.Integral):
        return dtypes.int64
    return dtypes.float32


def arange(start, end=None, step=1, *, dtype=None, device=None,
           requires_grad: bool = False) -> Tensor:
    """Values from start (inclusive) to end (exclusive) by step.

    >>> import engine
    >>> engine.arange(3), engine.arange(0, 1, 0.5)
    (tensor([0, 1, 2]), tensor([0.0000, 0.5000]))
    """
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if end is None:
        start, end = 0, start
    if step == 0:
        raise EngineRuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise EngineRuntimeError("upper bound and larger bound inconsistent with step sign")
    if dtype is None:
        ints = all(isinstance(v, numbers.Integral) for v in (start, end, step))
        dtype = dtypes.int64 if ints else dtypes.float32
    elif not dtypes.to_dtype(dtype).is_floating_point:
        start, step = int(start), int(step) or 1  # PyTorch truncates these for integer dtypes
    return _make(lambda xp, s, d: xp.arange(start, end, step).astype(d), None, dtype, device,
                 requires_grad)


def linspace(start, end, steps: int, *, dtype=None, device=None,
             requires_grad: bool = False) -> Tensor:
    """`steps` evenly spaced values from start to end, both included.

    >>> import engine
    >>> engine.linspace(0, 1, 3)
    tensor([0.0000, 0.5000, 1.0000])
    """
    if int(steps) < 0:
        raise EngineRuntimeError("number of steps must be non-negative")
    return _make(lambda xp, s, d: xp.linspace(start, end, int(steps)).astype(d), None, dtype,
                 device, requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, device=None,
        requires_grad: bool = False) -> Tensor:
    """An identity matrix (n x m).

    >>> import engine
    >>> engine.eye(2)
    tensor([[1., 0.],
            [0., 1.]])
    """
    if n < 0 or (m is not None and m < 0):
        raise EngineRuntimeError(f"n must be greater or equal to 0, got {min(n, m or 0)}")
    return _make(lambda xp, s, d: xp.eye(n, m, dtype=d), None, dtype, device, requires_grad)


def _random(sample, size, dtype, device, requires_grad, generator) -> Tensor:
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.float32
    if not dt.is_floating_point:
        raise EngineTypeError(f"expected a floating point dtype for random samples, got {dt}")
    dev = resolve(device)
    gen = generator_for(dev, generator)
    with dev.backend.context(dev.index or 0):
        arr = sample(gen, _shape(size), dt.np)
    t = Tensor._wrap(arr, dev)
    if requires_grad:
        t.requires_grad_()
    return t


def rand(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1).

    >>> import engine
    >>> bool(((engine.rand(100) >= 0) & (engine.rand(100) < 1)).all())
    True
    """
    return _random(lambda g, s, d: g.uniform(s, d), size, dtype, device, requires_grad,
                   generator)


def randn(*size, generator=None, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples.

    >>> import engine
    >>> engine.randn(2, 3).shape
    engine.Size([2, 3])
    """
    return _random(lambda g, s, d: g.normal(s, d), size, dtype, device, requires_grad,
                   generator)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Integers uniform in [low, high): `randint(10, (3,))` or `randint(2, 10, (3,))`.

    >>> import engine
    >>> engine.randint(0, 5, (4,)).dtype
    engine.int64
    """
    if size is None:
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if size is None:
        raise EngineTypeError("randint() missing required argument 'size'")
    if high <= low:
        raise EngineRuntimeError(f"random_ expects 'from' to be less than 'to', but got "
                               f"from={low} >= to={high}")
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64
    dev = resolve(device)
    gen = generator_for(dev, generator)
    with dev.backend.context(dev.index or 0):
        arr = gen.integers(int(low), int(high), _shape(tuple(size)), np.int64).astype(dt.np)
    return Tensor._wrap(arr, dev)


def randperm(n: int, *, generator=None, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1.

    >>> import engine
    >>> sorted(engine.randperm(4).tolist())
    [0, 1, 2, 3]
    """
    if int(n) < 0:
        raise EngineRuntimeError(f"n must be non-negative, got{int(n)}")
    dt = dtypes.to_dtype(dtype) if dtype is not None else dtypes.int64
    dev = resolve(device)
    gen = generator_for(dev, generator)
    with dev.backend.context(dev.index or 0):
        arr = gen.permutation(int(n)).astype(dt.np)
    return Tensor._wrap(arr, dev)


def _like(t: Tensor, dtype, device):
    return (dtype if dtype is not None else t.dtype), (device if device is not None else t.device)


def zeros_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Zeros with t's shape, dtype and device."""
    dt, dev = _like(t, dtype, device)
    return zeros(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def ones_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Ones with t's shape, dtype and device."""
    dt, dev = _like(t, dtype, device)
    return ones(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def empty_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return empty(t.shape, dtype=dt, device=dev, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, *, dtype=None, device=None,
              requires_grad: bool = False) -> Tensor:
    """`fill_value` with t's shape, dtype and device."""
    dt, dev = _like(t, dtype, device)
    return full(t.shape, fill_value, dtype=dt, device=dev, requires_grad=requires_grad)


def rand_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False,
              generator=None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return rand(t.shape, dtype=dt, device=dev, requires_grad=requires_grad, generator=generator)


def randn_like(t: Tensor, *, dtype=None, device=None, requires_grad: bool = False,
               generator=None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    return randn(t.shape, dtype=dt, device=dev, requires_grad=requires_grad, generator=generator)


def randint_like(t: Tensor, low, high=None, *, dtype=None, device=None) -> Tensor:
    dt, dev = _like(t, dtype, device)
    if high is None:
        low, high = 0, low
    return randint(low, high, t.shape, dtype=dt, device=dev)


def _new(factory):
    def method(self, *size, dtype=None, device=None, requires_grad=False, **kw):
        return factory(*size, **kw, dtype=dtype if dtype is not None else self.dtype,
                       device=device if device is not None else self.device,
                       requires_grad=requires_grad)

    return method


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    return full(size, fill_value, dtype=dtype if dtype is not None else self.dtype,
                device=device if device is not None else self.device,
                requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    return tensor(data, dtype=dtype if dtype is not None else self.dtype,
                  device=device if device is not None else self.device,
                  requires_grad=requires_grad)


METHODS = {
    "new_zeros": _new(zeros), "new_ones": _new(ones), "new_empty": _new(empty),
    "new_full": _new_full, "new_tensor": _new_tensor,
}
