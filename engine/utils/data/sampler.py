"""Samplers: the order in which a DataLoader visits a map-style dataset, as
`torch.utils.data`: Sequential, Random (with a Generator), SubsetRandom,
WeightedRandom, and BatchSampler, which groups indices into batches.

Resuming: the engine's own samplers also describe one epoch as a whole through
`_epoch(state) -> (indices, start_state)`: `indices` is an int64 array (or, for a
BatchSampler, an iterator of index arrays) and `start_state` is the state of the
generator the epoch drew from, taken before it drew. Passing that state back replays
the same epoch, which is how `DataLoader.load_state_dict` restores a position without
loading the batches it skips. `_next_state()` is the state the next epoch will start
from (None when it will draw a fresh seed from the global generator).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator, Sequence

import numpy as np

from ...random import Generator, seed_from
from ...tensor import Tensor

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]


class Sampler:
    """Base class: an iterable over dataset indices (and, optionally, `__len__`).

    >>> from engine.utils.data import Sampler
    >>> class Reversed(Sampler):
    ...     def __init__(self, n): self.n = n
    ...     def __iter__(self): return iter(range(self.n - 1, -1, -1))
    ...     def __len__(self): return self.n
    >>> list(Reversed(3))
    [2, 1, 0]
    """

    def __init__(self, data_source=None) -> None:
        pass

    def __iter__(self) -> Iterator:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1.

    >>> from engine.utils.data import SequentialSampler
    >>> list(SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def __init__(self, data_source) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)

    def _epoch(self, state=None):
        return np.arange(len(self.data_source), dtype=np.int64), None

    def _next_state(self):
        return None


def _check_generator(generator) -> None:
    if generator is not None:
        if not isinstance(generator, Generator):
            raise TypeError(f"generator must be an engine.Generator, got "
                            f"{type(generator).__name__}")
        if generator.device.type != "cpu":
            raise ValueError("samplers draw on the CPU: expected a 'cpu' generator, got a "
                             f"'{generator.device.type}' one")


class _Seeded(Sampler):
    """A sampler drawing each epoch from `self.generator`, or, when it is None, from a
    private generator seeded by one draw from the global CPU generator (PyTorch's way)."""

    generator: Generator | None

    def _epoch(self, state=None):
        gen = self.generator
        if state is not None:
            gen = (gen if gen is not None else Generator()).set_state(state)
        elif gen is None:
            gen = Generator().manual_seed(seed_from())
        start = gen.get_state()
        return self._draw(gen), start

    def _next_state(self):
        return None if self.generator is None else self.generator.get_state()

    def _draw(self, gen: Generator) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch()[0].tolist())


class RandomSampler(_Seeded):
    """A random order of the dataset's indices: a permutation per epoch, or, with
    `replacement=True`, `num_samples` independent draws.

    >>> import engine
    >>> from engine.utils.data import RandomSampler
    >>> s = RandomSampler(range(5), generator=engine.Generator().manual_seed(0))
    >>> sorted(s), len(s)
    ([0, 1, 2, 3, 4], 5)
    """

    def __init__(self, data_source, replacement: bool = False, num_samples: int | None = None,
                 generator: Generator | None = None) -> None:
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        if not isinstance(self.num_samples, int) or isinstance(self.num_samples, bool) \
                or self.num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={self.num_samples}")
        _check_generator(generator)

    @property
    def num_samples(self) -> int:
        """Indices per epoch (the dataset's length unless given)."""
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def __len__(self) -> int:
        return self.num_samples

    def _draw(self, gen: Generator) -> np.ndarray:
        n, m = len(self.data_source), self.num_samples
        if self.replacement:
            return np.asarray(gen.integers(0, n, (m,), np.int64))
        parts = [gen.permutation(n) for _ in range(m // n)]
        if m % n:
            parts.append(gen.permutation(n)[: m % n])
        return np.concatenate(parts).astype(np.int64, copy=False)


class SubsetRandomSampler(_Seeded):
    """The given indices in a random order (a new one each epoch).

    >>> import engine
    >>> from engine.utils.data import SubsetRandomSampler
    >>> sorted(SubsetRandomSampler([7, 3, 5], generator=engine.Generator().manual_seed(0)))
    [3, 5, 7]
    """

    def __init__(self, indices: Sequence[int], generator: Generator | None = None) -> None:
        self.indices = indices
        self.generator = generator
        _check_generator(generator)

    def __len__(self) -> int:
        return len(self.indices)

    def _draw(self, gen: Generator) -> np.ndarray:
        idx = self.indices
        idx = np.asarray(idx.tolist() if isinstance(idx, Tensor) else idx, dtype=np.int64)
        return idx[gen.permutation(len(idx))]


class WeightedRandomSampler(_Seeded):
    """`num_samples` indices drawn with probabilities proportional to `weights`.

    >>> import engine
    >>> from engine.utils.data import WeightedRandomSampler
    >>> list(WeightedRandomSampler([0.0, 1.0, 0.0], 3,
    ...                            generator=engine.Generator().manual_seed(0)))
    [1, 1, 1]
    """

    def __init__(self, weights: Sequence[float], num_samples: int, replacement: bool = True,
                 generator: Generator | None = None) -> None:
        if not isinstance(num_samples, numbers.Integral) or isinstance(num_samples, bool) \
                or num_samples <= 0:
            raise ValueError("num_samples should be a positive integer value, but got "
                             f"num_samples={num_samples}")
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}")
        w = np.asarray(weights.tolist() if isinstance(weights, Tensor) else weights,
                       dtype=np.float64)
        if w.ndim != 1:
            raise ValueError(f"weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        if (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise RuntimeError("invalid multinomial distribution (weights must be finite, "
                               "non-negative and not all zero)")
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                               "replacement")
        self.weights, self.num_samples = w, int(num_samples)
        self.replacement, self.generator = replacement, generator
        _check_generator(generator)

    def __len__(self) -> int:
        return self.num_samples

    def _draw(self, gen: Generator) -> np.ndarray:
        u = np.asarray(gen.uniform((self.num_samples if self.replacement else len(self.weights),),
                                   np.float64))
        if self.replacement:
            cdf = np.cumsum(self.weights)
            idx = np.searchsorted(cdf, u * cdf[-1], side="right")
            return np.minimum(idx, len(cdf) - 1).astype(np.int64)
        with np.errstate(divide="ignore"):  # exponential race: smallest -log(u)/w first
            keys = -np.log1p(-u) / self.weights
        return np.argsort(keys, kind="stable")[: self.num_samples].astype(np.int64)


class BatchSampler(Sampler):
    """Groups another sampler's indices into lists of `batch_size` (the last one shorter
    unless `drop_last`).

    >>> from engine.utils.data import BatchSampler, SequentialSampler
    >>> list(BatchSampler(SequentialSampler(range(5)), 2, drop_last=False))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(self, sampler, batch_size: int, drop_last: bool) -> None:
        if not isinstance(batch_size, numbers.Integral) or isinstance(batch_size, bool) \
                or batch_size <= 0:
            raise ValueError("batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, int(batch_size), drop_last

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self._epoch()[0]:
            yield batch.tolist() if isinstance(batch, np.ndarray) else batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def _epoch(self, state=None):
        indices, start = epoch_of(self.sampler, state)
        if isinstance(indices, np.ndarray):
            return self._slices(indices), start
        return self._chunks(indices), start

    def _next_state(self):
        return next_state_of(self.sampler)

    def _slices(self, idx: np.ndarray) -> Iterator[np.ndarray]:
        bs, n = self.batch_size, len(idx)
        stop = n - n % bs if self.drop_last else n
        for i in range(0, stop, bs):
            yield idx[i:i + bs]

    def _chunks(self, indices) -> Iterator[list]:
        batch = []
        for i in indices:
            batch.append(i)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch


def _resumable(sampler) -> bool:
    """True for the engine's samplers whose iteration `_epoch` describes exactly."""
    return getattr(type(sampler), "__iter__", None) in _OWN_ITERS


def epoch_of(sampler, state=None):
    """(one epoch of `sampler`, the state replaying it): an int64 array for the engine's
    samplers, else the sampler's own iterator and None.

    >>> import engine
    >>> from engine.utils.data import RandomSampler
    >>> from engine.utils.data.sampler import epoch_of
    >>> s = RandomSampler(range(4), generator=engine.Generator())
    >>> first, state = epoch_of(s)
    >>> again, _ = epoch_of(s, state)  # the same epoch, replayed
    >>> first.tolist() == again.tolist(), epoch_of([2, 0], None)[1]
    (True, None)
    """
    if _resumable(sampler):
        return sampler._epoch(state)
    return iter(sampler), None


def next_state_of(sampler):
    """The state the sampler's next epoch will start from (None if it has none).

    >>> from engine.utils.data import SequentialSampler
    >>> from engine.utils.data.sampler import next_state_of
    >>> next_state_of(SequentialSampler(range(3))) is None
    True
    """
    return sampler._next_state() if _resumable(sampler) else None


_OWN_ITERS = {SequentialSampler.__iter__, _Seeded.__iter__, BatchSampler.__iter__}
