"""engine.nn.functional: the functional forms of activations and losses, as in
torch.nn.functional.

>>> import engine
>>> import engine.nn.functional as F
>>> F.relu(engine.tensor([-1.0, 2.0]))
tensor([0., 2.])
"""

from ..ops.activation import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    mish,
    one_hot,
    relu,
    relu6,
    silu,
    softmax,
    softplus,
)
from ..ops.elementwise import sigmoid, tanh

__all__ = ["relu", "leaky_relu", "gelu", "silu", "softplus", "elu", "hardtanh", "relu6",
           "logsigmoid", "mish", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot"]
