"""Random number generators: one default `Generator` per device, seeded by
`engine.manual_seed`, so every random op is reproducible on each device."""

from __future__ import annotations

import json

import numpy as np

from .backend import CPU, device, resolve
from .errors import EngineValueError

_DEFAULT_SEED = 67280421310721


class Generator:
    """A random stream on one device (PCG64 on the CPU, CuPy's RandomState on CUDA).

    >>> import engine
    >>> g = engine.Generator().manual_seed(0)
    >>> a = engine.rand(2, generator=g)
    >>> b = engine.rand(2, generator=engine.Generator().manual_seed(0))
    >>> bool((a == b).all())
    True
    """

    def __init__(self, device: str | device = "cpu") -> None:
        self.device = resolve(device)
        self._seed = _DEFAULT_SEED
        self._impl = None

    def manual_seed(self, seed: int) -> Generator:
        seed = int(seed)
        if seed < 0:
            seed &= 0xFFFF_FFFF_FFFF_FFFF
        self._seed = seed
        self._impl = None
        return self

    def seed(self) -> int:
        """Re-seed from a non-deterministic source and return the new seed."""
        seed = int(np.random.SeedSequence().entropy) & 0xFFFF_FFFF_FFFF_FFFF
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._seed

    @property
    def impl(self):
        """The backend generator (created lazily so CUDA is touched only when used)."""
        if self._impl is None:
            if self.device.type == "cuda":
                xp = self.device.backend.xp
                with xp.cuda.Device(self.device.index):
                    self._impl = xp.random.RandomState(self._seed)
            else:
                self._impl = np.random.Generator(np.random.PCG64(self._seed))
        return self._impl

    # -- sampling on the generator's device (raw arrays) ----------------------
    def uniform(self, shape: tuple, dtype) -> object:
        """Uniform [0, 1) samples of a float dtype."""
        work = np.float32 if np.dtype(dtype) == np.float16 else dtype
        if self.device.type == "cuda":
            out = self.impl.random_sample(shape, dtype=work)
        else:
            out = self.impl.random(shape, dtype=work)
        return out.astype(dtype, copy=False)

    def normal(self, shape: tuple, dtype) -> object:
        """Standard normal samples of a float dtype."""
        work = np.float32 if np.dtype(dtype) == np.float16 else dtype
        return self.impl.standard_normal(shape, dtype=work).astype(dtype, copy=False)

    def integers(self, low: int, high: int, shape: tuple, dtype) -> object:
        """Integers uniform in [low, high)."""
        if self.device.type == "cuda":
            return self.impl.randint(low, high, shape, dtype=dtype)
        return self.impl.integers(low, high, shape, dtype=dtype)

    def permutation(self, n: int) -> object:
        return self.impl.permutation(n)

    def get_state(self):
        """The generator's state as a uint8 tensor (restore with `set_state`)."""
        from .ops.creation import tensor

        if self.device.type == "cuda":
            raise EngineValueError("get_state is only supported for CPU generators")
        state = self.impl.bit_generator.state
        blob = json.dumps({"seed": self._seed, "state": state}).encode()
        return tensor(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, state) -> Generator:
        blob = bytes(np.asarray(state.numpy() if hasattr(state, "numpy") else state,
                                dtype=np.uint8))
        data = json.loads(blob.decode())
        self._seed = data["seed"]
        self._impl = None
        self.impl.bit_generator.state = data["state"]
        return self


_defaults: dict[device, Generator] = {}


def device_generator(dev: device = CPU) -> Generator:
    """The default generator of a device (made on first use)."""
    gen = _defaults.get(dev)
    if gen is None:
        gen = _defaults[dev] = Generator(dev)
    return gen


def manual_seed(seed: int) -> Generator:
    """Seed the default generator of every device.

    >>> import engine
    >>> _ = engine.manual_seed(0); a = engine.randn(3)
    >>> _ = engine.manual_seed(0); bool((engine.randn(3) == a).all())
    True
    """
    for gen in _defaults.values():
        gen.manual_seed(seed)
    global _pending_seed
    _pending_seed = int(seed)
    return device_generator(CPU).manual_seed(seed)


_pending_seed: int | None = None


def seed() -> int:
    s = device_generator(CPU).seed()
    manual_seed(s)
    return s


def initial_seed() -> int:
    return device_generator(CPU).initial_seed()


def get_rng_state():
    return device_generator(CPU).get_state()


def set_rng_state(state) -> None:
    device_generator(CPU).set_state(state)


def generator_for(dev: device, generator: Generator | None) -> Generator:
    """The generator a random op on `dev` draws from."""
    if generator is not None:
        if generator.device != dev:
            raise EngineValueError(
                f"Expected a '{dev.type}' device type for generator but found "
                f"'{generator.device.type}'"
            )
        return generator
    gen = _defaults.get(dev)
    if gen is None:
        gen = device_generator(dev)
        if _pending_seed is not None:
            gen.manual_seed(_pending_seed)
    return gen


default_generator = device_generator(CPU)  # the CPU default generator, as torch's
