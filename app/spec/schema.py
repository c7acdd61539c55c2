"""The job spec: a declarative network, its loss, optimizer and scheduler, and how to
train it. Pure data: nothing in a spec is ever executed, every `type` names an entry of
the registries, and every argument is typed and bounded.

    {"dataset_id": "...", "model": {"layers": [
        {"type": "Linear", "in_features": 4, "out_features": 32}, {"type": "ReLU"},
        {"type": "Residual", "layers": [{"type": "Linear", "in_features": 32,
                                         "out_features": 32}, {"type": "ReLU"}]},
        {"type": "Linear", "in_features": 32, "out_features": 3}]},
     "loss": {"type": "CrossEntropyLoss"}, "optimizer": {"type": "Adam", "lr": 0.001},
     "epochs": 10, "batch_size": 32}

Layers are polymorphic on `type`; an error inside one has a plain path such as
`model.layers[2].in_features` (no union branch names).
"""

from __future__ import annotations

import difflib
import uuid
from typing import Annotated, Any, Literal, Union

from pydantic import Field, PlainValidator, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.spec import registry_training as RT
from app.spec.args import SpecModel
from app.spec.layers import LayerArgs
from app.spec.registry import LAYERS

MAX_LAYERS_PER_LIST = 256
METRICS = ("accuracy", "top5_accuracy", "mae", "mse", "rmse")
Metric = Literal["accuracy", "top5_accuracy", "mae", "mse", "rmse"]


def _tagged(table: dict[str, type[SpecModel]], what: str) -> Any:
    """A value validated by the model its `type` names in `table`: errors keep plain paths
    (`layers.2.in_features`), and an unknown `type` gets a suggestion."""

    def validate(value: Any) -> SpecModel:
        if type(value) is not dict:
            raise PydanticCustomError("model_type", "expected {what}: an object like "
                                      '{{"type": "{example}", ...}}',
                                      {"what": what, "example": next(iter(table))})
        tag = value.get("type")
        model = table.get(tag) if type(tag) is str else None
        if model is None:
            raise _unknown(value, table, what)
        return model.model_validate(value)

    models = tuple(table.values())
    schema = Annotated[Union[models], Field(discriminator="type")]  # noqa: UP007
    # `Any`, not SpecModel: dumps serialize the actual model with all its fields.
    return Annotated[Any, PlainValidator(validate, json_schema_input_type=schema)]


def _unknown(value: dict[str, Any], table: dict[str, Any], what: str) -> ValidationError:
    tag = value.get("type")
    if "type" not in value:
        message, kind = f'missing: every {what} needs a "type"', "missing"
    elif type(tag) is not str:
        message, kind = "must be a string naming the type", "string_type"
    else:
        near = difflib.get_close_matches(tag, table, n=1, cutoff=0.6)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        shown = tag if len(tag) <= 40 else tag[:40] + "..."
        message = (f"unknown {what} type {shown!r}{hint}; the {what} types are listed in "
                   "the API documentation")
        kind = "unknown_type"
    return ValidationError.from_exception_data("spec", [InitErrorDetails(
        type=PydanticCustomError(kind, message), loc=("type",), input=None)])


class Sequential(LayerArgs):
    """Its layers in order (a nested block)."""

    type: Literal["Sequential"]
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS_PER_LIST)


class Residual(LayerArgs):
    """`x + block(x)`, the block being its layers in order; it must keep the input's shape."""

    type: Literal["Residual"]
    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS_PER_LIST)


def sublayers(layer: LayerArgs) -> list[LayerArgs] | None:
    """A container's layers; None for any other layer."""
    return layer.layers if isinstance(layer, Sequential | Residual) else None


LAYER_MODELS: dict[str, type[SpecModel]] = {
    "Sequential": Sequential, "Residual": Residual, **{k: e.args for k, e in LAYERS.items()}}
Layer = _tagged(LAYER_MODELS, "layer")
Sequential.model_rebuild()
Residual.model_rebuild()

Loss = _tagged({k: e.args for k, e in RT.LOSSES.items()}, "loss")
Optimizer = _tagged({k: e.args for k, e in RT.OPTIMIZERS.items()}, "optimizer")
Scheduler = _tagged({k: e.args for k, e in RT.SCHEDULERS.items()}, "scheduler")


class ModelSpec(SpecModel):
    """The network: its layers in order, applied to a batch of the dataset's inputs."""

    layers: list[Layer] = Field(min_length=1, max_length=MAX_LAYERS_PER_LIST)


class EarlyStopping(SpecModel):
    """Stop when `monitor` has not improved by `min_delta` for `patience` epochs."""

    monitor: str = Field("val_loss", pattern=r"^(train|val)_[a-z0-9_]{1,40}$",
                         description="`val_loss`, `train_loss` or `val_<metric>`.")
    mode: Literal["min", "max"] = "min"
    patience: int = Field(5, ge=1, le=10_000)
    min_delta: float = Field(0.0, ge=0.0, le=1e6)
    restore_best: bool = Field(True, description="End with the best epoch's weights.")


class JobSpec(SpecModel):
    """What to train and how. Exactly one of `epochs` and `max_steps` may be omitted (give
    at least one; with both, training stops at whichever comes first)."""

    dataset_id: uuid.UUID = Field(strict=False, description="The training dataset.")
    validation_dataset_id: uuid.UUID | None = Field(
        None, strict=False, description="A held-out dataset of the same shapes.")
    validation_split: float | None = Field(
        None, gt=0.0, lt=1.0, description="Hold out this fraction of the training dataset "
        "instead (taken with `seed`).")
    model: ModelSpec
    loss: Loss  # type: ignore[valid-type]
    optimizer: Optimizer  # type: ignore[valid-type]
    lr_scheduler: Scheduler | None = None  # type: ignore[valid-type]
    epochs: int | None = Field(None, ge=1, le=100_000)
    max_steps: int | None = Field(None, ge=1, le=1_000_000_000)
    batch_size: int = Field(32, ge=1, le=65_536)
    shuffle: bool = True
    seed: int | None = Field(None, ge=0, le=2**32 - 1, description="Random seed; chosen "
                             "and stored at submission when omitted.")
    metrics: list[Metric] = Field(default_factory=list, max_length=len(METRICS),
                                  description="Recorded per epoch besides the loss.")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    checkpoint_every_steps: int | None = Field(
        None, ge=1, le=1_000_000_000, description="Checkpoint interval in optimizer steps "
        "(default: the server's setting); a checkpoint is also taken at each epoch's end.")
    early_stopping: EarlyStopping | None = None
    grad_clip_norm: float | None = Field(None, gt=0.0, le=1e6)
    max_runtime_seconds: int | None = Field(None, ge=1, le=30 * 86_400)
