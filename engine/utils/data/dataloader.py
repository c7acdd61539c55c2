"""`DataLoader`: batches of a dataset, in PyTorch's shape, with a resumable position.

Loading runs in the calling process. `num_workers > 0` is accepted for compatibility
with PyTorch code and also runs in-process (no worker processes are started, so
`worker_init_fn` is never called and `get_worker_info()` is always None).

Fast path: for a `TensorDataset` (or `Subset`s of one) with the default collate, a batch
is one fancy index per tensor (`t[indices]`), not a stack of per-sample rows.

Position: each epoch's order is drawn from the sampler's generator when the epoch
starts. `state_dict()` records that generator's state as of the start of the current
epoch and the number of batches already handed out; `load_state_dict` makes the next
`iter(loader)` redraw the same order and skip those batches (without loading them), and
later epochs continue from the generator state the original run had.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Iterator

import numpy as np

from ...autograd.grad_mode import is_grad_enabled
from ...random import _parse_state
from ...tensor import Tensor
from .collate import default_collate, default_convert
from .dataset import IterableDataset, Subset, TensorDataset, indices_array
from .sampler import BatchSampler, RandomSampler, SequentialSampler, epoch_of, next_state_of

__all__ = ["DataLoader", "get_worker_info"]

_FROZEN = ("batch_size", "batch_sampler", "sampler", "drop_last", "dataset",
           "persistent_workers")


def get_worker_info():
    """Always None: the engine loads data in the calling process (no workers).

    >>> from engine.utils.data import get_worker_info
    >>> get_worker_info() is None
    True
    """
    return None


class DataLoader:
    """Iterate over a dataset in batches.

    Arguments follow `torch.utils.data.DataLoader`; `shuffle=True` draws a new order each
    epoch from `generator` (default: a seed drawn from the global CPU generator, so
    `engine.manual_seed` makes it reproducible).

    >>> import engine
    >>> from engine.utils.data import DataLoader, TensorDataset
    >>> ds = TensorDataset(engine.arange(10).float(), engine.arange(10))
    >>> loader = DataLoader(ds, batch_size=4, shuffle=True,
    ...                     generator=engine.Generator().manual_seed(0))
    >>> len(loader), [y.shape[0] for x, y in loader]
    (3, [4, 4, 2])

    Save the position mid-epoch and resume it in a new loader:

    >>> it = iter(loader); first = next(it)
    >>> state = loader.state_dict(); state["epoch"], state["batch_index"]
    (1, 1)
    >>> rest = [y.tolist() for _, y in it]
    >>> again = DataLoader(ds, batch_size=4, shuffle=True, generator=engine.Generator())
    >>> again.load_state_dict(state)
    >>> [y.tolist() for _, y in again] == rest
    True
    """

    def __init__(self, dataset, batch_size: int | None = 1, shuffle: bool | None = None,
                 sampler=None, batch_sampler=None, num_workers: int = 0,
                 collate_fn: Callable | None = None, pin_memory: bool = False,
                 drop_last: bool = False, timeout: float = 0, worker_init_fn=None,
                 multiprocessing_context=None, generator=None, *,
                 prefetch_factor: int | None = None, persistent_workers: bool = False,
                 pin_memory_device: str = "", in_order: bool = True) -> None:
        if not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 "
                             "to disable multiprocessing.")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError("prefetch_factor option could only be specified in "
                             "multiprocessing.let num_workers > 0 to enable multiprocessing, "
                             "otherwise set prefetch_factor to None.")
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        iterable = isinstance(dataset, IterableDataset)
        if iterable:
            for name, value in (("shuffle", shuffle), ("sampler", sampler),
                                ("batch_sampler", batch_sampler)):
                if value is not None and value is not False:
                    raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                     f"{name} option, but got {name}={value}")
        shuffle = bool(shuffle)
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError("batch_size=None option disables auto-batching and is mutually "
                             "exclusive with drop_last")
        if sampler is None and not iterable:
            sampler = (RandomSampler(dataset, generator=generator) if shuffle
                       else SequentialSampler(dataset))
        if batch_size is not None and batch_sampler is None:
            if iterable:  # validate like BatchSampler; the stream is batched as it comes
                BatchSampler([], batch_size, drop_last)
            else:
                batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self.num_workers, self.pin_memory, self.timeout = num_workers, pin_memory, timeout
        self.worker_init_fn, self.multiprocessing_context = worker_init_fn, multiprocessing_context
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self.pin_memory_device, self.in_order = pin_memory_device, in_order
        self._iterable = iterable
        self._auto_collation = batch_sampler is not None or (iterable and batch_size is not None)
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._epoch, self._batch_index, self._start_state = 0, 0, None
        self._started, self._resume, self._active = False, None, None
        self._initialized = True

    def __setattr__(self, name, value) -> None:
        if self.__dict__.get("_initialized") and name in _FROZEN:
            raise ValueError(f"{name} attribute should not be set after "
                             f"{type(self).__name__} is initialized")
        super().__setattr__(name, value)

    @property
    def _index_sampler(self):
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for streams without a length, as PyTorch
            if self.batch_size is not None:
                n = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
            return n
        return len(self._index_sampler)

    @property
    def epoch(self) -> int:
        """The epoch the current (or, between epochs, the next) iteration belongs to."""
        return self._epoch

    # -- iteration -------------------------------------------------------------------
    def __iter__(self) -> Iterator:
        resume, self._resume = self._resume, None
        if resume is not None:
            epoch, skip, state = resume["epoch"], resume["batch_index"], resume["generator_state"]
        else:
            epoch, skip, state = self._epoch + (1 if self._started else 0), 0, None
        if self._iterable:
            batches, fetch, start = self._stream(), self.collate_fn, None
        else:
            batches, start = epoch_of(self._index_sampler, state)
            batches = iter(batches)
            fetch = self._fetcher()
        if skip:
            batches = itertools.islice(batches, skip, None)  # indices only: nothing is loaded
        self._epoch, self._batch_index, self._start_state = epoch, skip, start
        self._started = True
        self._active = it = _LoaderIter(self, batches, fetch)
        return it

    def _stream(self) -> Iterator:
        if not self._auto_collation:
            return iter(self.dataset)
        return BatchSampler([], self.batch_size, self.drop_last)._chunks(iter(self.dataset))

    def _fetcher(self) -> Callable:
        ds, collate = self.dataset, self.collate_fn
        if not self._auto_collation:
            return lambda i: collate(ds[int(i) if isinstance(i, np.integer) else i])
        fast = _fast_fetch(ds) if collate is default_collate else None
        if fast is not None:
            return lambda idx: fast(np.asarray(idx, dtype=np.int64))
        many = getattr(ds, "__getitems__", None)

        def fetch(idx):
            if isinstance(idx, np.ndarray):
                idx = idx.tolist()
            return collate(many(idx) if callable(many) else [ds[i] for i in idx])

        return fetch

    def _end_epoch(self, it) -> None:
        if self._active is it:
            self._epoch, self._batch_index, self._start_state = self._epoch + 1, 0, None
            self._started = False

    # -- position ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """The loader's position: `{"epoch", "batch_index", "generator_state"}` (ints and a
        uint8 tensor or None), storable with `engine.save`.

        `generator_state` is the sampler generator's state at the start of the epoch
        (between epochs: the state the next epoch will start from; None when the next
        epoch draws its seed from the global generator, which `engine.get_rng_state`
        covers, or when the order is not random).

        >>> import engine
        >>> from engine.utils.data import DataLoader
        >>> loader = DataLoader(range(6), batch_size=2)
        >>> it = iter(loader); _ = next(it); loader.state_dict()
        {'epoch': 0, 'batch_index': 1, 'generator_state': None}
        """
        if self._resume is not None:
            return dict(self._resume)
        if self._started:
            state = self._start_state
            batch = self._batch_index
        else:
            state = None if self._iterable else next_state_of(self._index_sampler)
            batch = 0
        if isinstance(state, Tensor):
            state = state.clone()
        return {"epoch": self._epoch, "batch_index": batch, "generator_state": state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Resume from `state_dict()`: the next `iter(self)` continues that epoch from its
        next batch (same order), and later epochs draw what the saved run would have.

        The dataset, sampler settings and batch size must be those of the saved loader.
        For an IterableDataset the skipped batches are read from the stream and dropped.

        >>> from engine.utils.data import DataLoader
        >>> loader = DataLoader(list(range(6)), batch_size=2)
        >>> loader.load_state_dict({"epoch": 0, "batch_index": 2, "generator_state": None})
        >>> [b.tolist() for b in loader]
        [[4, 5]]
        """
        missing = {"epoch", "batch_index", "generator_state"} - set(state_dict)
        if missing:
            raise KeyError(f"DataLoader state is missing {sorted(missing)}")
        epoch, batch = (_as_int(state_dict[k], k) for k in ("epoch", "batch_index"))
        gen_state = state_dict["generator_state"]
        if gen_state is not None:
            _parse_state(gen_state)  # raises now for a malformed state
        try:
            n = len(self)
        except TypeError:
            n = None
        if n is not None and batch > n:
            raise ValueError(f"batch_index {batch} is past the end of an epoch of {n} batches;"
                             " the state comes from a different loader")
        self._resume = {"epoch": epoch, "batch_index": batch, "generator_state": gen_state}
        self._epoch, self._started, self._active = epoch, False, None


class _LoaderIter:
    """One pass over a DataLoader; it advances the loader's position while it is the
    loader's newest iterator."""

    def __init__(self, loader: DataLoader, batches: Iterator, fetch: Callable) -> None:
        self._loader, self._batches, self._fetch = loader, batches, fetch
        self._done = False

    def __iter__(self) -> _LoaderIter:
        return self

    def __len__(self) -> int:
        return len(self._loader)

    def __next__(self):
        if self._done:
            raise StopIteration
        try:
            idx = next(self._batches)
        except StopIteration:
            self._done = True
            self._loader._end_epoch(self)
            raise
        out = self._fetch(idx)
        if self._loader._active is self:
            self._loader._batch_index += 1
        return out


def _as_int(value, name: str) -> int:
    if isinstance(value, Tensor):
        value = value.item()
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 0:
        raise ValueError(f"DataLoader state {name!r} must be a non-negative int, got {value!r}")
    return int(value)


def _take(t: Tensor, idx: np.ndarray) -> Tensor:
    """t[idx] for an int64 index array: one gather of whole rows (NumPy's `take` on the
    CPU when no graph is recorded, else the differentiable indexing op)."""
    if t._device.type == "cpu" and t.ndim and not (t._rg and is_grad_enabled()):
        return Tensor._wrap(np.take(t._data, idx, axis=0), t._device)
    return t[idx]


def _fast_fetch(dataset) -> Callable | None:
    """`indices -> collated batch` by fancy indexing, for TensorDatasets and Subsets of
    them whose item access is the stock one; None otherwise."""
    kind = type(dataset)
    if isinstance(dataset, TensorDataset) and kind.__getitem__ is TensorDataset.__getitem__ \
            and getattr(kind, "__getitems__", None) is None:
        tensors = dataset.tensors
        return lambda idx: [_take(t, idx) for t in tensors]
    if isinstance(dataset, Subset) and kind.__getitem__ is Subset.__getitem__ \
            and kind.__getitems__ is Subset.__getitems__:
        inner = _fast_fetch(dataset.dataset)
        if inner is not None:
            base = indices_array(dataset)
            return lambda idx: inner(base[idx])
    return None
