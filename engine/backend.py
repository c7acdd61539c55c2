"""Devices and array backends: the only module that knows NumPy from CuPy.

A backend is a small object per device type holding the array module (`xp`) and how
arrays move between host and device. CuPy is imported lazily, the first time a CUDA
tensor is made, so the package imports and runs on machines without CuPy or a GPU.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

import numpy as np

from .errors import DeviceError, EngineValueError


class Backend:
    """Array module and host/device transfers for one device type."""

    name = "cpu"

    @property
    def xp(self):
        return np

    def from_host(self, arr: np.ndarray, index: int):
        return arr

    def to_host(self, arr) -> np.ndarray:
        return arr

    def context(self, index: int):
        return contextlib.nullcontext()

    def device_count(self) -> int:
        return 1

    def is_array(self, obj) -> bool:
        return isinstance(obj, np.ndarray)


class CudaBackend(Backend):
    """CuPy on NVIDIA GPUs; `import cupy` happens on first use."""

    name = "cuda"
    _cupy = None
    _lock = threading.Lock()

    @property
    def xp(self):
        if self._cupy is None:
            with self._lock:
                if self._cupy is None:
                    try:
                        import cupy
                    except ImportError as e:
                        raise DeviceError(
                            "CUDA is not available: CuPy is not installed "
                            "(pip install 'trainforge[cuda12]' or 'trainforge[cuda13]')"
                        ) from e
                    type(self)._cupy = cupy
        return self._cupy

    def from_host(self, arr, index: int):
        xp = self.xp
        self._check_index(index)
        with xp.cuda.Device(index):
            return xp.asarray(arr)

    def to_host(self, arr) -> np.ndarray:
        return arr.get()

    def context(self, index: int):
        return self.xp.cuda.Device(index)

    def device_count(self) -> int:
        try:
            return int(self.xp.cuda.runtime.getDeviceCount())
        except Exception:  # no driver, no device, or no CuPy: all mean "no CUDA"
            return 0

    def is_array(self, obj) -> bool:
        return self._cupy is not None and isinstance(obj, self._cupy.ndarray)

    def _check_index(self, index: int) -> None:
        count = self.device_count()
        if index >= count:
            raise DeviceError(
                f"CUDA error: invalid device ordinal (cuda:{index} requested, "
                f"{count} device(s) available)"
            )


_BACKENDS: dict[str, Backend] = {"cpu": Backend(), "cuda": CudaBackend()}


def register_backend(name: str, backend: Backend) -> None:
    """Register an extra device type (used by tests for a NumPy-backed second device)."""
    _BACKENDS[name] = backend


class device:  # noqa: N801 - mirrors torch.device
    """Where a tensor lives: `device("cpu")`, `device("cuda")`, `device("cuda:1")`.

    >>> import engine
    >>> engine.device("cuda:1")
    device(type='cuda', index=1)
    """

    __slots__ = ("type", "index", "backend")
    _cache: dict[tuple[str, int | None], device] = {}

    def __new__(cls, type: Any, index: int | None = None):  # noqa: A002
        if isinstance(type, device):
            return type
        key = (type, index)
        cached = cls._cache.get(key)
        if cached is not None:
            return cached
        if not isinstance(type, str):
            raise EngineValueError(f"Expected a device string or engine.device, got {type!r}")
        kind, sep, idx = type.partition(":")
        if sep:
            if index is not None:
                raise EngineValueError(f"type (string) must not include an index: {type!r}")
            if not idx.isdigit():
                raise EngineValueError(f"Invalid device string: {type!r}")
            index = int(idx)
        if kind not in _BACKENDS:
            raise EngineValueError(
                f"Expected one of {', '.join(sorted(_BACKENDS))} device type at start of "
                f"device string: {type!r}"
            )
        if kind == "cpu" and index not in (None, 0):
            raise EngineValueError(f"Invalid device index for cpu: {index}")
        self = object.__new__(cls)
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", None if kind == "cpu" else index)
        object.__setattr__(self, "backend", _BACKENDS[kind])
        cls._cache[key] = self
        return self

    def __setattr__(self, name, value):
        raise AttributeError("engine.device is immutable")

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __reduce__(self):
        return (device, (str(self),))


CPU = device("cpu")


def resolve(d) -> device:
    """The concrete device a tensor is placed on: `cuda` becomes `cuda:0`."""
    d = device(d) if d is not None else CPU
    if d.type != "cpu" and d.index is None:
        d = device(d.type, 0)
    return d


def transfer(arr, src: device, dst: device):
    """Copy an array from one device to another (no copy when they are the same)."""
    if src is dst:
        return arr
    host = src.backend.to_host(arr)
    return dst.backend.from_host(host, dst.index or 0)


def array_device(arr) -> device:
    """The device of a raw NumPy or CuPy array."""
    if isinstance(arr, np.ndarray | np.generic):
        return CPU
    cuda = _BACKENDS["cuda"]
    if cuda.is_array(arr):
        return device("cuda", int(arr.device.id))
    raise EngineValueError(f"not an array: {type(arr).__name__}")


def xp_of(arr):
    """The array module (NumPy or CuPy) of a raw array, for code inside op forwards."""
    if isinstance(arr, np.ndarray | np.generic):
        return np
    return _BACKENDS["cuda"].xp
