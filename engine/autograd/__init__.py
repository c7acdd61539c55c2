"""Autograd: grad mode, the backward walk, custom Functions and gradcheck."""

from .backward import backward, grad
from .function import Function, FunctionCtx
from .grad_mode import enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import gradcheck, gradgradcheck
from .node import Node, Op

__all__ = [
    "backward", "grad", "Function", "FunctionCtx", "gradcheck", "gradgradcheck", "enable_grad",
    "inference_mode", "is_grad_enabled", "no_grad", "set_grad_enabled", "Node", "Op",
]
