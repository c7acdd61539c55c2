"""A tiny thread pool for the CPU optimizer updates.

NumPy releases the GIL inside ufunc loops, so the elementwise update of a large
parameter split into contiguous parts runs on several cores at once. The caller runs the
first part itself; `n - 1` daemon helper threads run the others. The pool is created on
first use and dropped in a forked child (its threads do not survive `fork`).

`ENGINE_OPTIM_THREADS` sets the number of threads; the default is 1 (no helper
threads). Measured on a 2-core machine (bench/train_step.py, 2026-11-29), 2 threads made
the whole training step slower (MLP b=32: 2.61 ms against 2.43 ms; b=256: 7.23 against
7.04): right after the backward pass the BLAS library's own idle threads still spin on
the other core, and the ufunc calls of a chunk are short against a GIL hand-over. On a
machine with spare cores a larger value may pay; the results are bitwise the same.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable

__all__ = ["num_threads", "run"]


def num_threads() -> int:
    """Threads an optimizer step may use (read each time: tests and users may set it)."""
    value = os.environ.get("ENGINE_OPTIM_THREADS", "")
    return max(1, int(value)) if value.strip() else 1


class _Pool:
    def __init__(self, helpers: int) -> None:
        self.inboxes: list[queue.SimpleQueue] = []
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        for i in range(helpers):
            inbox: queue.SimpleQueue = queue.SimpleQueue()
            threading.Thread(target=self._loop, args=(inbox,), daemon=True,
                             name=f"engine-optim-{i + 1}").start()
            self.inboxes.append(inbox)

    def _loop(self, inbox: queue.SimpleQueue) -> None:
        while True:
            fn = inbox.get()
            try:
                fn()
            except BaseException as exc:  # handed to the caller, re-raised there
                self.done.put(exc)
            else:
                self.done.put(None)


_pool: _Pool | None = None
_lock = threading.Lock()  # one parallel run at a time (the pool is shared)


def _reset_after_fork() -> None:
    global _pool, _lock
    _pool, _lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def run(parts: list[Callable[[], None]]) -> None:
    """Run the callables concurrently (the first on the calling thread) and return when
    all have finished; the first exception raised by any of them is re-raised."""
    global _pool
    if len(parts) == 1:
        parts[0]()
        return
    with _lock:
        helpers = len(parts) - 1
        if _pool is None or len(_pool.inboxes) < helpers:
            _pool = _Pool(helpers)
        for inbox, fn in zip(_pool.inboxes, parts[1:]):
            inbox.put(fn)
        error: BaseException | None = None
        try:
            parts[0]()
        except BaseException as exc:
            error = exc
        for _ in range(helpers):
            exc = _pool.done.get()
            if error is None and exc is not None:
                error = exc
        if error is not None:
            raise error
