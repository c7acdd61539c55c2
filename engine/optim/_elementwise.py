"""The driver shared by the elementwise optimizers (all of `engine.optim`'s).

Each optimizer writes its update once, as `_math(xp, arr, g, st, t, u, sc, h)`: in-place
ufuncs (`out=`) on raw arrays of any shape (the parameter `arr`, its gradient `g`, its
state arrays `st`, two scratch arrays `t`, `u`), with host scalars `sc` (bias
corrections, which depend on the parameter's step) and group hyper-parameters `h`. The
driver runs it three ways, all with the same float32 operations in the same order:

- per parameter, on whichever device the parameter is on (`xp` = NumPy or CuPy), with
  scratch arrays cut from one workspace per (device, dtype) that every parameter shares;
- multi-tensor on the CPU ("foreach"): small parameters whose scalars agree are updated
  together on flat arrays, so a model with many small tensors pays a few copies per
  tensor instead of a dozen ufunc calls. Their state arrays are views into persistent
  flat buffers (rebuilt when the set of parameters or the state objects change, e.g.
  after `load_state_dict`); the results are bitwise those of the per-parameter path;
- a fused CUDA kernel per optimizer (`_fused_cuda`), one launch per parameter.

`foreach=None` (default) batches CPU parameters of at most `FOREACH_MAX_NUMEL` elements,
`foreach=True` batches every CPU parameter, `foreach=False` never batches.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from ..backend import CPU, transfer
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from . import _fused_cuda
from .optimizer import Optimizer

__all__ = ["ElementwiseOptimizer", "FOREACH_MAX_NUMEL"]

FOREACH_MAX_NUMEL = 1 << 15


def check_fused(p: Tensor) -> None:
    """PyTorch's check for `fused=True`: floating-point parameters on a supported device."""
    if p._device.type not in ("cpu", "cuda") or not p.is_floating_point():
        raise EngineRuntimeError(
            "`fused=True` requires all the params to be floating point Tensors of "
            f"supported devices: ['cpu', 'cuda'] but {p.dtype} and {p._device.type}"
        )


def check_flags(fused, foreach, differentiable) -> None:
    """Validate the implementation flags like PyTorch. `fused` means "use the fused CUDA
    kernel where the parameter is on CUDA" (accepted on the CPU, as PyTorch 2.13 has a
    CPU fused Adam); `capturable` is accepted and has no effect."""
    if fused:
        if differentiable:
            raise EngineRuntimeError("`fused` does not support `differentiable`")
        if foreach:
            raise EngineRuntimeError("`fused` and `foreach` cannot be `True` together.")
    if differentiable:
        raise EngineRuntimeError(
            "differentiable=True is not supported: engine optimizers update parameters "
            "in place outside the graph"
        )


def bump_step(state: dict[str, Any]) -> float:
    """step += 1 on the 0-d float32 host tensor; the new value as a Python float."""
    st = state["step"]
    if st._device is not CPU:  # moved by hand: bring it back to the host
        st = state["step"] = Tensor._wrap(transfer(st._data, st._device, CPU), CPU)
    arr = st._data
    arr[()] = float(arr) + 1.0  # = the float32 `step += 1` (exact in double, one rounding)
    st._vc.value += 1
    return float(arr)


def zeros_like_state(p: Tensor, fill: float = 0.0) -> Tensor:
    """A state tensor shaped like p, on its device, filled with `fill`."""
    dev = p._device
    with dev.backend.context(dev.index or 0):
        arr = dev.backend.xp.full(p._data.shape, fill, dtype=p._data.dtype)
    return Tensor._wrap(arr, dev)


class _Pack:
    """Flat buffers for a batch of small CPU parameters: parameter and gradient copies
    (`P`, `G`) and the persistent state (`flats`, one per state key), whose per-parameter
    views are the state tensors' arrays."""

    __slots__ = ("P", "G", "pviews", "gviews", "flats", "sviews")

    def __init__(self, items: list, keys: tuple[str, ...]) -> None:
        dtype = items[0][0]._data.dtype
        sizes = [p._data.size for p, _, _ in items]
        offs = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        n = offs[-1]

        def views(flat):
            return [flat[o:o + s].reshape(p._data.shape)
                    for (p, _, _), o, s in zip(items, offs, sizes)]

        self.P, self.G = np.empty(n, dtype), np.empty(n, dtype)
        self.pviews, self.gviews = views(self.P), views(self.G)
        self.flats, self.sviews = [], []
        for k in keys:
            flat = np.empty(n, dtype)
            vs = views(flat)
            for (_, _, state), v in zip(items, vs):
                np.copyto(v, state[k]._data)
                state[k]._data = v
            self.flats.append(flat)
            self.sviews.append(vs)

    def valid(self, items: list, keys: tuple[str, ...]) -> bool:
        for vs, k in zip(self.sviews, keys):
            for (_, _, state), v in zip(items, vs):
                if state[k]._data is not v:
                    return False
        return True


class ElementwiseOptimizer(Optimizer):
    """An optimizer whose update is elementwise: subclasses define `_hyper(group)`
    (hyper-parameters, once per group and step), `_keys(h)` (state arrays `_math` takes,
    in order), `_init_state(p, state, h)`, `_scalars(h, p, state)` (advance the step and
    return the hashable per-parameter host scalars), `_math(...)` and `_fused(...)`."""

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        self._workspace: dict = {}  # (device, dtype) -> scratch array
        self._packs: dict[tuple, _Pack] = {}  # parameter ids -> flat buffers (foreach)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("_workspace", {})
        self.__dict__.setdefault("_packs", {})

    def _uses_state(self, h) -> bool:
        return True

    def _hyper(self, group: dict) -> SimpleNamespace:
        raise NotImplementedError

    def _keys(self, h) -> tuple[str, ...]:
        raise NotImplementedError

    def _init_state(self, p: Tensor, state: dict, h) -> None:
        raise NotImplementedError

    def _scalars(self, h, p: Tensor, state: dict) -> tuple:
        raise NotImplementedError

    def _math(self, xp, arr, g, st: list, t, u, sc: tuple, h) -> None:
        raise NotImplementedError

    def _fused(self, p: Tensor, g, st: list, sc: tuple, h) -> None:
        raise NotImplementedError

    def _step_group(self, group: dict) -> None:
        h = self._hyper(group)
        keys = self._keys(h)
        with_state = self._uses_state(h)
        foreach, fused = group.get("foreach"), group.get("fused")
        batches: dict[tuple, list] = {}
        all_state = self.state
        for p in group["params"]:
            grad = p.grad
            if grad is None:
                continue
            g = grad._data
            if grad._device is not p._device:
                raise EngineRuntimeError(
                    f"the gradient is on {grad._device} but the parameter is on {p._device}")
            arr = p._data
            if g.dtype != arr.dtype:
                g = g.astype(arr.dtype)
            state = all_state[p] if with_state else None
            if with_state and not state:
                if fused:
                    check_fused(p)
                self._init_state(p, state, h)
            sc = self._scalars(h, p, state)
            if _fused_cuda.usable(p, group):
                self._fused(p, g, [state[k]._data for k in keys], sc, h)
                p._vc.value += 1
            elif p._device is CPU and foreach is not False and (
                    foreach or arr.size <= FOREACH_MAX_NUMEL):
                batches.setdefault((arr.dtype, sc), []).append((p, g, state))
            else:
                self._single(p, g, [state[k]._data for k in keys], sc, h)
        for (_, sc), items in batches.items():
            if len(items) == 1:
                p, g, state = items[0]
                self._single(p, g, [state[k]._data for k in keys], sc, h)
            else:
                self._multi(items, keys, sc, h)

    def _temps(self, arr, dev, n: int = 2) -> list:
        """n scratch arrays shaped like `arr`, views into one workspace per (device,
        dtype): temporaries live only within one update, so one buffer of n x (largest
        parameter) serves every parameter with no allocation after the first step."""
        size = arr.size
        key = (dev, arr.dtype)
        ws = self._workspace.get(key)
        if ws is None or ws.size < n * size:
            ws = self._workspace[key] = dev.backend.xp.empty(n * size, dtype=arr.dtype)
        shape = arr.shape
        return [ws[i * size:(i + 1) * size].reshape(shape) for i in range(n)]

    def _single(self, p: Tensor, g, st: list, sc: tuple, h) -> None:
        arr, dev = p._data, p._device
        with dev.backend.context(dev.index or 0):
            t, u = self._temps(arr, dev)
            self._math(dev.backend.xp, arr, g, st, t, u, sc, h)
        p._vc.value += 1

    def _multi(self, items: list, keys: tuple[str, ...], sc: tuple, h) -> None:
        ids = tuple(id(p) for p, _, _ in items)
        pack = self._packs.get(ids)
        if pack is None or not pack.valid(items, keys):
            members = set(ids)
            for other in [k for k in self._packs if members.intersection(k)]:
                del self._packs[other]
            pack = self._packs[ids] = _Pack(items, keys)
        copyto = np.copyto
        for (p, g, _), pv, gv in zip(items, pack.pviews, pack.gviews):
            copyto(pv, p._data)
            copyto(gv, g)
        t, u = self._temps(pack.P, CPU)
        self._math(np, pack.P, pack.G, pack.flats, t, u, sc, h)
        for (p, _, _), pv in zip(items, pack.pviews):
            copyto(p._data, pv)
            p._vc.value += 1
