"""Building blocks of the spec's argument models: the strict base model, bounded
numeric types, "an int or a list of ints" sizes, and field-level errors.

Every bound here is an upper limit on what a spec may ask for; the model as a whole is
further limited by parameter count and estimated memory (`app.spec.validate`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_FEATURES = 1 << 20
MAX_CHANNELS = 1 << 16
MAX_KERNEL = 64
MAX_EMBEDDINGS = 1 << 24


class SpecModel(BaseModel):
    """Base of every spec model: unknown fields are refused, JSON types must match
    exactly (no "1" for 1, no 1 for true), floats are finite, values are immutable."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True,
                              use_attribute_docstrings=True)


def field_error(loc: str | tuple[str | int, ...], message: str,
                type_: str = "value_error") -> ValidationError:
    """A ValidationError at `loc` (relative to the model raising it), for cross-field
    checks in `model_validator`s: pydantic nests its location under the model's own."""
    where = (loc,) if isinstance(loc, str) else loc
    return ValidationError.from_exception_data("spec", [InitErrorDetails(
        type=PydanticCustomError(type_, message), loc=where, input=None)])


Features = Annotated[int, Field(ge=1, le=MAX_FEATURES)]
Channels = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
Groups = Annotated[int, Field(ge=1, le=MAX_CHANNELS)]
Dim = Annotated[int, Field(ge=-8, le=8, description="A tensor dimension; the batch is dimension "
                                                    "0, negative values count from the end.")]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Eps = Annotated[float, Field(gt=0.0, le=1.0)]
Momentum = Annotated[float, Field(ge=0.0, lt=1.0)]
Slope = Annotated[float, Field(ge=-1e3, le=1e3)]
Positive = Annotated[float, Field(gt=0.0, le=1e6)]
NonNegative = Annotated[float, Field(ge=0.0, le=1e6)]


def int_or_ints(n: int, low: int, high: int, what: str, words: tuple[str, ...] = ()) -> Any:
    """A size given as one int or as a list of `n` ints, each in [low, high] (or one of
    `words`); validated to an int, a tuple or the word, with a plain error path (no union
    branch names in `loc`)."""

    def validate(value: Any) -> int | tuple[int, ...] | str:
        if type(value) is str and value in words:
            return value
        if type(value) is int:
            _check(value)
            return value
        if type(value) is list and len(value) == n and all(type(v) is int for v in value):
            for v in value:
                _check(v)
            return tuple(value)
        alternatives = "".join(f" or {w!r}" for w in words)
        raise PydanticCustomError("int_or_ints", "expected {what}: an integer or a list of "
                                  "{n} integers{alternatives}",
                                  {"what": what, "n": n, "alternatives": alternatives})

    def _check(v: int) -> None:
        if not low <= v <= high:
            raise PydanticCustomError("out_of_range", "{what} must be between {low} and {high}",
                                      {"what": what, "low": low, "high": high})

    bounded = Annotated[int, Field(ge=low, le=high)]
    schema_type: Any = bounded | Annotated[list[bounded], Field(min_length=n, max_length=n)]
    if words:
        schema_type = schema_type | Literal[words]
    # `Any` for serialization: a tuple is dumped as a JSON list, an int or word as itself.
    return Annotated[Any, PlainValidator(validate, json_schema_input_type=schema_type)]


def _validate_shape(value: Any) -> tuple[int, ...]:
    dims = [value] if type(value) is int else value
    if (type(dims) is not list or not 1 <= len(dims) <= 6
            or not all(type(d) is int for d in dims)):
        raise PydanticCustomError("shape", "expected a size or a list of 1 to 6 sizes")
    if not all(1 <= d <= MAX_FEATURES for d in dims):
        raise PydanticCustomError("out_of_range", f"sizes must be between 1 and {MAX_FEATURES}")
    return tuple(dims)


Shape = Annotated[Any, PlainValidator(
    _validate_shape,
    json_schema_input_type=Features | Annotated[list[Features], Field(min_length=1,
                                                                      max_length=6)])]
"""A shape: one size, or a list of 1 to 6 sizes; validated to a tuple."""


def as_tuple(value: int | tuple[int, ...] | str, n: int) -> tuple[int, ...]:
    """`value` as an n-tuple of ints (a word such as "same" is not a size: call it with an
    int or a tuple only)."""
    if isinstance(value, str):
        raise TypeError(f"{value!r} is not a size")
    return value if isinstance(value, tuple) else (value,) * n


Kernel1d = int_or_ints(1, 1, MAX_KERNEL, "a kernel size")
Kernel2d = int_or_ints(2, 1, MAX_KERNEL, "a kernel size")
Stride1d = int_or_ints(1, 1, MAX_KERNEL, "a stride")
Stride2d = int_or_ints(2, 1, MAX_KERNEL, "a stride")
Dilation1d = int_or_ints(1, 1, MAX_KERNEL, "a dilation")
Dilation2d = int_or_ints(2, 1, MAX_KERNEL, "a dilation")
Padding1d = int_or_ints(1, 0, MAX_KERNEL, "a padding")
Padding2d = int_or_ints(2, 0, MAX_KERNEL, "a padding")
ConvPadding1d = int_or_ints(1, 0, MAX_KERNEL, "a padding", ("same", "valid"))
ConvPadding2d = int_or_ints(2, 0, MAX_KERNEL, "a padding", ("same", "valid"))
OutputSize1d = int_or_ints(1, 1, 4096, "an output size")
OutputSize2d = int_or_ints(2, 1, 4096, "an output size")
