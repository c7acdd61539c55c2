"""Indexing (getitem/setitem) and gather/scatter ops: values, float64 gradcheck, PyTorch
parity (including accumulation of repeated indices), errors and in-place semantics."""

import numpy as np
import pytest

import engine

from .helpers import DEVICES, check_op, fake_device, torch

S234 = [(2, 3, 4)]
I = np.array  # noqa: E741 - index arrays passed as (non-differentiable) inputs


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [
    lambda x: x[1],
    lambda x: x[-1],
    lambda x: x[0, -2],
    lambda x: x[1, 2, 3],
    lambda x: x[:, 1:3],
    lambda x: x[::2, ::2, 1::2],
    lambda x: x[:, -2:, :-1],
    lambda x: x[..., 0],
    lambda x: x[None, 1, ..., None],
    lambda x: x[..., None, 1:],
    lambda x: x[1, ...],
    lambda x: x[...],
    lambda x: x[5:],  # empty
    lambda x: x[[0, 0, 1]],  # repeated rows: gradient accumulates
    lambda x: x[[1, 0], [2, 2]],
    lambda x: x[:, [2, 0, 2]],
    lambda x: x[:, [0, 2], [1, 1]],
    lambda x: x[[0, 1], :, [3, 3]],  # non-adjacent advanced dims go first
    lambda x: x[0, :, [0, 1, 0]],  # PyTorch selects the int first: shape (3, 3)
    lambda x: x[1:, [-1, -3]],
    lambda x: x[[[0], [1]], [[0, 1, 2]]],  # broadcast index arrays
    lambda x: x[None, [1, 1], ..., None],
    lambda x: x[x > 0],
    lambda x: x[x[:, 0, 0] > 0],
    lambda x: x[1][x[1] < 0.5],
    lambda x: x[:, x[0, :, 0] > -1, 1:],
    lambda x: x[True],
    lambda x: x[[]],
])
def test_getitem(fn, device):
    check_op(S234, fn, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_getitem_tensor_indices(device):
    check_op([(4, 3), I([0, 3, 3, -1])], lambda x, i: x[i], lambda x, i: x[i], device=device)
    check_op([(4, 3), I([[0, 1], [1, 1]])], lambda x, i: x[i, 1:], device=device)
    check_op([(4, 3), I([2, 0]), I([1, 1])], lambda x, i, j: x[i, j], device=device)
    check_op([(4, 3), I(2)], lambda x, i: x[i], lambda x, i: x[i], device=device)  # 0-d: int
    check_op([(4, 3), I([True, False, True, True])], lambda x, m: x[m],
             lambda x, m: x[m], device=device)
    mask = I([[True, False, True], [False, False, True], [True, True, True], [False] * 3])
    check_op([(4, 3), mask], lambda x, m: x[m], lambda x, m: x[m], device=device)
    check_op([(2, 4, 3), mask], lambda x, m: x[:, m], device=device)


def test_getitem_numpy_index_and_views():
    x = engine.arange(12.0).reshape(3, 4)
    assert x[np.array([2, 0])].tolist() == [[8, 9, 10, 11], [0, 1, 2, 3]]
    assert x[np.int64(1), np.array([True, False, False, True])].tolist() == [4.0, 7.0]
    v = x[1]
    v[0] = 100.0  # basic indexing is a view
    assert x[1, 0].item() == 100.0 and x._version == 1
    c = x[[1]]
    c[0, 0] = -1.0  # advanced indexing copies
    assert x[1, 0].item() == 100.0
    assert x[engine.tensor(2)].shape == (4,)
    assert x[1:2, engine.tensor([0, 1])].shape == (1, 2)
    assert x[False].shape == (0, 3, 4)
    assert list(x[0]) == list(x[0].unbind())


def test_repeated_index_gradient_accumulates():
    x = engine.ones(3, 2, requires_grad=True)
    x[[0, 0, 1]].sum().backward()
    assert x.grad.tolist() == [[2.0, 2.0], [1.0, 1.0], [0.0, 0.0]]
    x.grad = None
    (x[engine.tensor([2, 2, 2]), engine.tensor([1, 1, 0])] * engine.tensor([1.0, 2.0, 4.0]))\
        .sum().backward()
    assert x.grad.tolist() == [[0, 0], [0, 0], [4.0, 3.0]]


def test_double_backward_through_indexing():
    def fn(x):
        return ((x[[0, 0, 1]] ** 3).sum() + (x[:, 1:] ** 2 * x[x > 0][:1]).sum())

    x = engine.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    (g,) = engine.autograd.grad(fn(x), x, create_graph=True)
    (gg,) = engine.autograd.grad(g.sum(), x)
    t = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
    (tg,) = torch.autograd.grad(fn(t), t, create_graph=True)
    (tgg,) = torch.autograd.grad(tg.sum(), t)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-6)


@pytest.mark.parametrize("index,exc,msg", [
    (5, IndexError, "index 5 is out of bounds for dimension 0 with size 3"),
    (-4, IndexError, "index -4 is out of bounds for dimension 0 with size 3"),
    ((0, 0, 0), IndexError, "too many indices for tensor of dimension 2"),
    ((slice(None), [0, 5]), IndexError, "index 5 is out of bounds"),
    (slice(None, None, -1), ValueError, "step must be greater than zero"),
    (1.0, IndexError, "only integers, slices"),
    ([0.5], IndexError, "tensors used as indices must be long, int, byte or bool tensors"),
    ((..., ...), IndexError, "single ellipsis"),
])
def test_getitem_errors(index, exc, msg):
    with pytest.raises(exc, match=msg):
        engine.ones(3, 3)[index]


def test_getitem_mask_and_0d_errors():
    with pytest.raises(IndexError, match=r"The shape of the mask \[2\] at index 0 does not"):
        engine.ones(3, 3)[engine.tensor([True, False])]
    with pytest.raises(IndexError, match="invalid index of a 0-dim tensor"):
        engine.tensor(1.0)[0]
    with pytest.raises(IndexError, match="tensors used as indices"):
        engine.ones(3)[engine.tensor([1.0])]


# -- setitem ------------------------------------------------------------------------
def _set(index, value_from_input=True):
    def fn(x, y=None):
        z = x * 1
        z[index] = y if value_from_input else 2.5
        return z
    return fn


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_with_grad(device):
    check_op([(3, 4), (4,)], _set(0), device=device)
    check_op([(3, 4), (3, 2)], _set((slice(None), slice(1, 3))), device=device)
    check_op([(3, 4), (2,)], _set((slice(None), slice(1, 3))), device=device)  # broadcast
    check_op([(3, 4), (1, 4)], _set(-1), device=device)  # leading size-1 dim
    check_op([(3, 4), (2, 4)], _set([2, 0]), device=device)
    check_op([(3, 4), (2,)], _set(([0, 2], [1, 3])), device=device)
    check_op([(3, 4), ()], _set((..., 1)), device=device)
    check_op([(2, 3, 4), (3, 2)], _set((0, slice(None), [1, 2])), device=device)
    check_op([(3, 4)], lambda x: _set(x > 0, False)(x), device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_setitem_value_requires_grad_target_does_not(device):
    def fn(y):
        z = y.new_zeros((3, 4))
        z[1:, 2] = y
        return z * 3

    check_op([(2,)], fn, device=device)
    z = engine.zeros(3, 4, device=device)
    y = engine.ones(4, device=device, requires_grad=True)
    z[0] = y
    assert z.requires_grad and not z.is_leaf and z._version == 1
    z.sum().backward()
    assert y.grad.tolist() == [1.0] * 4


def test_setitem_matches_torch_chain():
    x_leaf = engine.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = engine.tensor([5.0, 6.0], requires_grad=True)
    x = x_leaf * 1
    x[0] = y * 2
    (x * x).sum().backward()
    tx_leaf = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    ty = torch.tensor([5.0, 6.0], requires_grad=True)
    tx = tx_leaf * 1
    tx[0] = ty * 2
    (tx * tx).sum().backward()
    np.testing.assert_allclose(x_leaf.grad.numpy(), tx_leaf.grad.numpy())
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy())


def test_setitem_without_grad_writes_in_place():
    x = engine.zeros(2, 3)
    alias = x.detach()
    x[0, 1:] = 5.0
    x[1] = engine.tensor([1, 2, 3])  # int value cast to x's dtype
    x[engine.tensor([[True, False, False], [False, False, False]])] = -1.0
    assert alias.tolist() == [[-1.0, 5.0, 5.0], [1.0, 2.0, 3.0]]
    assert x._version == alias._version == 3
    i = engine.zeros(3, dtype=engine.int64)
    i[[0, 2]] = 7.9
    assert i.tolist() == [7, 0, 7] and i.dtype == engine.int64
    leaf = engine.zeros(3, requires_grad=True)
    with engine.no_grad():
        leaf[1] = 2.0
    assert leaf.tolist() == [0.0, 2.0, 0.0] and leaf.is_leaf and leaf._version == 1


def test_setitem_errors():
    leaf = engine.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used"):
        leaf[0] = 1.0
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used"):
        leaf[[0, 1]] = engine.ones(2, requires_grad=True)
    assert leaf.tolist() == [0.0, 0.0, 0.0] and leaf._version == 0
    with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
        leaf.unsqueeze(0)[0, 1:][0] = 1.0
    assert leaf.tolist() == [0.0, 0.0, 0.0]
    copy = leaf.expand(2, 3).reshape(6)  # reshape of an expanded tensor copies: allowed
    copy[0] = 1.0
    assert leaf.tolist() == [0.0, 0.0, 0.0] and copy.tolist()[:2] == [1.0, 0.0]
    with pytest.raises(RuntimeError, match=r"value tensor of shape \[3\] cannot be broadcast "
                                           r"to indexing result of shape \[2\]"):
        engine.zeros(3)[[0, 1]] = engine.ones(3)
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        engine.zeros(3).expand(2, 3)[:, 0] = 1.0


def test_setitem_after_save_raises_on_backward():
    x = engine.ones(3, requires_grad=True)
    b = x * 2
    y = (b * b).sum()  # saves b
    b[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    w = engine.ones(3, requires_grad=True)
    y = (w * w).sum()
    w.detach()[1] = 3.0  # data write through a detached alias bumps the shared counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# -- gather / scatter family ------------------------------------------------------
IDX = I([[0, 2, 1, 0], [2, 2, 0, 1]])  # for (3, 4) inputs along dim 0
PERM = I([[1, 0, 2, 2], [0, 2, 1, 0]])  # no repeats per column (scatter is deterministic)


@pytest.mark.parametrize("device", DEVICES)
def test_gather_family(device):
    check_op([(3, 4), IDX], lambda x, i: x.gather(0, i),
             lambda x, i: np.take_along_axis(x, i, 0), device=device)
    check_op([(3, 4), I([[3, 3], [0, 1], [2, 2]])], lambda x, i: x.gather(1, i), device=device)
    check_op([(3, 4), I([[0], [2]])], lambda x, i: x.gather(-1, i), device=device)  # smaller
    check_op([(3, 4), I([2, 0, 2])], lambda x, i: x.index_select(0, i), device=device)
    check_op([(3, 4), I([3, 1])], lambda x, i: x.index_select(-1, i), device=device)
    check_op([(3, 4), IDX], lambda x, i: _ns(x).take_along_dim(x, i, 0), device=device)
    check_op([(3, 4), I([[1], [0], [3]])], lambda x, i: _ns(x).take_along_dim(x, i, 1),
             device=device)
    check_op([(3, 4), I([0, 11, 5, 5])], lambda x, i: _ns(x).take_along_dim(x, i),
             device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_scatter_family(device):
    check_op([(3, 4), PERM, (2, 4)], lambda x, i, s: x.scatter(0, i, s), device=device)
    # a src larger than the index: only its corner is read (torch's backward rejects this)
    check_op([(3, 4), PERM, (3, 5)], lambda x, i, s: x.scatter(0, i, s),
             torch_fn=lambda x, i, s: x.scatter(0, i, s[:2, :4]), device=device)
    check_op([(3, 4), I([[3, 0], [1, 2], [0, 0]])], lambda x, i: x.scatter(1, i, 2.5),
             device=device)
    check_op([(3, 4), IDX, (2, 4)], lambda x, i, s: x.scatter_add(0, i, s), device=device)
    check_op([(3, 4), IDX, (2, 4)], lambda x, i, s: x.scatter(0, i, s, reduce="add")
             if isinstance(x, engine.Tensor) else x.scatter_add(0, i, s), device=device)
    check_op([(3, 4), I([0, 2, 0]), (3, 4)], lambda x, i, s: x.index_add(0, i, s),
             device=device)
    check_op([(3, 4), I([1, 1]), (3, 2)], lambda x, i, s: x.index_add(1, i, s, alpha=2.0),
             device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_masked_ops(device):
    check_op([(3, 4)], lambda x: x.masked_fill(x > 0, 0.0),
             lambda x: np.where(x > 0, np.float32(0), x), device=device)
    check_op([(3, 4), ()], lambda x, v: x.masked_fill(x < 0.5, v), device=device)
    check_op([(3, 4), I([True, False, False, True])], lambda x, m: x.masked_fill(m, -1.0),
             device=device)
    check_op([(4,), I([[True], [False]])], lambda x, m: x.masked_fill(m, 2.0), device=device)
    check_op([(3, 4)], lambda x: x.masked_select(x > 0), lambda x: x[x > 0], device=device)
    check_op([(3, 4), I([True, False, True, True])], lambda x, m: x.masked_select(m),
             device=device)
    check_op([(4,), I([[True], [False], [True]])], lambda x, m: x.masked_select(m),
             device=device)


def _ns(t):
    return engine if isinstance(t, engine.Tensor) else torch


def test_gather_family_int_values_and_results():
    x = engine.tensor([[1, 2], [3, 4]])
    assert x.gather(1, engine.tensor([[1, 1], [0, 1]])).tolist() == [[2, 2], [3, 4]]
    assert engine.zeros(3).scatter_add(0, engine.tensor([0, 0, 2]), engine.ones(3)).tolist() \
        == [2.0, 0.0, 1.0]
    assert x.masked_fill(x > 2, 9.7).tolist() == [[1, 2], [9, 9]]
    assert x.gather(0, engine.tensor([[1, 0]], dtype=engine.int32)).tolist() == [[3, 2]]


@pytest.mark.parametrize("fn,exc,msg", [
    (lambda x: x.gather(0, engine.tensor([0])), RuntimeError, "same number of dimensions"),
    (lambda x: x.gather(0, engine.tensor([[5]])), RuntimeError, "index 5 is out of bounds"),
    (lambda x: x.gather(0, engine.tensor([[-1]])), RuntimeError, "index -1 is out of bounds"),
    (lambda x: x.gather(0, engine.zeros(2, 4, dtype=engine.int64)), RuntimeError,
     "Size does not match at dimension 1"),
    (lambda x: x.gather(0, engine.tensor([[0.0]])), RuntimeError, "Expected dtype int"),
    (lambda x: x.scatter(0, engine.zeros(2, 3, dtype=engine.int64),
                         engine.ones(2, 3, dtype=engine.float64)), RuntimeError,
     "Expected self.dtype to be equal to src.dtype"),
    (lambda x: x.scatter(0, engine.zeros(2, 3, dtype=engine.int64), engine.ones(1, 3)),
     RuntimeError, "to be no larger size than src"),
    (lambda x: x.index_select(0, engine.tensor([[0]])), IndexError, "supposed to be a vector"),
    (lambda x: x.index_select(0, engine.tensor([5])), IndexError, "index out of range in self"),
    (lambda x: x.masked_fill(engine.ones(2, 3), 1), RuntimeError, "only supports boolean masks"),
    (lambda x: x.masked_fill(engine.ones(2, 3, dtype=engine.bool), engine.ones(2)),
     RuntimeError, "0-dimensional value tensor"),
    (lambda x: x.masked_select(engine.ones(2, 3)), RuntimeError, "expected BoolTensor"),
    (lambda x: engine.take_along_dim(x, engine.zeros(2, dtype=engine.int64), 0), RuntimeError,
     "should have the same number of dimensions"),
    (lambda x: x.index_add(0, engine.tensor([0]), engine.ones(1, 4)), RuntimeError,
     "source tensor shape must match self tensor shape"),
])
def test_gather_family_errors(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(engine.ones(2, 3))


# -- devices (a NumPy-backed second device stands in for CUDA on CPU-only machines) ----
def _fake_device():
    return fake_device()


def test_indices_and_values_from_the_cpu():
    dev = _fake_device()
    x = engine.arange(12.0, device=dev).reshape(3, 4)
    assert x[engine.tensor([2, 0]), engine.tensor(1)].cpu().tolist() == [9.0, 1.0]
    assert x[np.array([True, False, True])].shape == (2, 4)
    x[engine.tensor([0]), 0] = engine.tensor(-1.0)  # a 0-d CPU value is allowed
    assert x[0, 0].item() == -1.0 and x.device == engine.device(dev)
    with pytest.raises(RuntimeError, match="same device"):
        x[0] = engine.ones(4)
    with pytest.raises(RuntimeError, match="same device"):
        engine.cat([x, engine.ones(1, 4)])
    with pytest.raises(RuntimeError, match="same device"):
        x.gather(0, engine.zeros(1, 4, dtype=engine.int64))
    y = engine.ones(3, 4, device=dev, requires_grad=True)
    engine.cat([y, x]).split(2)[1].sum().backward()
    assert y.grad.device == engine.device(dev) and y.grad.cpu().sum().item() == 4.0
