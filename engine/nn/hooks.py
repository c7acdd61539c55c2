"""Hook registries of Modules and the handles that remove hooks."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable


class RemovableHandle:
    """Returned by `register_*_hook`; `.remove()` unregisters the hook.

    >>> from engine import nn
    >>> handle = nn.Linear(1, 1).register_forward_hook(lambda m, args, out: None)
    >>> handle.remove()
    """

    _ids = itertools.count()

    def __init__(self, hooks: dict) -> None:
        self._hooks = hooks
        self.id = next(RemovableHandle._ids)

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


def add_hook(hooks: OrderedDict, hook: Callable, prepend: bool) -> RemovableHandle:
    """Register hook in an ordered registry (first when prepend) and return its handle."""
    handle = RemovableHandle(hooks)
    hooks[handle.id] = hook
    if prepend:
        hooks.move_to_end(handle.id, last=False)
    return handle
