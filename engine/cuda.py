"""`engine.cuda`: whether CUDA (through CuPy) is usable, and how many GPUs there are."""

from __future__ import annotations

from .backend import _BACKENDS


def is_available() -> bool:
    """True when CuPy imports and sees at least one GPU.

    >>> import engine
    >>> isinstance(engine.cuda.is_available(), bool)
    True
    """
    return device_count() > 0


def device_count() -> int:
    """Number of visible CUDA devices (0 without CuPy or a GPU)."""
    try:
        return _BACKENDS["cuda"].device_count()
    except Exception:  # CuPy missing or broken means no CUDA devices
        return 0


def current_device() -> int:
    return int(_BACKENDS["cuda"].xp.cuda.runtime.getDevice())


def set_device(index: int) -> None:
    """Make cuda:index the current device: CuPy work outside a tensor's own device
    context (e.g. non-differentiable ops on raw arrays) runs there."""
    _BACKENDS["cuda"].xp.cuda.Device(int(index)).use()


def synchronize() -> None:
    """Wait for all queued GPU work to finish (a no-op without CUDA)."""
    if is_available():
        _BACKENDS["cuda"].xp.cuda.Device().synchronize()


def manual_seed(seed: int) -> None:
    """Seed the default generator of every CUDA device."""
    from .random import device_generator

    for i in range(device_count()):
        device_generator(_dev(i)).manual_seed(seed)


manual_seed_all = manual_seed


def _dev(i: int):
    from .backend import device

    return device("cuda", i)


def empty_cache() -> None:
    """Return the cached, unused blocks of CuPy's memory pools to the device (as
    `torch.cuda.empty_cache`); nothing without CUDA.

    >>> import engine
    >>> engine.cuda.empty_cache()
    """
    if not is_available():
        return
    import cupy

    cupy.get_default_memory_pool().free_all_blocks()
    cupy.get_default_pinned_memory_pool().free_all_blocks()
