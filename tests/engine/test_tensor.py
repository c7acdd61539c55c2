import numpy as np
import pytest

import engine

from .helpers import needs_torch, torch


def test_attributes():
    x = engine.zeros(2, 3, requires_grad=True)
    assert x.shape == (2, 3) and x.size() == engine.Size([2, 3]) and x.size(-1) == 3
    assert x.dim() == x.ndim == 2 and x.numel() == 6
    assert x.dtype == engine.float32 and x.device == engine.device("cpu")
    assert x.requires_grad and x.is_leaf and x.grad is None and x.grad_fn is None
    assert x.T.shape == (3, 2) if hasattr(x, "T") else True
    with pytest.raises(IndexError, match="Dimension out of range"):
        x.size(2)


def test_item_tolist_numpy():
    t = engine.tensor([[1.5, 2.0]])
    assert t.tolist() == [[1.5, 2.0]]
    assert engine.tensor([3]).item() == 3 and isinstance(engine.tensor([3]).item(), int)
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        t.item()
    arr = t.numpy()
    arr[0, 0] = 7  # numpy() shares memory, like PyTorch
    assert t[0, 0].item() == 7 if hasattr(engine.Tensor, "__getitem__") else True


def test_detach_shares_data_and_leaves_graph():
    x = engine.ones(2, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y._data)


def test_clone_is_a_differentiable_copy():
    x = engine.ones(2, requires_grad=True)
    c = x.clone()
    assert c.grad_fn is not None
    c.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    with engine.no_grad():
        c.add_(1)
    assert x.tolist() == [1.0, 1.0]


def test_requires_grad_rules():
    with pytest.raises(RuntimeError, match="floating point dtype"):
        engine.tensor([1, 2], requires_grad=True)
    x = engine.ones(2).requires_grad_()
    assert x.requires_grad
    y = x * 2
    with pytest.raises(RuntimeError, match="leaf variables"):
        y.requires_grad = False
    assert not x.detach().requires_grad


def test_dtype_conversions():
    x = engine.tensor([1.7, -2.2])
    assert x.double().dtype == engine.float64
    assert x.half().dtype == engine.float16
    assert x.long().tolist() == [1, -2]
    assert x.int().dtype == engine.int32
    assert x.bool().tolist() == [True, True]
    assert x.float() is x


def test_contiguous():
    x = engine.arange(6).reshape(2, 3)
    assert x.contiguous() is x and x.is_contiguous()


def test_data_attribute_swaps_storage():
    p = engine.ones(2, requires_grad=True)
    p.data = engine.zeros(2)
    assert p.requires_grad and p.tolist() == [0.0, 0.0]
    p.data.add_(1)  # .data is outside the graph
    assert p.tolist() == [1.0, 1.0]


def test_bool_and_len():
    assert bool(engine.tensor([1.0])) is True
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(engine.ones(2))
    assert len(engine.zeros(4, 2)) == 4
    with pytest.raises(TypeError):
        len(engine.tensor(1.0))
    assert float(engine.tensor(2.5)) == 2.5 and int(engine.tensor(3)) == 3


def test_numpy_scalars_defer_to_tensor():
    t = np.float32(2.0) * engine.ones(2)
    assert isinstance(t, engine.Tensor) and t.dtype == engine.float32


def test_tensors_are_not_picklable():
    import pickle

    with pytest.raises(TypeError, match="safetensors"):
        pickle.dumps(engine.ones(2))


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.tensor([1.0, 2.0]),
        lambda lib: lib.tensor([[1.5, 2.25], [3.0, -4.125]]),
        lambda lib: lib.tensor([1, 2, 3]),
        lambda lib: lib.tensor([True, False]),
        lambda lib: lib.tensor([True, True]),
        lambda lib: lib.tensor([[True], [False]]),
        lambda lib: lib.tensor(3.5),
        lambda lib: lib.tensor([[1.0, 2.0]], requires_grad=True),
        lambda lib: lib.zeros(2, 3),
    ],
)
@needs_torch
def test_repr_matches_pytorch(make):
    assert repr(make(engine)) == repr(make(torch))


def test_repr_shows_dtype_and_grad_fn():
    x = engine.ones(2, dtype=engine.float64)
    assert repr(x) == "tensor([1., 1.], dtype=engine.float64)"
    y = engine.ones(2, requires_grad=True) * 2
    assert repr(y) == "tensor([2., 2.], grad_fn=<MulBackward0>)"


def test_deepcopy_copies_leaves_and_refuses_non_leaves():
    import copy

    p = engine.ones(2, requires_grad=True)
    (p * 2).sum().backward()
    q = copy.deepcopy(p)
    assert q.requires_grad and q.grad.tolist() == [2.0, 2.0]
    q.data.add_(1)
    assert p.tolist() == [1.0, 1.0]
    with pytest.raises(RuntimeError, match="deepcopy"):
        copy.deepcopy(p * 2)
