"""`Optimizer`: the base class of every optimizer, with PyTorch's structure.

Parameters live in `param_groups` (dicts of hyper-parameters plus a `params` list),
per-parameter state is created lazily in `state` (keyed by the Parameter object), and
`state_dict()` / `load_state_dict()` use PyTorch's layout: state keyed by parameter index,
`step` as a 0-d float32 tensor. Scalar state (`step`, NAdam's `mu_product`) stays on the
CPU as PyTorch keeps it when neither `fused` nor `capturable` is set, so the update never
waits on the device to read it.

Subclasses implement `_step_group(group)`, run under `no_grad()`; the built-in optimizers
do so through `_elementwise.ElementwiseOptimizer`, which updates the raw arrays in place
on whichever device the parameters are on and bumps each parameter's version counter
once per update.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterable
from itertools import chain
from typing import Any

import numpy as np

from ..autograd.grad_mode import enable_grad, no_grad
from ..backend import CPU
from ..errors import EngineTypeError, EngineValueError
from ..tensor import Tensor

__all__ = ["Optimizer", "required"]


class _RequiredParameter:
    """Marks a hyper-parameter that every param group must give (PyTorch's `required`)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _RequiredParameter()


def _typename(obj) -> str:
    if isinstance(obj, Tensor):
        return obj.type()
    module = getattr(type(obj), "__module__", "") or ""
    name = type(obj).__qualname__
    return name if module in ("", "builtins") else f"{module}.{name}"


def _value(x) -> float:
    """A hyper-parameter as a Python float (a one-element tensor lr is allowed)."""
    return float(x) if isinstance(x, Tensor) else x


def _scalar_state(value: float = 0.0) -> Tensor:
    """A 0-d float32 CPU tensor, PyTorch's type for `step`."""
    return Tensor._wrap(np.array(value, dtype=np.float32), CPU)


class Optimizer:
    """Base class of all optimizers (PyTorch's `torch.optim.Optimizer`).

    `params` is an iterable of tensors, of `(name, tensor)` pairs, or of dicts defining
    parameter groups; `defaults` holds the hyper-parameters a group does not set.

    >>> import engine, engine.optim
    >>> w = engine.nn.Parameter(engine.ones(2))
    >>> b = engine.nn.Parameter(engine.zeros(1))
    >>> opt = engine.optim.SGD([{"params": [w]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    >>> (w.sum() + b.sum()).backward(); opt.step()
    >>> w.tolist(), b.tolist()
    ([0.8999999761581421, 0.8999999761581421], [-0.5])
    """

    # state keys that hold host scalars (kept on the CPU, never cast to the param dtype)
    _host_keys: tuple[str, ...] = ("step",)

    def __init__(self, params, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise EngineTypeError(
                "params argument given to the optimizer should be an iterable of Tensors "
                f"or dicts, but got {_typename(params)}"
            )
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise EngineValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for param_group in param_groups:
            self.add_param_group(param_group)

    def __repr__(self) -> str:
        out = self.__class__.__name__ + " ("
        for i, group in enumerate(self.param_groups):
            out += f"\nParameter Group {i}\n"
            for key in sorted(group):
                if key != "params":
                    out += f"    {key}: {group[key]}\n"
        return out + ")"

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state,
                "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._upgrade_groups()

    def _upgrade_groups(self) -> None:
        """Fill in group keys missing from older state dicts (subclasses extend)."""

    # -- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own hyper-parameters (fine-tuning).

        >>> import engine, engine.optim
        >>> a, b = engine.nn.Parameter(engine.ones(1)), engine.nn.Parameter(engine.ones(1))
        >>> opt = engine.optim.SGD([a], lr=0.1)
        >>> opt.add_param_group({"params": [b], "lr": 0.01})
        >>> len(opt.param_groups), opt.param_groups[1]["momentum"]
        (2, 0)
        """
        if not isinstance(param_group, dict):
            raise EngineTypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise EngineTypeError(
                "optimizer parameters need to be organized in ordered collections, but "
                "the ordering of tensors in sets will change between runs. Please use a "
                "list instead."
            )
        else:
            params = list(params)
        tensors, names = [], []
        for p in params:
            if isinstance(p, tuple):
                names.append(p[0])
                tensors.append(p[1])
            else:
                tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise EngineValueError(
                    "all optimizer params should be with/without names. Some param names "
                    "are missing"
                )
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise EngineTypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    + _typename(p)
                )
            if not (p.is_leaf or p.retains_grad):
                raise EngineValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise EngineValueError(
                    "parameter group didn't specify a value of required optimization "
                    f"parameter {name}"
                )
            param_group.setdefault(name, default)
        if len({id(p) for p in tensors}) != len(tensors):
            import warnings

            warnings.warn(
                "optimizer contains a parameter group with duplicate parameters; in future, "
                "this will cause an error; see github.com/pytorch/pytorch/issues/40967 for "
                "more information", stacklevel=3,
            )
        seen: set[int] = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                txt = "with names" if "param_names" in param_group else "without names"
                raise EngineValueError(
                    "all optimizer param groups should be with/without names. "
                    f"cannot add param group {txt} to the optimizer"
                )
        if any(id(p) in seen for p in tensors):
            raise EngineValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    # -- gradients and stepping -----------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default) or to zeros in place.

        >>> import engine, engine.optim
        >>> w = engine.nn.Parameter(engine.ones(2))
        >>> opt = engine.optim.SGD([w])
        >>> w.sum().backward(); opt.zero_grad(set_to_none=False); w.grad
        tensor([0., 0.])
        >>> opt.zero_grad(); w.grad is None
        True
        """
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                    continue
                if g.grad_fn is not None:
                    g.detach_()
                else:
                    g.requires_grad_(False)
                g.zero_()

    def step(self, closure=None):
        """Update the parameters once; `closure` (re-evaluating the loss under
        `enable_grad`) is called first and its value returned.

        >>> import engine, engine.optim
        >>> w = engine.nn.Parameter(engine.tensor([1.0]))
        >>> opt = engine.optim.SGD([w], lr=0.1)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w * w).sum()
        ...     loss.backward()
        ...     return loss
        >>> opt.step(closure).item(), w.item()
        (1.0, 0.800000011920929)
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._step_group(group)
        return loss

    def _step_group(self, group: dict[str, Any]) -> None:
        raise NotImplementedError

    # -- state dict ------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The optimizer state in PyTorch's layout: `{"state": {index: {...}},
        "param_groups": [{..., "params": [indices]}]}` (tensors are not copied).

        >>> import engine, engine.optim
        >>> w = engine.nn.Parameter(engine.ones(2))
        >>> opt = engine.optim.Adam([w])
        >>> w.sum().backward(); opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"][0]), sd["state"][0]["step"], sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], tensor(1.), [0])
        """
        mapping: dict[int, int] = {}
        start = 0

        def pack(group):
            nonlocal start
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            return packed

        groups = [pack(g) for g in self.param_groups]
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v
                 for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a `state_dict()` (e.g. from `engine.load`): state tensors are copied to
        each parameter's device (and floating dtype, except host scalars like `step`).

        >>> import engine, engine.optim
        >>> w = engine.nn.Parameter(engine.ones(2))
        >>> opt = engine.optim.Adam([w], lr=0.5)
        >>> w.sum().backward(); opt.step()
        >>> fresh = engine.optim.Adam([w])
        >>> fresh.load_state_dict(opt.state_dict())
        >>> fresh.param_groups[0]["lr"], fresh.state[w]["step"]
        (0.5, tensor(1.))
        """
        state_dict = dict(state_dict)
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise EngineValueError(
                "loaded state dict has a different number of parameter groups"
            )
        if any(len(g["params"]) != len(s["params"]) for g, s in zip(groups, saved_groups)):
            raise EngineValueError(
                "loaded state dict contains a parameter group that doesn't match the size "
                "of optimizer's group"
            )
        id_map = dict(zip(chain.from_iterable(g["params"] for g in saved_groups),
                          chain.from_iterable(g["params"] for g in groups)))
        state: defaultdict[Any, dict] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            if k in id_map:
                param = id_map[k]
                state[param] = self._cast_state(param, v)
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            saved = dict(saved)
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            new_groups.append(saved)
        self.state, self.param_groups = state, new_groups
        self._upgrade_groups()

    def _cast_state(self, param: Tensor, value, key=None):
        if isinstance(value, Tensor):
            if key in self._host_keys:
                out = value.detach().to(CPU)
                if out.numel() == 1 and out.dim():
                    out = out.reshape(())
            elif param.is_floating_point() and value.is_floating_point():
                out = value.detach().to(device=param._device, dtype=param.dtype)
            else:
                out = value.detach().to(param._device)
            if out.dim() == 1 and param.dim() == 0 and out.numel() == 1:
                out = out.reshape(())  # files from before engine.save kept 0-d shapes
            dev = out._device
            with dev.backend.context(dev.index or 0):  # CuPy copies onto the current device
                return Tensor._wrap(out._data.copy(), dev)  # never alias the input
        if key in self._host_keys and isinstance(value, int | float):
            return _scalar_state(value)  # old checkpoints stored step as a number
        if isinstance(value, dict):
            return {k: self._cast_state(param, v, k) for k, v in value.items()}
        if isinstance(value, Iterable) and not isinstance(value, str | bytes):
            return type(value)(self._cast_state(param, v) for v in value)
        return value

