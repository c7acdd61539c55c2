"""engine: a deep-learning library with PyTorch's programming model on NumPy and CuPy.

>>> import engine as torch
>>> x = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
>>> loss = (x @ x).relu().sum()
>>> loss.backward()
>>> x.grad.shape
engine.Size([2, 2])
"""

__version__ = "0.1.0"

from . import _allocator

_allocator.tune()

from . import (
    autograd,
    cuda,
    data,
    dtypes,
    nn,
    ops,
    optim,
    utils,
)
from .autograd import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .backend import device
from .dtypes import (
    bool_ as bool,
)
from .dtypes import (
    double,
    dtype,
    float,
    float16,
    float32,
    float64,
    half,
    int,
    int8,
    int16,
    int32,
    int64,
    long,
    short,
    uint8,
)
from .errors import EngineError
from .ops import *
from .random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from .serialization import load, load_metadata, save
from .size import Size
from .tensor import Tensor, is_tensor


def is_floating_point(t: Tensor):
    """True for float16/32/64 tensors."""
    return t.is_floating_point()


def numel(t: Tensor):
    """Number of elements of t."""
    return t.numel()
