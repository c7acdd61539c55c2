"""Random number generators: one default `Generator` per device, seeded by
`engine.manual_seed`, so every random op is reproducible on each device."""

from __future__ import annotations

import json

import numpy as np

from .backend import CPU, device, resolve
from .errors import EngineTypeError, EngineValueError

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
        """Seed the generator (negative seeds wrap to 64 bits, as PyTorch); returns self."""
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
        """The seed the generator was last seeded with."""
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
        """A random permutation of 0..n-1 (a raw int64 array)."""
        return self.impl.permutation(n)

    def get_state(self):
        """The generator's state as a uint8 tensor (restore it with `set_state`).

        The state holds the seed and the stream position, so `initial_seed()` survives a
        round trip; it is a plain uint8 tensor, so `engine.save` stores it.

        >>> import engine
        >>> g = engine.Generator().manual_seed(3)
        >>> s = g.get_state(); a = engine.rand(2, generator=g)
        >>> bool((engine.rand(2, generator=g.set_state(s)) == a).all()), g.initial_seed()
        (True, 3)
        """
        from .ops.creation import tensor

        if self.device.type == "cuda":
            raise EngineValueError("get_state is only supported for CPU generators")
        state = self.impl.bit_generator.state
        blob = json.dumps({"seed": self._seed, "state": state}, sort_keys=True).encode()
        return tensor(np.frombuffer(blob, dtype=np.uint8).copy())

    def set_state(self, new_state) -> Generator:
        """Restore a state from `get_state` (a uint8 tensor or array, or bytes); returns
        self. Raises for anything that is not such a state, leaving the generator as is.

        >>> import engine
        >>> g = engine.Generator()
        >>> g.set_state(engine.Generator().manual_seed(5).get_state()).initial_seed()
        5
        """
        if self.device.type == "cuda":
            raise EngineValueError("set_state is only supported for CPU generators")
        seed, state = _parse_state(new_state)
        impl = np.random.Generator(np.random.PCG64(seed))
        try:
            impl.bit_generator.state = state
        except (TypeError, ValueError, KeyError) as e:
            raise EngineValueError(f"invalid generator state: {e}") from None
        self._seed, self._impl = seed, impl
        return self

    def __repr__(self) -> str:
        return f"<engine.Generator device={self.device} initial_seed={self._seed}>"


def _parse_state(new_state) -> tuple[int, dict]:
    """(seed, PCG64 state dict) from a `get_state` blob, with clear errors."""
    from .tensor import Tensor

    if isinstance(new_state, Tensor):
        new_state = new_state.detach().cpu().numpy()
    if isinstance(new_state, bytes | bytearray | memoryview):
        blob = bytes(new_state)
    elif isinstance(new_state, np.ndarray):
        if new_state.dtype != np.uint8 or new_state.ndim != 1:
            raise EngineTypeError(
                f"expected a 1-d uint8 generator state, got dtype {new_state.dtype} and "
                f"{new_state.ndim} dims"
            )
        blob = new_state.tobytes()
    else:
        raise EngineTypeError(
            f"expected a uint8 tensor as generator state, got {type(new_state).__name__}"
        )
    try:
        data = json.loads(blob.decode())
        seed, state = int(data["seed"]), data["state"]
        if not isinstance(state, dict) or state.get("bit_generator") != "PCG64":
            raise ValueError("not a PCG64 state")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise EngineValueError(f"invalid generator state: {e}") from None
    return seed, state


_defaults: dict[device, Generator] = {}


def device_generator(dev: device = CPU) -> Generator:
    """The default generator of a device (made on first use).

    >>> import engine
    >>> from engine.random import device_generator
    >>> device_generator() is engine.default_generator
    True
    """
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
    """Seed every default generator non-deterministically; returns the seed.

    >>> import engine
    >>> s = engine.seed(); engine.initial_seed() == s
    True
    >>> _ = engine.manual_seed(0)
    """
    s = device_generator(CPU).seed()
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The initial seed of the CPU default generator.

    >>> import engine
    >>> _ = engine.manual_seed(7); engine.initial_seed()
    7
    """
    return device_generator(CPU).initial_seed()


def get_rng_state():
    """The CPU default generator's state (a uint8 tensor), as `torch.get_rng_state`.

    >>> import engine
    >>> s = engine.get_rng_state(); a = engine.rand(3)
    >>> engine.set_rng_state(s); bool((engine.rand(3) == a).all())
    True
    """
    return device_generator(CPU).get_state()


def set_rng_state(new_state) -> None:
    """Restore the CPU default generator from `get_rng_state()`.

    >>> import engine
    >>> s = engine.get_rng_state(); a = engine.randn(2); engine.set_rng_state(s)
    >>> engine.equal(engine.randn(2), a)
    True
    """
    device_generator(CPU).set_state(new_state)


def seed_from(generator: Generator | None = None) -> int:
    """A fresh non-negative 63-bit seed drawn from `generator` (default: the CPU default
    generator), as PyTorch's samplers draw one per epoch to seed a private generator.

    >>> import engine
    >>> from engine.random import seed_from
    >>> _ = engine.manual_seed(0); a = seed_from()
    >>> _ = engine.manual_seed(0); a == seed_from()
    True
    """
    gen = generator_for(CPU, generator)
    return int(gen.integers(0, 2**63 - 1, (), np.int64))


def generator_for(dev: device, generator: Generator | None) -> Generator:
    """The generator a random op on `dev` draws from: `generator` (checked to be on
    `dev`) or the device's default one.

    >>> import engine
    >>> from engine.random import generator_for
    >>> generator_for(engine.device("cpu"), None) is engine.default_generator
    True
    """
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
