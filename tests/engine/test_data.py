"""engine.utils.data: collate (against torch), datasets, samplers, the DataLoader and
its resumable position."""

import collections
import io
import itertools

import numpy as np
import pytest

import engine
import engine.data
import engine.utils.data as data
from engine.utils.data import (
    BatchSampler,
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    RandomSampler,
    SequentialSampler,
    Subset,
    SubsetRandomSampler,
    TensorDataset,
    WeightedRandomSampler,
    default_collate,
    default_convert,
    random_split,
)

from .helpers import needs_torch, to_np, torch

Point = collections.namedtuple("Point", "x y")


def gen(seed=0):
    return engine.Generator().manual_seed(seed)


def flat(batch):
    """A batch as nested Python values, for exact comparisons."""
    if isinstance(batch, engine.Tensor):
        return ("tensor", str(batch.dtype).split(".")[-1], batch.tolist())
    if torch is not None and isinstance(batch, torch.Tensor):
        return ("tensor", str(batch.dtype).split(".")[-1], batch.tolist())
    if isinstance(batch, dict):
        return {k: flat(v) for k, v in batch.items()}
    if isinstance(batch, list | tuple):
        return type(batch).__name__, [flat(v) for v in batch]
    return batch


# -- collate -------------------------------------------------------------------------
def _samples(lib):
    t = lib.tensor
    return {
        "tensors": [t([1.0, 2.0]), t([3.0, 4.0])],
        "int_tensors": [t(1), t(2)],
        "floats": [1.5, 2.5],
        "ints": [1, 2, 3],
        "bools": [True, False],
        "np_arrays": [np.arange(3, dtype=np.int32), np.arange(3, 6, dtype=np.int32)],
        "np_0d": [np.array(3.0), np.array(4.0)],
        "np_scalars_f32": [np.float32(1), np.float32(2)],
        "np_scalars_i16": [np.int16(1), np.int16(2)],
        "np_scalars_f64": [np.float64(1), np.float64(2)],
        "strings": ["a", "b"],
        "bytes": [b"a", b"b"],
        "tuples": [(t([1.0]), 0, 0.5), (t([2.0]), 1, 1.5)],
        "lists": [[1, 2.0], [3, 4.0]],
        "dicts": [{"x": t([1.0]), "y": 1, "s": "a"}, {"x": t([2.0]), "y": 2, "s": "b"}],
        "nested": [{"a": [np.ones(2), (1, "u")]}, {"a": [np.zeros(2), (2, "v")]}],
        "namedtuple": [Point(1, 2.0), Point(3, 4.0)],
    }


@needs_torch
@pytest.mark.parametrize("case", list(_samples(engine)))
def test_default_collate_matches_torch(case):
    from torch.utils.data import default_collate as torch_collate

    ours = default_collate(_samples(engine)[case])
    ref = torch_collate(_samples(torch)[case])
    assert flat(ours) == flat(ref)
    if case == "namedtuple":
        assert isinstance(ours, Point)


@needs_torch
def test_default_convert_matches_torch():
    from torch.utils.data import default_convert as torch_convert

    sample = {"a": np.arange(3), "b": (np.float32(2), "s"), "c": [np.ones(2)], "d": 1.5}
    assert flat(default_convert(sample)) == flat(torch_convert(sample))


def test_collate_rules_without_torch():
    out = default_collate([(engine.ones(2), 1, 0.5)] * 3)
    assert isinstance(out, list) and len(out) == 3  # a batch of tuples -> list, as PyTorch
    assert out[0].shape == (3, 2) and out[1].dtype == engine.int64
    assert out[2].dtype == engine.float64
    assert default_collate([np.float32(1)] * 2).dtype == engine.float32
    assert default_collate([np.ones(2, np.int32)] * 2).dtype == engine.int32


def test_collate_errors():
    with pytest.raises(RuntimeError, match="equal size"):
        default_collate([[1, 2], [1]])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([object(), object()])
    with pytest.raises(TypeError, match="default_collate: batch must contain"):
        default_collate([np.array(["a"]), np.array(["b"])])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        default_collate([engine.ones(2), engine.ones(3)])


def test_collate_keeps_autograd():
    a = engine.tensor([1.0, 2.0], requires_grad=True)
    out = default_collate([a, a * 2])
    out.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]


# -- datasets --------------------------------------------------------------------------
def test_tensor_dataset_and_size_mismatch():
    ds = TensorDataset(engine.arange(8).reshape(4, 2), engine.arange(4))
    assert len(ds) == 4 and ds[1][0].tolist() == [2, 3] and ds[-1][1].item() == 3
    with pytest.raises(AssertionError, match="Size mismatch between tensors"):
        TensorDataset(engine.ones(3), engine.ones(4))
    if torch is not None:
        with pytest.raises(AssertionError, match="Size mismatch between tensors"):
            torch.utils.data.TensorDataset(torch.ones(3), torch.ones(4))


def test_subset_and_concat_indexing():
    base = list(range(10, 20))
    s = Subset(base, [3, 0, 7])
    assert len(s) == 3 and [s[i] for i in range(3)] == [13, 10, 17] and s[[2, 1]] == [17, 10]
    c = ConcatDataset([base[:3], s, [99]])
    assert len(c) == 7 and c.cumulative_sizes == [3, 6, 7]
    assert [c[i] for i in range(7)] == [10, 11, 12, 13, 10, 17, 99]
    assert c[-1] == 99 and c[-7] == 10
    with pytest.raises(ValueError, match="absolute value of index"):
        c[-8]
    with pytest.raises(IndexError):
        c[7]
    with pytest.raises(AssertionError):
        ConcatDataset([])

    class Range(Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return i

    both = Range(2) + Range(3)
    assert isinstance(both, ConcatDataset) and [both[i] for i in range(5)] == [0, 1, 0, 1, 2]


def test_random_split_lengths_fractions_disjoint():
    parts = random_split(range(10), [3, 7], generator=gen(1))
    assert [len(p) for p in parts] == [3, 7]
    assert sorted(itertools.chain(*parts)) == list(range(10))
    again = random_split(range(10), [3, 7], generator=gen(1))
    assert [list(p) for p in parts] == [list(p) for p in again]
    for n, fracs in [(10, [0.5, 0.5]), (11, [0.3, 0.3, 0.4]), (7, [0.1, 0.2, 0.7]),
                     (5, [1 / 3, 1 / 3, 1 / 3])]:
        parts = random_split(range(n), fracs, generator=gen(0))
        assert sorted(itertools.chain(*parts)) == list(range(n))
        if torch is not None:
            ref = torch.utils.data.random_split(range(n), fracs,
                                                generator=torch.Generator().manual_seed(0))
            assert [len(p) for p in parts] == [len(p) for p in ref]
    assert [len(p) for p in random_split(range(11), [0.3, 0.3, 0.4])] == [4, 3, 4]
    engine.manual_seed(5)
    a = [list(p) for p in random_split(range(6), [2, 4])]
    engine.manual_seed(5)
    assert a == [list(p) for p in random_split(range(6), [2, 4])]


def test_random_split_errors():
    with pytest.raises(ValueError, match="Sum of input lengths"):
        random_split(range(10), [3, 3])
    with pytest.raises(ValueError, match="Fraction at index 0 is not between 0 and 1"):
        random_split(range(10), [1.5, -0.5])
    with pytest.raises(ValueError):
        random_split(range(10), [0.5, 0.4])
    with pytest.warns(UserWarning, match="Length of split at index 2 is 0"):
        random_split(range(2), [0.5, 0.5, 0.0])


# -- samplers and the loader ------------------------------------------------------------
def test_batching_len_drop_last():
    ds = TensorDataset(engine.arange(10))
    assert [b[0].tolist() for b in DataLoader(ds, batch_size=4)] == \
        [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(DataLoader(ds, batch_size=4)) == 3
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[0]) for b in dl] == [4, 4]
    assert len(DataLoader(ds, batch_size=5, drop_last=True)) == 2
    assert [b[0].item() for b in DataLoader(ds, batch_size=None)][:3] == [0, 1, 2]
    assert len(DataLoader(ds)) == 10


def test_shuffle_is_a_permutation_and_reproducible():
    ds = TensorDataset(engine.arange(50))

    def epochs(loader, n=3):
        return [[v for b in loader for v in b[0].tolist()] for _ in range(n)]

    a = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=gen(3)))
    b = epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=gen(3)))
    assert a == b
    assert all(sorted(e) == list(range(50)) for e in a)
    assert a[0] != a[1] != a[2]  # a new order each epoch
    assert a != epochs(DataLoader(ds, batch_size=8, shuffle=True, generator=gen(4)))
    engine.manual_seed(0)
    c = epochs(DataLoader(ds, batch_size=8, shuffle=True))
    engine.manual_seed(0)
    assert c == epochs(DataLoader(ds, batch_size=8, shuffle=True))


def test_fast_path_equals_per_sample_collate():
    rng = np.random.default_rng(0)
    ds = TensorDataset(engine.tensor(rng.standard_normal((37, 3, 2)).astype(np.float32)),
                       engine.arange(37), engine.tensor(rng.random(37) > 0.5))
    sub = random_split(ds, [30, 7], generator=gen(0))[0]
    for d in (ds, sub):
        fast = DataLoader(d, batch_size=8, shuffle=True, generator=gen(1))
        slow = DataLoader(d, batch_size=8, shuffle=True, generator=gen(1),
                          collate_fn=lambda b: default_collate(b))
        assert data.dataloader._fast_fetch(d) is not None
        for _ in range(2):
            for f, s in zip(fast, slow, strict=True):
                assert isinstance(f, list) and flat(f) == flat(s)


def test_fast_path_keeps_autograd():
    w = engine.ones(4, 2, requires_grad=True)
    (x,) = next(iter(DataLoader(TensorDataset(w), batch_size=3)))
    x.sum().backward()
    assert w.grad.tolist() == [[1.0, 1.0]] * 3 + [[0.0, 0.0]]


@needs_torch
def test_loader_matches_torch_unshuffled():
    x = np.arange(30, dtype=np.float32).reshape(10, 3)
    y = np.arange(10)
    ours = DataLoader(TensorDataset(engine.tensor(x), engine.tensor(y)), batch_size=4)
    ref = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(torch.tensor(x), torch.tensor(y)), batch_size=4)
    assert [flat(b) for b in ours] == [flat(b) for b in ref]
    dicts = [{"x": x[i], "y": float(y[i])} for i in range(10)]
    assert [flat(b) for b in DataLoader(dicts, batch_size=3)] == \
        [flat(b) for b in torch.utils.data.DataLoader(dicts, batch_size=3)]


def test_samplers():
    s = RandomSampler(range(5), replacement=True, num_samples=12, generator=gen(0))
    drawn = list(s)
    assert len(drawn) == len(s) == 12 and all(0 <= i < 5 for i in drawn)
    more = list(RandomSampler(range(4), num_samples=10, generator=gen(0)))
    assert len(more) == 10 and sorted(more[:4]) == [0, 1, 2, 3]
    assert sorted(SubsetRandomSampler([5, 1, 9], generator=gen(0))) == [1, 5, 9]
    w = list(WeightedRandomSampler([0.0, 3.0, 1.0], 400, generator=gen(0)))
    assert 0 not in w and 250 < w.count(1) < 350
    nr = list(WeightedRandomSampler([1.0, 0.0, 1.0, 1.0], 3, replacement=False,
                                    generator=gen(0)))
    assert sorted(nr) == [0, 2, 3]
    assert list(BatchSampler([4, 3, 2, 1, 0], 2, drop_last=True)) == [[4, 3], [2, 1]]
    assert list(SequentialSampler("abc")) == [0, 1, 2]
    dl = DataLoader(list("abcdef"), batch_size=2, sampler=SubsetRandomSampler([0, 2, 4],
                                                                             generator=gen(0)))
    assert sorted(v for b in dl for v in b) == ["a", "c", "e"]


def test_loader_errors():
    ds = TensorDataset(engine.arange(4))
    for bad in (-1, 0, 1.5):
        with pytest.raises(ValueError, match="batch_size should be a positive integer"):
            DataLoader(ds, batch_size=bad)
    with pytest.raises(ValueError, match="num_workers option should be non-negative"):
        DataLoader(ds, num_workers=-1)
    with pytest.raises(ValueError, match="mutually exclusive with shuffle"):
        DataLoader(ds, sampler=SequentialSampler(ds), shuffle=True)
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(ds, batch_sampler=[[0, 1]], batch_size=2)
    with pytest.raises(ValueError, match="mutually exclusive with drop_last"):
        DataLoader(ds, batch_size=None, drop_last=True)
    with pytest.raises(ValueError, match="drop_last should be a boolean"):
        BatchSampler(range(3), 2, drop_last=1)
    with pytest.raises(ValueError, match="num_samples should be a positive integer"):
        RandomSampler([])
    with pytest.raises(TypeError, match="replacement should be a boolean"):
        RandomSampler(range(3), replacement=1)
    with pytest.raises(ValueError, match="expected unspecified shuffle"):
        DataLoader(_Stream(3), shuffle=True)
    with pytest.raises(ValueError, match="should not be set after"):
        DataLoader(ds).batch_size = 3


def test_num_workers_runs_in_process():
    ds = TensorDataset(engine.arange(6))
    out = [b[0].tolist() for b in DataLoader(ds, batch_size=4, num_workers=2)]
    assert out == [[0, 1, 2, 3], [4, 5]] and data.get_worker_info() is None


class _Stream(IterableDataset):
    def __init__(self, n):
        self.n = n

    def __iter__(self):
        return iter(range(self.n))

    def __len__(self):
        return self.n


def test_iterable_dataset():
    dl = DataLoader(_Stream(7), batch_size=3)
    assert len(dl) == 3 and [b.tolist() for b in dl] == [[0, 1, 2], [3, 4, 5], [6]]
    assert len(DataLoader(_Stream(7), batch_size=3, drop_last=True)) == 2
    assert [b.tolist() for b in DataLoader(_Stream(7), batch_size=3, drop_last=True)] == \
        [[0, 1, 2], [3, 4, 5]]
    assert list(DataLoader(_Stream(3), batch_size=None)) == [0, 1, 2]
    it = iter(dl)
    next(it)
    st = dl.state_dict()
    dl2 = DataLoader(_Stream(7), batch_size=3)
    dl2.load_state_dict(st)
    assert [b.tolist() for b in dl2] == [[3, 4, 5], [6]]


def test_engine_data_alias():
    assert engine.data.DataLoader is DataLoader and engine.data.random_split is random_split


# -- resumable position ---------------------------------------------------------------------
def _loaders():
    """name -> factory of (loader, uses the global RNG) pairs over the same data."""
    ds = TensorDataset(engine.arange(22).reshape(11, 2).float(), engine.arange(11))

    class Plain(Dataset):
        def __len__(self):
            return 11

        def __getitem__(self, i):
            return {"i": i, "v": float(i) / 2}

    return {
        "tensor_gen": lambda: DataLoader(ds, batch_size=3, shuffle=True, generator=gen(7)),
        "tensor_drop_last": lambda: DataLoader(ds, batch_size=4, shuffle=True, drop_last=True,
                                               generator=gen(8)),
        "global_rng": lambda: DataLoader(ds, batch_size=3, shuffle=True),
        "plain_dataset": lambda: DataLoader(Plain(), batch_size=2, shuffle=True,
                                            generator=gen(9)),
        "subset": lambda: DataLoader(Subset(ds, [10, 0, 3, 4, 5, 9, 8]), batch_size=2,
                                     shuffle=True, generator=gen(1)),
        "sequential": lambda: DataLoader(ds, batch_size=4),
        "replacement": lambda: DataLoader(ds, batch_size=3, sampler=RandomSampler(
            ds, replacement=True, num_samples=8, generator=gen(2))),
        "weighted_no_batching": lambda: DataLoader(ds, batch_size=None, sampler=(
            WeightedRandomSampler(list(range(11)), 5, generator=gen(3)))),
        "batch_sampler_list": lambda: DataLoader(ds, batch_sampler=[[3, 1], [0], [5, 6, 2]]),
    }


def _run(loader, epochs, stop=None, after_stop=None):
    """The batches of `epochs` epochs (as Python values). With stop=(epoch, batch), break
    out of that epoch once `batch` batches were consumed and return the loader state."""
    seen = []
    for epoch in range(epochs):
        it = iter(loader)
        if stop is not None and epoch == stop[0] and stop[1] == 0:
            return seen, loader.state_dict(), engine.get_rng_state()
        for i, b in enumerate(it, 1):
            seen.append(flat(b))
            engine.rand(1)  # training consumes the global RNG too (dropout)
            if stop is not None and (epoch, i) == stop:
                return seen, loader.state_dict(), engine.get_rng_state()
    return seen, loader.state_dict(), engine.get_rng_state()


def _resume(make, state, rng_state, epochs):
    engine.manual_seed(12345)  # a fresh process would start elsewhere
    loader = make()
    buf = io.BytesIO()
    engine.save({"loader": state}, buf)  # survives engine.save / engine.load
    loader.load_state_dict(engine.load(buf.getvalue())["loader"])
    engine.set_rng_state(rng_state)
    seen = []
    for _ in range(state["epoch"], epochs):
        for b in loader:
            seen.append(flat(b))
            engine.rand(1)
    return seen


@pytest.mark.parametrize("name", list(_loaders()))
def test_resume_at_every_batch_index(name):
    make = _loaders()[name]
    epochs = 3
    engine.manual_seed(0)
    ref, *_ = _run(make(), epochs)
    per_epoch = len(make())
    assert len(ref) == epochs * per_epoch
    for epoch in range(epochs):
        for batch in range(per_epoch + 1):
            engine.manual_seed(0)
            head, state, rng = _run(make(), epochs, stop=(epoch, batch))
            assert state["epoch"] == epoch and state["batch_index"] == batch
            assert head + _resume(make, state, rng, epochs) == ref, (epoch, batch)


def test_resume_from_epoch_boundary_and_before_start():
    make = _loaders()["tensor_gen"]
    ref, *_ = _run(make(), 3)
    loader = make()
    assert loader.state_dict()["batch_index"] == 0
    fresh = make()
    fresh.load_state_dict(loader.state_dict())
    assert _run(fresh, 3)[0] == ref
    first = [flat(b) for b in loader]  # a whole epoch, then the state points at the next
    state = loader.state_dict()
    assert state["epoch"] == 1 and state["batch_index"] == 0
    resumed = make()
    resumed.load_state_dict(state)
    assert first + _run(resumed, 2)[0] == ref


def test_load_state_dict_errors():
    loader = DataLoader(TensorDataset(engine.arange(6)), batch_size=2, shuffle=True)
    with pytest.raises(KeyError, match="missing"):
        loader.load_state_dict({"epoch": 0})
    with pytest.raises(ValueError, match="past the end"):
        loader.load_state_dict({"epoch": 0, "batch_index": 4, "generator_state": None})
    with pytest.raises(ValueError, match="non-negative int"):
        loader.load_state_dict({"epoch": -1, "batch_index": 0, "generator_state": None})
    with pytest.raises(ValueError, match="invalid generator state"):
        loader.load_state_dict({"epoch": 0, "batch_index": 0,
                                "generator_state": engine.zeros(4, dtype=engine.uint8)})


def test_generator_state_round_trip_and_errors():
    g = gen(11)
    engine.rand(3, generator=g)
    state = g.get_state()
    buf = io.BytesIO()
    engine.save({"g": state}, buf)
    restored = engine.Generator().set_state(engine.load(buf.getvalue())["g"])
    assert restored.initial_seed() == 11
    assert engine.equal(engine.rand(4, generator=restored), engine.rand(4, generator=g))
    assert engine.Generator().set_state(bytes(to_np(state))).initial_seed() == 11
    with pytest.raises(TypeError, match="uint8"):
        engine.Generator().set_state(state.float())
    with pytest.raises(TypeError):
        engine.Generator().set_state("nope")
    with pytest.raises(ValueError, match="invalid generator state"):
        engine.Generator().set_state(engine.tensor([1, 2, 3], dtype=engine.uint8))
    before = g.get_state()
    with pytest.raises(ValueError):
        g.set_state(b'{"seed": 1, "state": {"bit_generator": "MT19937"}}')
    assert engine.equal(g.get_state(), before)  # a failed set_state changes nothing
