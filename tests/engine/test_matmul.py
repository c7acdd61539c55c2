import numpy as np
import pytest

import engine

from .helpers import DEVICES, check_op, needs_torch, to_np, torch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shapes", [
    [(4,), (4,)],                   # dot -> 0-d
    [(3,), (3, 5)],                 # vector @ matrix
    [(3, 4), (4,)],                 # matrix @ vector
    [(3, 4), (4, 5)],               # matrix @ matrix
    [(2, 3, 4), (2, 4, 5)],         # batched
    [(2, 3, 4), (4, 5)],            # batched @ matrix
    [(3, 4), (2, 4, 5)],            # matrix @ batched
    [(2, 1, 3, 4), (5, 4, 2)],      # broadcast batch dims
    [(1, 3, 4), (2, 1, 4, 2)],      # broadcast on both sides
    [(4,), (2, 4, 3)],              # vector @ batched
    [(2, 2, 3, 4), (4,)],           # batched @ vector
    [(1, 4), (4, 1)],               # 1x1 result
], ids=lambda s: "@".join("x".join(map(str, t)) for t in s))
def test_matmul(shapes, device):
    check_op(shapes, lambda a, b: a @ b, np.matmul, device=device)
    check_op(shapes, lambda a, b: engine.matmul(a, b) if isinstance(a, engine.Tensor)
             else torch.matmul(a, b), np.matmul, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_named_products(device):
    check_op([(3, 4), (4, 2)], lambda a, b: a.mm(b), np.matmul, device=device)
    check_op([(2, 3, 4), (2, 4, 5)], lambda a, b: a.bmm(b), np.matmul, device=device)
    check_op([(5,), (5,)], lambda a, b: a.dot(b), np.dot, device=device)
    check_op([(3, 4), (4,)], lambda a, b: a.mv(b), np.matmul, device=device)
    check_op([(3,), (4,)], lambda a, b: a.outer(b), np.outer, device=device)
    check_op([(2, 3), (4, 3)], lambda a, b: a.inner(b), np.inner, device=device)
    check_op([(3,), (3,)], lambda a, b: a.inner(b), np.inner, device=device)
    check_op([(3, 4), (4, 5)], lambda a, b: b.__rmatmul__(a), np.matmul, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_float32_stays_float32(device):
    for sa, sb in [((3, 4), (4, 5)), ((4,), (4,)), ((2, 3, 4), (4,)), ((3,), (2, 3, 5))]:
        a = engine.randn(*sa, device=device, requires_grad=True)
        b = engine.randn(*sb, device=device, requires_grad=True)
        out = a @ b
        assert out.dtype == engine.float32 and out._data.dtype == np.float32
        out.backward(engine.ones_like(out))
        assert a.grad.dtype == b.grad.dtype == engine.float32
        assert a.grad.shape == sa and b.grad.shape == sb


@needs_torch
@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 2)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (4,)),
                                   ((3, 4), (4,)), ((4,), (2, 4, 3))])
def test_double_backward_matches_torch(sa, sb):
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal(sa), rng.standard_normal(sb)]
    xs = [engine.tensor(a, requires_grad=True) for a in arrs]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]

    def second(mod, a, b):
        out = (a @ b)
        ga, gb = mod.autograd.grad((out * out).sum(), (a, b), create_graph=True)
        return mod.autograd.grad((ga * ga).sum() + (gb ** 3).sum(), (a, b))

    for e, t in zip(second(engine, *xs), second(torch, *ts)):
        np.testing.assert_allclose(to_np(e), to_np(t), rtol=1e-8, atol=1e-10)


def test_integer_matmul():
    a = engine.tensor([[1, 2], [3, 4]])
    assert (a @ a).tolist() == [[7, 10], [15, 22]] and (a @ a).dtype == engine.int64
    assert engine.dot(engine.tensor([1, 2]), engine.tensor([3, 4])).item() == 11


def test_numpy_operand():
    a = engine.ones(2, 3)
    assert (np.ones((4, 2), np.float32) @ a).shape == (4, 3)
    assert (a @ np.ones((3,), np.float32)).shape == (2,)


def test_empty_operands():
    assert (engine.ones(0, 3) @ engine.ones(3, 2)).shape == (0, 2)
    assert (engine.ones(2, 0) @ engine.ones(0, 2)).tolist() == [[0.0, 0.0], [0.0, 0.0]]


@pytest.mark.parametrize("fn,message", [
    (lambda: engine.mm(engine.ones(3), engine.ones(3, 4)), "self must be a matrix"),
    (lambda: engine.mm(engine.ones(3, 4), engine.ones(4)), "mat2 must be a matrix"),
    (lambda: engine.mm(engine.ones(3, 4), engine.ones(5, 6)),
     r"mat1 and mat2 shapes cannot be multiplied \(3x4 and 5x6\)"),
    (lambda: engine.mm(engine.ones(3, 3), engine.ones(3, 3, dtype=engine.float64)),
     "expected m1 and m2 to have the same dtype, but got: float != double"),
    (lambda: engine.bmm(engine.ones(3, 4), engine.ones(3, 4)), "batch1 must be a 3D tensor"),
    (lambda: engine.bmm(engine.ones(2, 3, 4), engine.ones(4, 5)), "batch2 must be a 3D tensor"),
    (lambda: engine.bmm(engine.ones(2, 3, 4), engine.ones(3, 4, 5)),
     r"Expected size for first two dimensions of batch2 tensor to be: \[2, 4\] but got: "
     r"\[3, 4\]"),
    (lambda: engine.dot(engine.ones(2, 2), engine.ones(2, 2)),
     "1D tensors expected, but got 2D and 2D tensors"),
    (lambda: engine.dot(engine.ones(3), engine.ones(4)), "inconsistent tensor size"),
    (lambda: engine.mv(engine.ones(3), engine.ones(3)),
     "vector \\+ matrix @ vector expected, got 1, 1, 1"),
    (lambda: engine.mv(engine.ones(3, 4), engine.ones(3)),
     r"size mismatch, got input \(3\), mat \(3x4\), vec \(3\)"),
    (lambda: engine.outer(engine.ones(2, 2), engine.ones(2)),
     "outer: Expected 1-D argument self, but got 2-D"),
    (lambda: engine.tensor(1.0) @ engine.ones(3),
     "both arguments to matmul need to be at least 1D, but they are 0D and 1D"),
    (lambda: engine.ones(3) @ engine.ones(5, 6),
     r"mat1 and mat2 shapes cannot be multiplied \(1x3 and 5x6\)"),
    (lambda: engine.ones(2, 3, 4) @ engine.ones(5, 6),
     r"mat1 and mat2 shapes cannot be multiplied \(6x4 and 5x6\)"),
    (lambda: engine.ones(2, 3, 4) @ engine.ones(3, 4, 6),
     r"The size of tensor a \(2\) must match the size of tensor b \(3\) at non-singleton"),
    (lambda: engine.ones(7, 1, 3, 4) @ engine.ones(2, 5, 6),
     r"Expected size for first two dimensions of batch2 tensor to be: \[14, 4\]"),
])
def test_errors_match_pytorch(fn, message):
    with pytest.raises(RuntimeError, match=message):
        fn()


@needs_torch
def test_error_messages_are_torch_messages():
    """The messages above are checked against PyTorch itself, when installed."""
    cases = [(lambda m: m.mm(m.ones(3, 4), m.ones(5, 6))),
             (lambda m: m.ones(2, 3, 4) @ m.ones(5)),
             (lambda m: m.bmm(m.ones(2, 3, 4), m.ones(2, 5, 5)))]
    for case in cases:
        with pytest.raises(RuntimeError) as e_engine:
            case(engine)
        with pytest.raises(RuntimeError) as e_torch:
            case(torch)
        assert str(e_engine.value) == str(e_torch.value)


def test_scalar_operand_is_type_error():
    with pytest.raises(TypeError):
        engine.ones(2) @ 2.0
