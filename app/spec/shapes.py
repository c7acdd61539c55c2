"""Per-layer facts computed from arguments alone, before anything is built: the input a
layer expects, its parameter count and a bound on its output size.

They let validation refuse a spec with a precise message (`in_features: expected 128 ...`)
and refuse a model too large to build *before* allocating it. Shapes are per sample:
the batch dimension is never included.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.spec.args import as_tuple

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Mismatch:
    """The input does not fit the layer. With `field`, the argument at fault and the value
    the input implies (`expected`) beside the one given (`got`); without, `needs` says in
    words what input the layer takes."""

    field: str | None = None
    expected: object = None
    got: object = None
    needs: str = ""


Check = Callable[[Any, Shape], Mismatch | None]
Count = Callable[[Any], int]
Bound = Callable[[Any, Shape], int]


def rank(*ranks: int, needs: str) -> Check:
    def check(_args: Any, shape: Shape) -> Mismatch | None:
        return None if len(shape) in ranks else Mismatch(needs=needs)
    return check


def last_dim(field: str, *, needs: str = "samples with at least one dimension") -> Check:
    """The last dimension of the input must equal `args.<field>`."""
    def check(args: Any, shape: Shape) -> Mismatch | None:
        if not shape:
            return Mismatch(needs=needs)
        want = getattr(args, field)
        return None if shape[-1] == want else Mismatch(field, shape[-1], want)
    return check


def first_dim(field: str, ranks: tuple[int, ...], needs: str) -> Check:
    """Channels-first input of one of `ranks`, whose first dimension is `args.<field>`."""
    def check(args: Any, shape: Shape) -> Mismatch | None:
        if len(shape) not in ranks:
            return Mismatch(needs=needs)
        want = getattr(args, field)
        return None if shape[0] == want else Mismatch(field, shape[0], want)
    return check


def sequence_of(field: str) -> Check:
    """A [T, F] sequence with F = `args.<field>`."""
    def check(args: Any, shape: Shape) -> Mismatch | None:
        if len(shape) != 2:
            return Mismatch(needs=f"[steps, {field}] sequences (an Embedding, a recurrent "
                            "layer or [T, F] inputs)")
        want = getattr(args, field)
        return None if shape[1] == want else Mismatch(field, shape[1], want)
    return check


def trailing(field: str) -> Check:
    """The last dimensions of the input equal `args.<field>` (LayerNorm)."""
    def check(args: Any, shape: Shape) -> Mismatch | None:
        want = tuple(getattr(args, field))
        if len(shape) < len(want):
            return Mismatch(needs=f"samples with at least {len(want)} dimensions")
        have = shape[len(shape) - len(want):]
        if have == want:
            return None
        if len(want) == 1:
            return Mismatch(field, have[0], want[0])
        return Mismatch(field, list(have), list(want))
    return check


# -- parameter counts ----------------------------------------------------------------------

def no_params(_args: Any) -> int:
    return 0


def linear_params(a: Any) -> int:
    return a.in_features * a.out_features + a.out_features * a.bias


def norm_params(field: str, affine: str) -> Count:
    def count(a: Any) -> int:
        return 2 * getattr(a, field) if getattr(a, affine) else 0
    return count


def layer_norm_params(a: Any) -> int:
    return math.prod(a.normalized_shape) * (1 + a.bias) if a.elementwise_affine else 0


def conv_params(n: int, transposed: bool = False) -> Count:
    def count(a: Any) -> int:
        fan = (a.out_channels if transposed else a.in_channels) // a.groups
        other = a.in_channels if transposed else a.out_channels
        return other * fan * math.prod(as_tuple(a.kernel_size, n)) + a.out_channels * a.bias
    return count


def recurrent_params(gates: int) -> Count:
    def count(a: Any) -> int:
        dirs, h, g = 1 + a.bidirectional, a.hidden_size, gates * a.hidden_size
        total = 0
        for layer in range(a.num_layers):
            fan_in = a.input_size if layer == 0 else h * dirs
            total += dirs * (g * (fan_in + h) + 2 * g * a.bias)
        return total
    return count


def attention_params(e: int, bias: bool) -> int:
    return 4 * e * e + 4 * e * bias


def mha_params(a: Any) -> int:
    return attention_params(a.embed_dim, a.bias)


def transformer_params(a: Any) -> int:
    d, ff, b = a.d_model, a.dim_feedforward, a.bias
    return (attention_params(d, b) + 2 * d * ff + (ff + d) * b + 2 * d * (1 + b))


# -- output size bounds (per sample) ---------------------------------------------------------

def same_size(_args: Any, shape: Shape) -> int:
    return math.prod(shape)


def linear_bound(a: Any, shape: Shape) -> int:
    return math.prod(shape[:-1]) * a.out_features


def conv_bound(n: int) -> Bound:
    def bound(a: Any, shape: Shape) -> int:
        pad = as_tuple(a.kernel_size, n) if isinstance(a.padding, str) else as_tuple(a.padding, n)
        return a.out_channels * math.prod(s + 2 * p for s, p in zip(shape[1:], pad))
    return bound


def conv_transpose_bound(n: int) -> Bound:
    def bound(a: Any, shape: Shape) -> int:
        sizes = zip(shape[1:], as_tuple(a.stride, n), as_tuple(a.dilation, n),
                    as_tuple(a.kernel_size, n), as_tuple(a.output_padding, n))
        return a.out_channels * math.prod((s - 1) * st + d * (k - 1) + op + 1
                                          for s, st, d, k, op in sizes)
    return bound


def adaptive_bound(n: int) -> Bound:
    def bound(a: Any, shape: Shape) -> int:
        return shape[0] * math.prod(as_tuple(a.output_size, n))
    return bound


def embedding_bound(a: Any, shape: Shape) -> int:
    return math.prod(shape) * a.embedding_dim


def recurrent_bound(a: Any, shape: Shape) -> int:
    return shape[0] * a.hidden_size * (1 + a.bidirectional)


# -- activations kept for the backward pass beyond the output (per sample) --------------

def recurrent_extra(gates: int) -> Callable[[Any, Shape, Shape], int]:
    def extra(a: Any, shape: Shape, _out: Shape) -> int:
        dirs = 1 + a.bidirectional
        return a.num_layers * dirs * shape[0] * a.hidden_size * (gates + 2)
    return extra


def attention_extra(heads_field: str) -> Callable[[Any, Shape, Shape], int]:
    def extra(a: Any, shape: Shape, _out: Shape) -> int:
        steps, features = shape[0], shape[1]
        ff = getattr(a, "dim_feedforward", 0)
        return getattr(a, heads_field) * steps * steps * 2 + steps * (6 * features + 2 * ff)
    return extra
