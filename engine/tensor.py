"""The Tensor: an n-d array on a device, with autograd metadata.

Math lives in `engine.ops`; `engine.ops` attaches the operator and method forms
(`a + b`, `a.sum()`, ...) to this class, so this module holds only what a tensor *is*:
its array, device, dtype, version counter and place in the graph.
"""

from __future__ import annotations

import weakref
from typing import Any

import numpy as np

from . import dtypes
from .autograd import node as _node_module
from .autograd.node import VersionCounter
from .backend import CPU, device, resolve
from .errors import EngineRuntimeError, EngineTypeError
from .size import Size


class Tensor:
    """An n-d array with autograd, on the CPU (NumPy) or a GPU (CuPy).

    >>> import engine
    >>> x = engine.tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> (x * x).sum().backward()
    >>> x.grad
    tensor([2., 4., 6.])
    """

    __slots__ = (
        "_data", "_device", "_rg", "grad", "grad_fn", "_output_nr", "_vc",
        "_retains_grad", "_hooks", "__weakref__",
    )
    # numpy must defer to Tensor's reflected operators (np.float32(2) * t -> Tensor)
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data: Any = (), *, dtype=None, device=None, requires_grad: bool = False):
        from .ops.creation import _array_from

        arr, dev = _array_from(data, dtypes.to_dtype(dtype) if dtype else dtypes.float32, device)
        self._data, self._device = arr, dev
        self._rg = False
        self.grad = self.grad_fn = self._hooks = None
        self._output_nr, self._vc, self._retains_grad = 0, VersionCounter(), False
        if requires_grad:
            self.requires_grad_()

    @staticmethod
    def _wrap(arr, dev: device = CPU, requires_grad: bool = False, grad_fn=None, nr: int = 0):
        """Wrap a raw array already on `dev` (no copy, no checks)."""
        t = object.__new__(Tensor)
        t._data = arr
        t._device = dev
        t._rg = requires_grad
        t.grad = None
        t.grad_fn = grad_fn
        t._output_nr = nr
        t._vc = VersionCounter()
        t._retains_grad = False
        t._hooks = None
        return t

    # -- metadata ------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim: int | None = None):
        """Shape, or one dimension's size: `x.size()`, `x.size(-1)`."""
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[self._dim(dim)]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    @property
    def dtype(self) -> dtypes.dtype:
        return dtypes._BY_NP[self._data.dtype]

    @property
    def device(self) -> device:
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    def get_device(self) -> int:
        return -1 if self._device.type == "cpu" else self._device.index

    def _dim(self, dim: int) -> int:
        """Normalize a possibly negative dim, with PyTorch's error."""
        n = max(self._data.ndim, 1)
        if not -n <= dim < n:
            from .errors import EngineIndexError

            raise EngineIndexError(
                f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                f"but got {dim})"
            )
        return dim % n

    # -- autograd metadata --------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set requires_grad in place (leaves only); returns self."""
        if self.grad_fn is not None:
            if requires_grad:
                return self
            raise EngineRuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to "
                "use a computed variable in a subgraph that doesn't require differentiation "
                "use var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype.kind != "f":
            raise EngineRuntimeError(
                "only Tensors of floating point dtype can require gradients"
            )
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def _version(self) -> int:
        return self._vc.value

    def retain_grad(self) -> None:
        """Keep `.grad` on this non-leaf tensor after backward."""
        if not self._rg:
            raise EngineRuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is None or self._retains_grad:
            return
        self._retains_grad = True
        node = self.grad_fn
        if node._retained is None:
            node._retained = {}
        node._retained[self._output_nr] = weakref.ref(self)

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """Call `hook(grad)` when this tensor's gradient is computed; it may return a
        replacement gradient. Returns a handle with `.remove()`."""
        if not self._rg:
            raise EngineRuntimeError(
                "cannot register a hook on a tensor that doesn't require gradient"
            )
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            node = self.grad_fn
            if node._pre_hooks is None:
                node._pre_hooks = {}
            hooks = node._pre_hooks.setdefault(self._output_nr, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into every leaf's `.grad`.

        >>> import engine
        >>> w = engine.tensor([2.0], requires_grad=True)
        >>> (w ** 3).sum().backward(); w.grad
        tensor([12.])
        """
        from .autograd.backward import backward

        backward([self], [gradient], retain_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, outside the graph."""
        t = Tensor._wrap(self._data, self._device)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self._rg = False
        return self

    @property
    def data(self) -> Tensor:
        t = Tensor._wrap(self._data, self._device)
        return t

    @data.setter
    def data(self, value: Tensor) -> None:
        if not isinstance(value, Tensor):
            raise EngineTypeError(f"data must be a Tensor, not {type(value).__name__}")
        self._data, self._device = value._data, value._device

    # -- conversion ----------------------------------------------------------
    def numpy(self, *, force: bool = False) -> np.ndarray:
        """The NumPy array sharing this CPU tensor's memory."""
        if not force:
            if self._rg:
                raise EngineRuntimeError(
                    "Can't call numpy() on Tensor that requires grad. "
                    "Use tensor.detach().numpy() instead."
                )
            if self._device.type != "cpu":
                raise EngineTypeError(
                    f"can't convert {self._device} device type tensor to numpy. "
                    "Use Tensor.cpu() to copy the tensor to host memory first."
                )
            return self._data
        return self._device.backend.to_host(self._data)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype, copy=False)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise EngineRuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        return self._device.backend.to_host(self._data).reshape(()).item()

    def tolist(self):
        return self._device.backend.to_host(self._data).tolist()

    def __len__(self) -> int:
        if self._data.ndim == 0:
            raise EngineTypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise EngineTypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def __bool__(self) -> bool:
        if self._data.size != 1:
            raise EngineRuntimeError(
                "Boolean value of Tensor with more than one value is ambiguous"
                if self._data.size > 1 else "Boolean value of Tensor with no values is ambiguous"
            )
        return bool(self.item())

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise EngineTypeError("only integer tensors of a single element can be converted "
                                  "to an index")
        return int(self.item())

    __hash__ = object.__hash__

    def to(self, *args, **kwargs) -> Tensor:
        """Move and/or cast: `x.to("cuda")`, `x.to(engine.float64)`, `x.to(other)`,
        `x.to("cuda", engine.float16)`. Differentiable; returns self when nothing changes.
        """
        dev, dt, copy = _parse_to(args, kwargs)
        out = self
        if dt is not None and dtypes._BY_NP[self._data.dtype] is not dt:
            from .ops.conversion import Cast

            out = Cast.apply(out, dtype=dt)
        if dev is not None and dev is not out._device:
            from .ops.conversion import ToDevice

            out = ToDevice.apply(out, device=dev)
        if copy and out is self:
            out = self.clone()
        return out

    def cpu(self) -> Tensor:
        return self.to(CPU)

    def cuda(self, device: int | str | None = None) -> Tensor:
        if isinstance(device, int):
            device = f"cuda:{device}"
        return self.to(resolve(device or "cuda"))

    def type(self, dtype=None):
        if dtype is None:
            return f"engine.{self.dtype.name}"
        return self.to(dtypes.to_dtype(dtype))

    def float(self) -> Tensor:
        return self.to(dtypes.float32)

    def double(self) -> Tensor:
        return self.to(dtypes.float64)

    def half(self) -> Tensor:
        return self.to(dtypes.float16)

    def long(self) -> Tensor:
        return self.to(dtypes.int64)

    def int(self) -> Tensor:
        return self.to(dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(dtypes.bool_)

    def __repr__(self) -> str:
        from .printing import tensor_repr

        return tensor_repr(self)

    def __format__(self, spec: str) -> str:
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return repr(self) if not spec else object.__format__(self, spec)

    def __deepcopy__(self, memo) -> Tensor:
        if self.grad_fn is not None:
            raise EngineRuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        if id(self) in memo:
            return memo[id(self)]
        t = Tensor._wrap(self._data.copy(), self._device, self._rg)
        if self.grad is not None:
            t.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = t
        return t

    def __reduce_ex__(self, protocol):
        raise EngineTypeError(
            "engine tensors are not picklable; save weights with engine.save (safetensors)"
        )


class _HookHandle:
    __slots__ = ("_hooks", "_hook")

    def __init__(self, hooks: list, hook) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def _parse_to(args, kwargs):
    dev = dt = None
    for a in (*args, kwargs.get("device"), kwargs.get("dtype"), kwargs.get("other")):
        if a is None:
            continue
        if isinstance(a, Tensor):
            dev, dt = a._device, a.dtype
        elif isinstance(a, dtypes.dtype) or a in (float, int, bool):
            dt = dtypes.to_dtype(a)
        elif isinstance(a, str | device):
            dev = resolve(a)
        elif isinstance(a, bool):
            continue  # non_blocking passed positionally
        else:
            raise EngineTypeError(f"to() received an invalid combination of arguments: {a!r}")
    unknown = set(kwargs) - {"device", "dtype", "other", "non_blocking", "copy", "memory_format"}
    if unknown:
        raise EngineTypeError(f"to() got unexpected keyword arguments {sorted(unknown)}")
    return dev, dt, bool(kwargs.get("copy", False))


def is_tensor(obj) -> bool:
    """True if obj is an engine Tensor (mirrors torch.is_tensor)."""
    return isinstance(obj, Tensor)


_node_module.Tensor = Tensor  # the graph code wraps arrays without importing this module
