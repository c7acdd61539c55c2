"""The dummy forward pass: run a built model one layer at a time on a small batch, so a
layer that cannot take its input is named, with why, before anything is queued.

Before a layer runs, its registry facts are checked against the input's shape (a
precise `in_features: expected 128 ..., got 64`) and its output size is bounded (no huge
allocation); only then is it called. Shapes in messages are per sample (no batch).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from app.errors import Loc
from app.spec.build import count_parameters
from app.spec.errors import SpecInvalid, json_path
from app.spec.layers import LayerArgs
from app.spec.registry import LAYERS
from app.spec.schema import sublayers
from app.spec.shapes import Mismatch
from engine import Tensor, nn

DUMMY_BATCH = 2
VALUE_BYTES = 4  # float32


def human_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


@dataclass(frozen=True)
class LayerSummary:
    path: str
    type: str
    output_shape: list[int]
    parameters: int


@dataclass
class Walker:
    """Walks spec layers and their built modules side by side."""

    batch_size: int
    max_memory_bytes: int
    max_check_bytes: int = 512 << 20
    layers: list[LayerSummary] = field(default_factory=list)
    activation_values: int = 0  # per sample, kept for the backward pass
    batch_stats_at: tuple[Loc, str] | None = None  # a BatchNorm over single values

    def walk(self, specs: list[LayerArgs], modules: list[nn.Module], x: Tensor, loc: Loc,
             source: str) -> Tensor:
        for i, (spec, module) in enumerate(zip(specs, modules)):
            here = (*loc, i)
            x = self._layer(spec, module, x, here, source)
            self.layers.append(LayerSummary(json_path(here), spec.type, list(x.shape[1:]),
                                            count_parameters(module)))
            source = (f"the output of layer {i}" if len(loc) == 2
                      else f"the output of {json_path(here)}")
        return x

    def _layer(self, spec: LayerArgs, module: nn.Module, x: Tensor, here: Loc,
               source: str) -> Tensor:
        inner = sublayers(spec)
        if inner is None:
            return self._leaf(spec, module, x, here, source)
        out = self.walk(inner, list(module.children()), x, (*here, "layers"), source)
        if spec.type != "Residual":
            return out
        if tuple(out.shape) != tuple(x.shape):
            raise SpecInvalid(here, f"the block's output shape {list(out.shape[1:])} differs "
                              f"from its input shape {list(x.shape[1:])}: x + block(x) needs "
                              "them equal", type="shape_mismatch")
        self.activation_values += math.prod(out.shape[1:])
        return x + out

    def _leaf(self, spec: LayerArgs, module: nn.Module, x: Tensor, here: Loc,
              source: str) -> Tensor:
        entry = LAYERS[spec.type]
        shape = tuple(int(d) for d in x.shape[1:])
        if entry.tokens and x.is_floating_point():
            raise SpecInvalid(here, f"{spec.type} takes integer token ids, so it must be the "
                              f"model's first layer; it gets {source}, which holds floats",
                              type="not_tokens")
        problem = entry.check(spec, shape) if entry.check else None
        if problem is not None:
            raise self._mismatch(spec, problem, here, source, shape)
        bound = entry.out_bound(spec, shape)
        batch = max(self.batch_size, DUMMY_BATCH)
        if bound * batch * VALUE_BYTES > self.max_memory_bytes:
            raise SpecInvalid(here, f"outputs up to {bound:,} values per sample: "
                              f"{human_bytes(bound * batch * VALUE_BYTES)} for a batch of "
                              f"{batch}, over the memory limit of "
                              f"{human_bytes(self.max_memory_bytes)}", type="too_much_memory")
        kept = (self.activation_values + bound) * DUMMY_BATCH * VALUE_BYTES
        if kept > self.max_check_bytes:
            raise SpecInvalid(here, f"outputs up to {bound:,} values per sample: the model's "
                              f"activations for 2 samples ({human_bytes(kept)} so far) are "
                              "larger than this server checks "
                              f"({human_bytes(self.max_check_bytes)})",
                              type="too_large_to_check")
        if entry.batch_stats and math.prod(shape[1:]) == 1:
            self.batch_stats_at = self.batch_stats_at or (here, spec.type)
        try:
            out = module(x)
        except MemoryError:
            raise SpecInvalid(here, "ran out of memory on a batch of 2 samples",
                              type="too_much_memory") from None
        except Exception as exc:  # the engine refusing this input: the spec's fault
            message = str(exc).strip()[:300] or type(exc).__name__
            raise SpecInvalid(here, f"{spec.type} cannot take {source} (shape {list(shape)}): "
                              f"{message}", type="layer_failed") from exc
        out_shape = tuple(int(d) for d in out.shape[1:])
        self.activation_values += math.prod(out_shape)
        if entry.extra is not None:
            self.activation_values += entry.extra(spec, shape, out_shape)
        return out

    @staticmethod
    def _mismatch(spec: LayerArgs, problem: Mismatch, here: Loc, source: str,
                  shape: tuple[int, ...]) -> SpecInvalid:
        if problem.field is not None:
            return SpecInvalid((*here, problem.field), f"expected {problem.expected} to match "
                               f"{source}, got {problem.got}", type="shape_mismatch")
        return SpecInvalid(here, f"{spec.type} takes {problem.needs}; {source} has shape "
                           f"{list(shape)}", type="shape_mismatch")
