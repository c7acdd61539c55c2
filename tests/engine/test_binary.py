import numpy as np
import pytest

import engine

from .helpers import DEVICES, check_op


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("shapes", [[(3, 4), (3, 4)], [(3, 4), (4,)], [(2, 1, 3), (4, 1)],
                                    [(3,), ()]])
class TestBinary:
    def test_add(self, shapes, device):
        check_op(shapes, lambda a, b: a + b, np.add, device=device)

    def test_sub(self, shapes, device):
        check_op(shapes, lambda a, b: a - b, np.subtract, device=device)

    def test_mul(self, shapes, device):
        check_op(shapes, lambda a, b: a * b, np.multiply, device=device)

    def test_div(self, shapes, device):
        check_op(shapes, lambda a, b: a / b, np.divide, low=0.5, high=2.0, device=device)

    def test_pow(self, shapes, device):
        check_op(shapes, lambda a, b: a**b, np.power, low=0.5, high=2.0, device=device)

    def test_maximum(self, shapes, device):
        check_op(shapes, lambda a, b: a.maximum(b), np.maximum, device=device)

    def test_minimum(self, shapes, device):
        check_op(shapes, lambda a, b: a.minimum(b), np.minimum, device=device)


@pytest.mark.parametrize("device", DEVICES)
def test_scalar_forms(device):
    check_op([(3, 4)], lambda x: x + 2, lambda x: x + 2, device=device)
    check_op([(3, 4)], lambda x: 2 - x, lambda x: 2 - x, device=device)
    check_op([(3, 4)], lambda x: x * 3.5, lambda x: x * np.float32(3.5), device=device)
    check_op([(3, 4)], lambda x: 1 / x, lambda x: 1 / x, low=0.5, device=device)
    check_op([(3, 4)], lambda x: x**2, np.square, device=device)
    check_op([(3, 4)], lambda x: x**-1.5, lambda x: x ** np.float32(-1.5), low=0.5,
             device=device)
    check_op([(3, 4)], lambda x: 2**x, lambda x: np.float32(2) ** x, device=device)
    check_op([(3, 4)], lambda x: -x, np.negative, device=device)


def test_where():
    cond = np.array([[True, False, True, False]] * 3)
    check_op([cond, (3, 4), (3, 4)], lambda c, a, b: engine.where(c, a, b)
             if isinstance(a, engine.Tensor) else __import__("torch").where(c, a, b), np.where)


def test_promotion_follows_pytorch():
    f32 = engine.ones(2)
    assert (f32 * 2.0).dtype == engine.float32
    assert (engine.ones(2, dtype=engine.int64) * 2.5).dtype == engine.float32
    assert (engine.ones(2, dtype=engine.int64) + f32).dtype == engine.float32
    assert (f32 + engine.ones(2, dtype=engine.float64)).dtype == engine.float64
    assert (f32 + engine.tensor(1.0, dtype=engine.float64)).dtype == engine.float32
    assert (engine.tensor([1, 2]) / 2).dtype == engine.float32
    assert (engine.tensor([True]) + 1).dtype == engine.int64
