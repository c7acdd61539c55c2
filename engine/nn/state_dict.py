"""state_dict() and load_state_dict() of Modules, with PyTorch's keys and errors."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, NamedTuple

from ..autograd.grad_mode import no_grad
from ..errors import EngineRuntimeError, EngineTypeError
from ..tensor import Tensor
from .parameter import Parameter

if TYPE_CHECKING:
    from .module import Module


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(strict=False)` could not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def state_dict(module: Module, destination: dict | None, prefix: str,
               keep_vars: bool) -> OrderedDict:
    """Parameters and persistent buffers of module and its descendants by dotted name."""
    out = OrderedDict() if destination is None else destination
    for name, p in module._parameters.items():
        if p is not None:
            out[prefix + name] = p if keep_vars else p.detach()
    for name, b in module._buffers.items():
        if b is not None and name not in module._non_persistent_buffers_set:
            out[prefix + name] = b if keep_vars else b.detach()
    for name, m in module._modules.items():
        if m is not None:
            state_dict(m, out, prefix + name + ".", keep_vars)
    return out


def _own_state(module: Module) -> dict[str, tuple[Module, str, Tensor]]:
    own = {}
    for mod_prefix, m in module.named_modules(remove_duplicate=False):
        base = mod_prefix + "." if mod_prefix else ""
        for name, p in m._parameters.items():
            if p is not None:
                own[base + name] = (m, name, p)
        for name, b in m._buffers.items():
            if b is not None and name not in m._non_persistent_buffers_set:
                own[base + name] = (m, name, b)
    return own


def load_state_dict(module: Module, state, strict: bool, assign: bool) -> IncompatibleKeys:
    """Copy (or with assign=True, adopt) matching tensors; collect every problem."""
    if not hasattr(state, "items"):
        raise EngineTypeError(f"Expected state_dict to be dict-like, got {type(state).__name__}.")
    own = _own_state(module)
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    errors = []
    for key, value in state.items():
        if key not in own:
            continue
        owner, name, target = own[key]
        if not isinstance(value, Tensor):
            value = _as_tensor(value, key, errors)
            if value is None:
                continue
        if tuple(value.shape) != tuple(target.shape):
            errors.append(
                f"size mismatch for {key}: copying a param with shape {value.shape} from "
                f"checkpoint, the shape in current model is {target.shape}."
            )
            continue
        with no_grad():
            if not assign:
                target.copy_(value)
            elif isinstance(target, Parameter):
                owner._parameters[name] = Parameter(value, target.requires_grad)
            else:
                owner._buffers[name] = value
    if strict:
        if unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ". ")
        if missing:
            errors.insert(0, "Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ". ")
    if errors:
        raise EngineRuntimeError(
            f"Error(s) in loading state_dict for {type(module).__name__}:\n\t"
            + "\n\t".join(errors)
        )
    return IncompatibleKeys(missing, unexpected)


def _as_tensor(value, key: str, errors: list):
    import numpy as np

    from ..ops.creation import as_tensor

    if isinstance(value, np.ndarray):
        return as_tensor(value)
    errors.append(
        f'While copying the parameter named "{key}", expected Tensor-like object from '
        f"checkpoint but received {type(value).__name__}"
    )
    return None
