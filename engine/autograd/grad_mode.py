"""Grad mode: whether ops record the graph. Thread-local, like PyTorch's."""

from __future__ import annotations

import functools
import threading


class _GradState(threading.local):
    enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """True when ops on tensors that require grad record the graph.

    >>> import engine
    >>> with engine.no_grad():
    ...     engine.is_grad_enabled()
    False
    """
    return _state.enabled


class _GradModeContext:
    """Context manager that is also a decorator; subclasses set `_mode`."""

    _mode: bool

    def __enter__(self) -> None:
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __exit__(self, *exc) -> None:
        _state.enabled = self._prev

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradModeContext):  # noqa: N801 - mirrors torch.no_grad
    """Disable graph recording: `with engine.no_grad(): ...` or `@engine.no_grad()`.

    >>> import engine
    >>> x = engine.ones(2, requires_grad=True)
    >>> with engine.no_grad():
    ...     (x * 2).requires_grad
    False
    """

    _mode = False


class enable_grad(_GradModeContext):  # noqa: N801
    """Re-enable graph recording inside `no_grad`.

    >>> import engine
    >>> with engine.no_grad(), engine.enable_grad():
    ...     engine.is_grad_enabled()
    True
    """

    _mode = True


class set_grad_enabled(_GradModeContext):  # noqa: N801
    """Set grad mode to `mode` (a function call, context manager or decorator).

    >>> import engine
    >>> with engine.set_grad_enabled(False):
    ...     engine.is_grad_enabled()
    False
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = _state.enabled
        _state.enabled = self._mode

    def __enter__(self) -> None:
        pass

    def __call__(self, fn):
        mode = self._mode
        _state.enabled = self._prev

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with set_grad_enabled(mode):
                return fn(*args, **kwargs)

        return wrapper


class inference_mode(no_grad):  # noqa: N801
    """Alias of `no_grad` (the engine has no separate inference tensors)."""

    def __init__(self, mode: bool = True) -> None:
        self._mode = not mode
