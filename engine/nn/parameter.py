"""`nn.Parameter`: a tensor that a Module registers as a learnable weight."""

from __future__ import annotations

from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default; assigning one to a Module attribute
    registers it. Shares memory with `data`.

    >>> import engine
    >>> p = engine.nn.Parameter(engine.zeros(2))
    >>> p.requires_grad, isinstance(p, engine.Tensor)
    (True, True)
    """

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        if data is None:
            from ..ops.creation import empty

            data = empty(0)
        if not isinstance(data, Tensor):
            from ..errors import EngineTypeError

            raise EngineTypeError(
                f"Parameter data must be a Tensor, got {type(data).__name__}"
            )
        self._data, self._device = data._data, data._device
        self.grad = self.grad_fn = self._hooks = None
        self._output_nr, self._retains_grad = 0, False
        self._vc = data._vc
        self._rg = False
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(Tensor._wrap(self._data.copy(), self._device), self._rg)
        if self.grad is not None:
            p.grad = self.grad.__deepcopy__(memo)
        memo[id(self)] = p
        return p
