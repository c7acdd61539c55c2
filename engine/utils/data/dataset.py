"""Datasets, as `torch.utils.data`: the map-style `Dataset` (`__getitem__` + `__len__`),
the streaming `IterableDataset`, and the wrappers `TensorDataset`, `Subset`,
`ConcatDataset`, `ChainDataset`, plus `random_split`."""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from ...ops.creation import randperm
from ...random import Generator
from ...tensor import Tensor

__all__ = ["Dataset", "IterableDataset", "TensorDataset", "Subset", "ConcatDataset",
           "ChainDataset", "random_split"]


class Dataset:
    """A map-style dataset: subclasses define `__getitem__(index)` and `__len__()`.

    `a + b` concatenates two datasets.

    >>> from engine.utils.data import Dataset
    >>> class Squares(Dataset):
    ...     def __len__(self): return 3
    ...     def __getitem__(self, i): return i * i
    >>> ds = Squares() + Squares()
    >>> len(ds), ds[4]
    (6, 1)
    """

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __add__(self, other: Dataset) -> ConcatDataset:
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: subclasses define `__iter__` (and may define `__len__`).

    A DataLoader batches what the stream yields, in order; it takes no sampler.

    >>> from engine.utils.data import IterableDataset
    >>> class Count(IterableDataset):
    ...     def __iter__(self): return iter(range(3))
    >>> list(Count() + Count())
    [0, 1, 2, 0, 1, 2]
    """

    def __iter__(self):
        raise NotImplementedError("Subclasses of IterableDataset should implement __iter__.")

    def __add__(self, other: Dataset) -> ChainDataset:
        return ChainDataset([self, other])


class TensorDataset(Dataset):
    """Samples are the rows of tensors sharing their first dimension:
    `ds[i] == (t0[i], t1[i], ...)`.

    A DataLoader over a TensorDataset with the default collate builds each batch with one
    fancy index per tensor (`t[indices]`) instead of stacking rows.

    >>> import engine
    >>> from engine.utils.data import TensorDataset
    >>> ds = TensorDataset(engine.arange(6).reshape(3, 2), engine.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2, 3]), tensor(1)))
    """

    def __init__(self, *tensors: Tensor) -> None:
        if not tensors or any(t.ndim == 0 for t in tensors) or \
                any(t.size(0) != tensors[0].size(0) for t in tensors):
            raise AssertionError("Size mismatch between tensors")  # PyTorch's assert
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].size(0)


class Subset(Dataset):
    """The samples of `dataset` at `indices`, in that order.

    >>> from engine.utils.data import Subset
    >>> s = Subset(list("abcde"), [4, 0])
    >>> len(s), s[0], s[[1, 0]]
    (2, 'e', ['a', 'e'])
    """

    def __init__(self, dataset, indices: Sequence[int]) -> None:
        self.dataset = dataset
        self.indices = indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.__getitems__(idx)
        return self.dataset[self.indices[idx]]

    def __getitems__(self, indices: list) -> list:
        """The samples at several positions (one call into the inner dataset if it can)."""
        inner = getattr(self.dataset, "__getitems__", None)
        if callable(inner):
            return inner([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self.indices)


class ConcatDataset(Dataset):
    """Map-style datasets one after another.

    >>> from engine.utils.data import ConcatDataset
    >>> ds = ConcatDataset([[0, 1], [2, 3, 4]])
    >>> len(ds), ds[2], ds[-1], ds.cumulative_sizes
    (5, 2, 4, [2, 5])
    """

    @staticmethod
    def cumsum(sequence) -> list[int]:
        """Running totals of the datasets' lengths."""
        return list(itertools.accumulate(len(d) for d in sequence))

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = list(datasets)
        if not self.datasets:
            raise AssertionError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise AssertionError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = self.cumsum(self.datasets)

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        idx = int(idx)
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        if d == len(self.datasets):
            raise IndexError(f"index {idx} is out of range for a dataset of length {len(self)}")
        return self.datasets[d][idx - (self.cumulative_sizes[d - 1] if d else 0)]


class ChainDataset(IterableDataset):
    """Iterable datasets chained one after another.

    >>> from engine.utils.data import ChainDataset
    >>> list(ChainDataset([range(2), range(3)]))
    [0, 1, 0, 1, 2]
    """

    def __init__(self, datasets: Iterable) -> None:
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


def random_split(dataset, lengths: Sequence[int | float],
                 generator: Generator | None = None) -> list[Subset]:
    """Split a dataset into disjoint random Subsets of the given lengths.

    `lengths` are counts summing to `len(dataset)`, or fractions summing to 1: each split
    gets `floor(len * fraction)` and the remainder is dealt one by one, round robin from
    the first split (PyTorch's rule). The shuffle draws from `generator` (default: the
    global CPU generator), so the same seed gives the same split.

    >>> import engine
    >>> from engine.utils.data import random_split
    >>> a, b = random_split(range(10), [0.7, 0.3], generator=engine.Generator().manual_seed(0))
    >>> len(a), len(b), sorted(list(a) + list(b)) == list(range(10))
    (7, 3, True)
    """
    n = len(dataset)
    lengths = list(lengths)
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if frac < 0 or frac > 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(int(math.floor(n * frac)))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(f"Length of split at index {i} is 0. This might result in an "
                              "empty dataset.", stacklevel=2)
        lengths = sizes
    for length in lengths:
        if not isinstance(length, numbers.Integral) or length < 0:
            raise ValueError(f"lengths must be non-negative integers or fractions summing to 1,"
                             f" got {lengths}")
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    perm: list[int] = randperm(n, generator=generator).tolist()
    ends = itertools.accumulate(lengths)
    return [Subset(dataset, perm[end - length:end]) for end, length in zip(ends, lengths)]


def indices_array(subset: Subset) -> np.ndarray:
    """A Subset's indices as an int64 array (made once per epoch by the DataLoader).

    >>> from engine.utils.data import Subset
    >>> from engine.utils.data.dataset import indices_array
    >>> indices_array(Subset(range(5), [4, 1])).tolist()
    [4, 1]
    """
    idx = subset.indices
    return np.asarray(idx.tolist() if isinstance(idx, Tensor) else idx, dtype=np.int64)
