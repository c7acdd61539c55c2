"""The engine's exception root. Each subclass also derives from the builtin that PyTorch
raises in the same situation, so `except RuntimeError` code written for PyTorch works."""


class EngineError(Exception):
    """Root of every error the engine raises on purpose."""


class EngineRuntimeError(EngineError, RuntimeError):
    """Invalid operation at run time (PyTorch raises RuntimeError)."""


class EngineTypeError(EngineError, TypeError):
    """Wrong argument type (PyTorch raises TypeError)."""


class EngineValueError(EngineError, ValueError):
    """Invalid argument value (PyTorch raises ValueError)."""


class EngineIndexError(EngineError, IndexError):
    """Index or dimension out of range (PyTorch raises IndexError)."""


class DeviceError(EngineRuntimeError):
    """Tensors on different devices, or a device that is not available."""
