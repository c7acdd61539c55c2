"""Activation functions (torch.nn.functional.relu, softmax, ...)."""


from ...ops.activation import (
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
from ...ops.elementwise import sigmoid, tanh

__all__ = ["relu", "leaky_relu", "gelu", "silu", "softplus", "elu", "hardtanh", "relu6",
           "logsigmoid", "mish", "sigmoid", "tanh", "softmax", "log_softmax", "one_hot"]
