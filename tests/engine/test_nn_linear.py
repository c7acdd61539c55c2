import numpy as np
import pytest

import engine
import engine.nn.functional as F
from engine import nn

from .helpers import DEVICES, check_double_backward, check_op, needs_torch, torch


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("xshape", [(4, 3), (2, 5, 3), (3,)])
def test_linear_matches_reference(xshape, device):
    def np_ref(x, w, b):
        return x @ w.T + b

    check_op([xshape, (2, 3), (2,)], lambda x, w, b: (F.linear(x, w, b) if isinstance(
        x, engine.Tensor) else torch.nn.functional.linear(x, w, b)), np_ref, device=device)


def test_linear_without_bias_and_partial_grads():
    check_op([(4, 3), (2, 3)], lambda x, w: (F.linear(x, w) if isinstance(x, engine.Tensor)
                                            else torch.nn.functional.linear(x, w)),
             lambda x, w: x @ w.T)
    w = engine.randn(2, 3, requires_grad=True)
    F.linear(engine.randn(4, 3), w).sum().backward()
    assert w.grad.shape == (2, 3)


def test_linear_double_backward():
    w = engine.randn(2, 3, dtype=engine.float64)
    x = engine.randn(4, 3, dtype=engine.float64, requires_grad=True)
    check_double_backward(lambda t: F.linear(t, w).tanh(), x,
                          (lambda t: torch.nn.functional.linear(t, torch.tensor(w.numpy()))
                           .tanh()) if torch is not None else None)


def test_linear_shape_and_dtype_errors():
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        F.linear(engine.ones(2, 4), engine.ones(3, 3))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.linear(engine.ones(2, 3, dtype=engine.float64), engine.ones(3, 3))


@needs_torch
def test_bilinear_matches_pytorch():
    e = nn.Bilinear(3, 4, 2)
    t = torch.nn.Bilinear(3, 4, 2)
    t.load_state_dict({k: torch.tensor(v.numpy()) for k, v in e.state_dict().items()})
    rng = np.random.default_rng(0)
    x1 = rng.standard_normal((5, 3)).astype(np.float32)
    x2 = rng.standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(e(engine.tensor(x1), engine.tensor(x2)).detach().numpy(),
                               t(torch.tensor(x1), torch.tensor(x2)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    assert repr(e) == repr(t)


@needs_torch
def test_flatten_unflatten_identity_match_pytorch():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for make in (lambda lib: lib.nn.Flatten(), lambda lib: lib.nn.Flatten(0, 1),
                 lambda lib: lib.nn.Unflatten(2, (2, 2)), lambda lib: lib.nn.Identity()):
        e, t = make(engine), make(torch)
        assert repr(e) == repr(t)
        np.testing.assert_array_equal(e(engine.tensor(x)).numpy(), t(torch.tensor(x)).numpy())
