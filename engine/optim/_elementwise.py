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

The CPU updates of one group (single parameters and batches) run together at the end of
the group: when they hold at least `PARALLEL_MIN_NUMEL` elements they are cut into
contiguous chunks that the threads of `_threads` take in turn (NumPy releases the GIL
in ufunc loops), each thread with its own scratch arrays; being elementwise, the results
are bitwise those of one thread. One thread (no helpers) is the default.

`foreach=None` (default) batches CPU parameters of at most `FOREACH_MAX_NUMEL` elements,
`foreach=True` batches every CPU parameter, `foreach=False` never batches.
"""

from __future__ import annotations

import itertools
from functools import partial
from types import SimpleNamespace
from typing import Any

import numpy as np

from ..backend import CPU, transfer
from ..errors import EngineRuntimeError
from ..tensor import Tensor
from . import _fused_cuda, _threads
from .optimizer import Optimizer

__all__ = ["ElementwiseOptimizer", "FOREACH_MAX_NUMEL"]

FOREACH_MAX_NUMEL = 1 << 15
# CPU updates of at least this many elements (in all) are split across threads, in
# chunks (of at least PARALLEL_CHUNK elements) that the threads take in turn
PARALLEL_MIN_NUMEL = 1 << 17
PARALLEL_CHUNK = 1 << 16


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
        jobs: list[tuple] = []  # CPU updates (arr, g, st, sc), run together at the end
        updated: list[Tensor] = []  # their parameters (version bump once done)
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
            elif p._device is not CPU:
                self._single(p, g, [state[k]._data for k in keys], sc, h)
            elif foreach is not False and (foreach or arr.size <= FOREACH_MAX_NUMEL):
                batches.setdefault((arr.dtype, sc), []).append((p, g, state))
            else:
                jobs.append((arr, g, [state[k]._data for k in keys], sc))
                updated.append(p)
        packs = []
        for (_, sc), items in batches.items():
            if len(items) == 1:
                p, g, state = items[0]
                jobs.append((p._data, g, [state[k]._data for k in keys], sc))
                updated.append(p)
            else:
                pack = self._pack_in(items, keys)
                jobs.append((pack.P, pack.G, pack.flats, sc))
                packs.append((pack, items))
        if jobs:
            self._run_cpu(jobs, h)
        for pack, items in packs:
            for (p, _, _), pv in zip(items, pack.pviews):
                np.copyto(p._data, pv)
        for p in updated:
            p._vc.value += 1
        for _, items in packs:
            for p, _, _ in items:
                p._vc.value += 1

    def _temps(self, arr, dev, n: int = 2, part: int = 0) -> list:
        """n scratch arrays shaped like `arr`, views into one workspace per (device,
        dtype) (and per thread of a parallel update, `part`): temporaries live only
        within one update, so one buffer of n x (largest parameter) serves every
        parameter with no allocation after the first step."""
        size = arr.size
        key = (dev, arr.dtype) if part == 0 else (dev, arr.dtype, part)
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

    def _run_cpu(self, jobs: list, h) -> None:
        """Run the CPU updates [(arr, g, st, sc)]: one after the other, or, when they
        are large enough, cut into contiguous chunks (the updates are elementwise, so
        the results are bitwise the same) that `_threads` threads take in turn."""
        n = _threads.num_threads()
        total = sum(job[0].size for job in jobs)
        if n > 1 and total >= PARALLEL_MIN_NUMEL:
            n = min(n, total // (PARALLEL_MIN_NUMEL // 2))
        if n < 2 or total < PARALLEL_MIN_NUMEL:
            for arr, g, st, sc in jobs:
                t, u = self._temps(arr, CPU)
                self._math(np, arr, g, st, t, u, sc, h)
            return
        flat, serial = [], []
        for job in jobs:
            arr, g, st, sc = job
            if arr.flags.c_contiguous and all(s.flags.c_contiguous for s in st):
                flat.append((arr.reshape(-1), np.ravel(g), [s.reshape(-1) for s in st], sc))
            else:
                serial.append(job)
        # about two chunks per thread (each ufunc call long against a GIL hand-over),
        # at least PARALLEL_CHUNK elements, whole 64-byte lines
        size = max(PARALLEL_CHUNK, -(-sum(job[0].size for job in flat) // (2 * n)))
        size += -size % 16
        chunks = [(job, start, min(job[0].size, start + size))
                  for job in flat for start in range(0, job[0].size, size)]
        n = min(n, len(chunks))
        longest: dict = {}  # dtype -> an array as long as its longest chunk
        for job, start, stop in chunks:
            arr = job[0]
            if arr.dtype not in longest or longest[arr.dtype].size < stop - start:
                longest[arr.dtype] = arr[:stop - start]
        counter = itertools.count()  # the next chunk to take (next() is atomic)
        runs = [partial(self._run_chunks, chunks, counter,
                        {dt: self._temps(a, CPU, part=i) for dt, a in longest.items()}, h)
                for i in range(n)]
        for arr, g, st, sc in serial:
            t, u = self._temps(arr, CPU)
            self._math(np, arr, g, st, t, u, sc, h)
        _threads.run(runs)

    def _run_chunks(self, chunks: list, counter, temps: dict, h) -> None:
        """Take chunks until none is left (a thread that gets no CPU takes none)."""
        math, n = self._math, len(chunks)
        for i in counter:
            if i >= n:
                return
            (arr, g, st, sc), a, b = chunks[i]
            t, u = temps[arr.dtype]
            m = b - a
            math(np, arr[a:b], g[a:b], [s[a:b] for s in st], t[:m], u[:m], sc, h)

    def _pack_in(self, items: list, keys: tuple[str, ...]) -> _Pack:
        """The flat buffers of a batch of small parameters, with the parameters and
        gradients copied in (the caller copies the parameters back after the update)."""
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
        return pack
