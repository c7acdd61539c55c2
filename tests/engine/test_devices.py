"""Device plumbing, tested on CPU-only machines through a NumPy-backed second device
("fake"), and on CUDA where available."""

import numpy as np
import pytest

import engine

from .helpers import check_op, fake_device

fake_device()


def test_device_parsing_and_equality():
    assert engine.device("cuda:1").index == 1
    assert engine.device("cuda").index is None
    assert str(engine.device("cuda", 0)) == "cuda:0"
    assert engine.device("cpu") == "cpu"
    assert repr(engine.device("cuda:1")) == "device(type='cuda', index=1)"
    with pytest.raises(ValueError, match="device type"):
        engine.device("tpu")
    with pytest.raises(ValueError):
        engine.device("cuda:x")


def test_tensors_default_to_cpu():
    t = engine.ones(2)
    assert t.device == engine.device("cpu") and not t.is_cuda
    assert t.get_device() == -1


def test_transfer_roundtrip_and_gradient_flows_back():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("fake")
    assert str(y.device) == "fake:0"
    assert y.requires_grad and y.grad_fn is not None
    z = (y * y).sum()
    assert z.device == engine.device("fake:0")
    z.backward()
    assert x.grad.device == engine.device("cpu")
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])


def test_mixed_device_op_names_both_devices():
    a = engine.ones(2)
    b = engine.ones(2, device="fake:1")
    with pytest.raises(RuntimeError, match="cpu and fake:1"):
        a + b


def test_numpy_on_other_device_and_on_requires_grad_raise():
    with pytest.raises(TypeError, match="can't convert fake:0 device type tensor to numpy"):
        engine.ones(2, device="fake").numpy()
    with pytest.raises(RuntimeError, match="Use tensor.detach"):
        engine.ones(2, requires_grad=True).numpy()
    assert engine.ones(2, device="fake").cpu().numpy().tolist() == [1.0, 1.0]


def test_repr_shows_non_cpu_device():
    assert repr(engine.ones(2, device="fake")) == "tensor([1., 1.], device='fake:0')"


def test_to_variants():
    x = engine.ones(2)
    assert x.to(x.device) is x
    assert x.to("fake", engine.float64).dtype == engine.float64
    other = engine.zeros(1, dtype=engine.float16, device="fake:1")
    y = x.to(other)
    assert y.dtype == engine.float16 and y.device == engine.device("fake:1")
    assert x.to(dtype=engine.int64).dtype == engine.int64
    assert x.to(copy=True) is not x


def test_creation_on_device_and_item():
    t = engine.arange(3, device="fake")
    assert t.device == engine.device("fake:0")
    assert t.sum().item() == 3
    assert t.tolist() == [0, 1, 2]


def test_random_ops_are_reproducible_per_device():
    engine.manual_seed(3)
    a = engine.randn(4, device="fake").cpu().numpy()
    engine.manual_seed(3)
    b = engine.randn(4, device="fake").cpu().numpy()
    np.testing.assert_array_equal(a, b)


def test_cuda_reports_unavailable_without_cupy_or_gpu():
    assert isinstance(engine.cuda.is_available(), bool)
    assert engine.cuda.device_count() >= 0


def test_ops_run_on_the_second_device():
    check_op([(2, 3), (3,)], lambda a, b: (a * b + a).exp(),
             lambda a, b: np.exp(a * b + a), device="fake", gradcheck=False)


@pytest.mark.gpu
def test_cuda_roundtrip_and_gradient():
    x = engine.tensor([1.0, 2.0], requires_grad=True)
    y = x.cuda()
    assert str(y.device) == "cuda:0"
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError, match="cpu and cuda:0|cuda:0 and cpu"):
        x + y


@pytest.mark.gpu
def test_cuda_float32_stays_float32():
    x = engine.randn(8, 8, device="cuda", requires_grad=True)
    y = (x * 2).exp().sum()
    y.backward()
    assert y.dtype == engine.float32 and x.grad.dtype == engine.float32
    assert "device='cuda:0'" in repr(y)


def test_importing_and_cpu_work_never_import_cupy():
    import subprocess
    import sys

    code = ("import sys, engine; x = engine.randn(3, requires_grad=True); "
            "(x.relu() * 2).sum().backward(); print('cupy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
