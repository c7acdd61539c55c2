"""Movement, joining and splitting ops: values, float64 gradcheck, PyTorch parity, errors,
and version-counter sharing of views."""

import numpy as np
import pytest

import engine

from .helpers import DEVICES, check_op, torch

S234 = [(2, 3, 4)]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(4, -1),
    lambda x: x.reshape(24),
    lambda x: x.view(6, 4),
    lambda x: x.view(-1),
    lambda x: x.flatten(),
    lambda x: x.flatten(1),
    lambda x: x.flatten(0, 1),
    lambda x: x.transpose(0, 2).flatten(),  # flatten of a non-contiguous tensor copies
    lambda x: x.unflatten(2, (2, 2)),
    lambda x: x.unflatten(-1, (-1, 2)),
    lambda x: x.unsqueeze(0),
    lambda x: x.unsqueeze(-1),
    lambda x: x.unsqueeze(2).squeeze(),
    lambda x: x.permute(2, 0, 1),
    lambda x: x.permute((1, 2, 0)),
    lambda x: x.transpose(0, 2),
    lambda x: x.swapaxes(1, -1),
    lambda x: x.swapdims(0, 1),
    lambda x: x.mT,
    lambda x: x.movedim(0, -1),
    lambda x: x.movedim((0, 1), (2, 0)),
    lambda x: x.narrow(1, 1, 2),
    lambda x: x.narrow(-1, -3, 2),
    lambda x: x.flip(0),
    lambda x: x.flip(0, 2),
    lambda x: x.flip([1, -1]),
    lambda x: x.roll(1, 2),
    lambda x: x.roll((1, -2), (0, 2)),
    lambda x: x.roll(5),
    lambda x: x.tril(),
    lambda x: x.tril(-1),
    lambda x: x.triu(1),
    lambda x: x.triu(-2),
    lambda x: x.repeat(2, 1, 2),
    lambda x: x.repeat(2, 1, 1, 1),
    lambda x: x.tile((2,)),
    lambda x: x.expand(2, 2, 3, 4),
    lambda x: x[:, :1].expand(-1, 3, -1),
    lambda x: x.split(1, 1),
    lambda x: x.split(3, 2),
    lambda x: x.split([1, 3], 2),
    lambda x: x.chunk(2, 2),
    lambda x: x.chunk(3, -1),
    lambda x: x.unbind(1),
    lambda x: x.unbind(),
])
def test_movement_3d(fn, device):
    check_op(S234, fn, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_movement_2d_and_1d(device):
    check_op([(3, 4)], lambda x: x.t(), np.transpose, device=device)
    check_op([(3, 4)], lambda x: x.T, np.transpose, device=device)
    check_op([(4,)], lambda x: x.t(), lambda x: x, device=device)
    check_op([(1, 3, 1)], lambda x: x.squeeze(), device=device)
    check_op([(1, 3, 1)], lambda x: x.squeeze(0), device=device)
    check_op([(1, 3, 1)], lambda x: x.squeeze((0, 2)), device=device)
    check_op([(1, 3, 1)], lambda x: x.squeeze(1), device=device)  # not size 1: no-op
    check_op([()], lambda x: x.flatten(), lambda x: x.reshape(1), device=device)
    check_op([()], lambda x: x.unsqueeze(0), device=device)
    check_op([(5,)], lambda x: x.roll(-2), lambda x: np.roll(x, -2), device=device)
    check_op([(3, 4)], lambda x: x.tril(1), lambda x: np.tril(x, 1), device=device)
    check_op([(4, 3)], lambda x: x.triu(), np.triu, device=device)
    check_op([(2,)], lambda x: x.repeat(3), lambda x: np.tile(x, 3), device=device)
    check_op([(2, 3)], lambda x: x.tile((2, 1, 2)), lambda x: np.tile(x, (2, 1, 2)),
             device=device)
    check_op([(3, 1)], lambda x: x.expand_as(x.new_zeros((2, 3, 4))), device=device)
    check_op([(3, 4)], lambda x: x.view_as(x.new_zeros(4, 3)), device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_cat_stack(device):
    a, b = (2, 3), (4, 3)
    check_op([a, b], lambda x, y: engine.cat([x, y]) if isinstance(x, engine.Tensor)
             else torch.cat([x, y]), lambda x, y: np.concatenate([x, y]), device=device)
    check_op([(2, 3), (2, 1), (2, 2)], lambda x, y, z: _ns(x).cat((x, y, z), dim=-1),
             device=device)
    check_op([(2, 3), (2, 3)], lambda x, y: _ns(x).stack([x, y]), lambda x, y: np.stack([x, y]),
             device=device)
    check_op([(2, 3), (2, 3)], lambda x, y: _ns(x).stack([x, y], dim=2), device=device)
    check_op([(2, 3), (2, 3), (2, 3)], lambda x, y, z: _ns(x).stack((x, y, z), -2),
             device=device)
    check_op([(2,), (3,)], lambda x, y: _ns(x).hstack([x, y]), device=device)
    check_op([(3,), (2, 3)], lambda x, y: _ns(x).vstack([x, y]), device=device)
    check_op([(2, 3), (0,)], lambda x, y: _ns(x).concat([x, y]), device=device)  # legacy skip


def _ns(t):
    return engine if isinstance(t, engine.Tensor) else torch


@pytest.mark.parametrize("device", DEVICES)
def test_cat_mixed_requires_grad_and_dtypes(device):
    x = engine.randn(2, 3, device=device, requires_grad=True)
    c = engine.ones(1, 3, device=device)  # does not require grad
    out = engine.cat([c, x, c * 2], 0)
    assert out.shape == (4, 3) and out.requires_grad
    (out * engine.arange(12.0, device=device).reshape(4, 3)).sum().backward()
    np.testing.assert_allclose(x.grad.cpu().numpy(), np.arange(3.0, 9.0).reshape(2, 3))
    assert c.grad is None
    # int64 + float32 -> float32, float32 + float64 -> float64, as PyTorch
    i = engine.ones(1, 3, dtype=engine.int64, device=device)
    assert engine.cat([i, x]).dtype == engine.float32
    d = engine.ones(1, 3, dtype=engine.float64, device=device)
    y = engine.cat([x, d])
    assert y.dtype == engine.float64
    x.grad = None
    y.sum().backward()
    assert x.grad.dtype == engine.float32 and float(x.grad.sum()) == 6.0
    s = engine.stack([c[0], x[0]])
    s.sum().backward()
    assert s.shape == (2, 3)


@pytest.mark.parametrize("device", DEVICES)
def test_split_chunk_gradient(device):
    x = engine.arange(10.0, device=device, requires_grad=True)
    a, b, c = x.split([2, 5, 3])
    (a.sum() * 1 + (b * b).sum() * 2).backward()  # c unused: zero gradient there
    expect = np.r_[np.ones(2), 4 * np.arange(2.0, 7.0), np.zeros(3)]
    np.testing.assert_allclose(x.grad.cpu().numpy(), expect)
    parts = x.chunk(4)
    assert [p.shape[0] for p in parts] == [3, 3, 3, 1]
    assert len(engine.arange(6).chunk(4)) == 3
    assert [p.shape[0] for p in engine.zeros(0).chunk(3)] == [0, 0, 0]
    rows = engine.ones(2, 3, device=device, requires_grad=True).unbind(1)
    assert len(rows) == 3 and rows[0].shape == (2,)
    engine.autograd.backward([rows[2]], [engine.ones(2, device=device)])


def test_double_backward_through_movement():
    for fn in (lambda x: (x.permute(1, 0) ** 3).flip(0).sum(),
               lambda x: (_ns(x).cat([x, x.t()]) ** 2).split(2)[1].sum(),
               lambda x: (x.repeat(2, 1).tril() ** 3).sum()):
        x = engine.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
        (g,) = engine.autograd.grad(fn(x), x, create_graph=True)
        (gg,) = engine.autograd.grad(g.sum(), x)
        if torch is not None:
            t = torch.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
            (tg,) = torch.autograd.grad(fn(t), t, create_graph=True)
            (tgg,) = torch.autograd.grad(tg.sum(), t)
            np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-5)


# -- views share the version counter ---------------------------------------------
@pytest.mark.parametrize("make_view", [
    lambda b: b.transpose(0, 1), lambda b: b.permute(1, 0), lambda b: b.narrow(0, 1, 2),
    lambda b: b.unsqueeze(0), lambda b: b[None].squeeze(0), lambda b: b.flatten(),
    lambda b: b.T, lambda b: b.view(12), lambda b: b.split(2)[1], lambda b: b.unbind(1)[0],
    lambda b: b.chunk(2, 1)[0], lambda b: b[1:, ::2], lambda b: b.mT,
])
def test_views_share_version_counter(make_view):
    x = engine.randn(3, 4, requires_grad=True)
    b = x * 1
    v = make_view(b)
    assert v._version == b._version
    y = (v * v).sum()  # saves v
    with engine.no_grad():
        b[0, 0] = 5.0
    assert v._version == b._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_copies_do_not_share_version_counter():
    x = engine.randn(3, 4, requires_grad=True)
    for make in (lambda b: b.flip(0), lambda b: b.roll(1), lambda b: b.tril(),
                 lambda b: b.repeat(1, 2), lambda b: engine.cat([b, b]),
                 lambda b: b.transpose(0, 1).flatten()):
        b = x * 1
        v = make(b)
        y = (v * v).sum()
        with engine.no_grad():
            b[0, 0] = 5.0
        y.backward()  # v was a copy: unaffected
    assert x.grad is not None


def test_view_writes_reach_the_base():
    base = engine.zeros(3, 4)
    v = base.transpose(0, 1).narrow(0, 1, 2)
    v[0] = 7.0
    assert base[:, 1].tolist() == [7.0, 7.0, 7.0]
    assert base._version == v._version == 1


# -- PyTorch's errors ----------------------------------------------------------------
@pytest.mark.parametrize("fn,exc,msg", [
    (lambda x: x.permute(0), RuntimeError, "does not match the length"),
    (lambda x: x.permute(0, 0), RuntimeError, "duplicate dims"),
    (lambda x: x.unsqueeze(3), IndexError, r"range of \[-3, 2\], but got 3"),
    (lambda x: x.squeeze(2), IndexError, "Dimension out of range"),
    (lambda x: x.movedim((0, 1), (0,)), RuntimeError, "should contain the same number"),
    (lambda x: x.movedim((0, 0), (0, 1)), RuntimeError, "repeated dim in `source`"),
    (lambda x: x.repeat(2), RuntimeError, "can not be smaller"),
    (lambda x: x.narrow(1, 2, 2), RuntimeError, r"start \(2\) \+ length \(2\) exceeds"),
    (lambda x: x.narrow(1, 5, 0), IndexError, "start out of range"),
    (lambda x: x.narrow(1, 0, -1), RuntimeError, "length must be non-negative"),
    (lambda x: x.unflatten(1, (2, 2)), RuntimeError, "don't multiply up"),
    (lambda x: x.flatten(1, 0), RuntimeError, "start_dim cannot come after end_dim"),
    (lambda x: x[0].tril(), RuntimeError, "at least 2 dimensions"),
    (lambda x: x.view(3, 3), RuntimeError, "is invalid for input of size 6"),
    (lambda x: x.t().view(6), RuntimeError, "view size is not compatible"),
    (lambda x: x.roll((1, 2), 0), RuntimeError, "shifts and dimensions must align"),
    (lambda x: x.split([1, 1], 1), RuntimeError, "split_with_sizes expects split_sizes to sum"),
    (lambda x: x.split(0), RuntimeError, "split_size can only be 0"),
    (lambda x: x.chunk(0), RuntimeError, "greater than 0"),
    (lambda x: x[0].mT, RuntimeError, "mT is only supported on matrices"),
    (lambda x: x.expand(3, 3), RuntimeError, "must match the existing size"),
])
def test_errors(fn, exc, msg):
    with pytest.raises(exc, match=msg):
        fn(engine.ones(2, 3))
    if torch is not None:
        with pytest.raises(exc):
            fn(torch.ones(2, 3))


def test_join_errors():
    with pytest.raises(ValueError, match="expected a non-empty list"):
        engine.cat([])
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        engine.cat([engine.ones(2, 3), engine.ones(2, 4)])
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        engine.cat([engine.ones(2, 3), engine.ones(3)])
    with pytest.raises(RuntimeError, match=r"zero-dimensional tensor \(at position 1\)"):
        engine.cat([engine.ones(2), engine.tensor(1.0)])
    with pytest.raises(RuntimeError, match=r"got \[3\] at entry 0 and \[4\] at entry 1"):
        engine.stack([engine.ones(3), engine.ones(4)])
    with pytest.raises(RuntimeError, match="non-empty TensorList"):
        engine.stack([])
    with pytest.raises(TypeError):
        engine.cat(engine.ones(2))
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        engine.ones(2, 3, 4).t()
