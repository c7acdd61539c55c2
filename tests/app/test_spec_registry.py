"""The spec registries (no database): every layer's parameter formula and output bound
against the module it builds, every loss, optimizer and scheduler builds, and the JSON
schema lists every type. A new registry entry needs a sample here."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

import engine
from app.spec import build as B
from app.spec.registry import LAYERS
from app.spec.registry_training import LOSSES, OPTIMIZERS, SCHEDULERS
from app.spec.schema import LAYER_MODELS, JobSpec, ModelSpec

# type -> (extra arguments, input shape per sample, integer token input)
SAMPLES: dict[str, tuple[dict[str, Any], tuple[int, ...]]] = {
    "Linear": ({"in_features": 4, "out_features": 3, "bias": False}, (5, 4)),
    "Identity": ({}, (4,)),
    "Flatten": ({}, (2, 3, 4)),
    "Unflatten": ({"dim": 1, "unflattened_size": [2, 2]}, (4,)),
    "BatchNorm1d": ({"num_features": 3}, (3, 5)),
    "BatchNorm2d": ({"num_features": 3, "affine": False}, (3, 4, 4)),
    "LayerNorm": ({"normalized_shape": [3, 4], "bias": False}, (2, 3, 4)),
    "GroupNorm": ({"num_groups": 2, "num_channels": 4}, (4, 3, 3)),
    "Dropout": ({"p": 0.2}, (4,)),
    "Dropout1d": ({}, (3, 5)),
    "Dropout2d": ({}, (3, 4, 4)),
    "Embedding": ({"num_embeddings": 10, "embedding_dim": 3, "padding_idx": 0}, (6,)),
    "ReLU": ({}, (4,)), "ReLU6": ({}, (4,)), "SiLU": ({}, (4,)), "Tanh": ({}, (4,)),
    "Sigmoid": ({}, (4,)), "LogSigmoid": ({}, (4,)), "Mish": ({}, (4,)),
    "LeakyReLU": ({"negative_slope": 0.2}, (4,)), "ELU": ({"alpha": 0.5}, (4,)),
    "GELU": ({"approximate": "tanh"}, (4,)), "Softplus": ({"beta": 2.0}, (4,)),
    "Softmax": ({"dim": 1}, (4,)), "LogSoftmax": ({}, (4,)),
    "Hardtanh": ({"min_val": -2.0, "max_val": 2.0}, (4,)),
    "Conv1d": ({"in_channels": 2, "out_channels": 4, "kernel_size": 3, "padding": "same",
                "groups": 2}, (2, 9)),
    "Conv2d": ({"in_channels": 3, "out_channels": 4, "kernel_size": [3, 1], "stride": 2,
                "padding": [1, 0], "padding_mode": "reflect"}, (3, 8, 8)),
    "ConvTranspose1d": ({"in_channels": 2, "out_channels": 3, "kernel_size": 4, "stride": 2,
                         "output_padding": 1}, (2, 5)),
    "ConvTranspose2d": ({"in_channels": 2, "out_channels": 4, "kernel_size": 2, "stride": 2,
                         "groups": 2}, (2, 3, 3)),
    "MaxPool1d": ({"kernel_size": 2}, (3, 8)),
    "MaxPool2d": ({"kernel_size": 3, "stride": 1, "padding": 1}, (3, 5, 5)),
    "AvgPool1d": ({"kernel_size": 2, "ceil_mode": True}, (3, 7)),
    "AvgPool2d": ({"kernel_size": 2}, (3, 4, 4)),
    "AdaptiveAvgPool1d": ({"output_size": 2}, (3, 7)),
    "AdaptiveAvgPool2d": ({"output_size": 1}, (3, 5, 5)),
    "AdaptiveMaxPool1d": ({"output_size": 3}, (3, 7)),
    "AdaptiveMaxPool2d": ({"output_size": [2, 3]}, (3, 5, 5)),
    "RNN": ({"input_size": 3, "hidden_size": 4, "nonlinearity": "relu", "num_layers": 2,
             "dropout": 0.1}, (5, 3)),
    "LSTM": ({"input_size": 3, "hidden_size": 4, "bidirectional": True, "num_layers": 2},
             (5, 3)),
    "GRU": ({"input_size": 3, "hidden_size": 4, "bias": False}, (5, 3)),
    "MultiheadAttention": ({"embed_dim": 8, "num_heads": 2}, (5, 8)),
    "TransformerEncoderLayer": ({"d_model": 8, "nhead": 2, "dim_feedforward": 16,
                                 "activation": "gelu", "norm_first": True}, (5, 8)),
    "SequencePool": ({"mode": "max"}, (5, 8)),
    "Transpose": ({"dim0": 1, "dim1": 2}, (5, 8)),
}


def test_every_layer_has_a_sample() -> None:
    assert set(SAMPLES) == set(LAYERS)
    assert set(LAYER_MODELS) == set(LAYERS) | {"Sequential", "Residual"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_layer_facts_match_the_built_module(name: str) -> None:
    extra, shape = SAMPLES[name]
    entry = LAYERS[name]
    args = entry.args.model_validate({"type": name, **extra})
    module = B.build_layer(args, ("model", "layers", 0))
    assert entry.params(args) == B.count_parameters(module)
    if entry.tokens:
        x = engine.randint(0, 10, (2, *shape))
    else:
        x = engine.randn(2, *shape, requires_grad=True)
    assert entry.check is None or entry.check(args, shape) is None
    out = module.train()(x)
    assert isinstance(out, engine.Tensor)
    assert math.prod(out.shape[1:]) <= entry.out_bound(args, shape)
    if out.requires_grad:
        out.float().sum().backward()


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_build_and_compute(name: str) -> None:
    entry = LOSSES[name]
    loss = entry.build(entry.args.model_validate({"type": name}))
    out = engine.randn(4, 3, requires_grad=True)
    if entry.kind == "classification":
        target = engine.tensor([0, 1, 2, 1])
        out = out.log_softmax(dim=1) if name == "NLLLoss" else out
    elif entry.kind == "distribution":
        target, out = engine.full((4, 3), 1 / 3), out.log_softmax(dim=1)
    else:
        target = engine.rand(4, 3)
        out = out.sigmoid() if name == "BCELoss" else out
    B.compute_loss(loss, entry.kind, out, target).backward()


def _spec(**overrides: Any) -> JobSpec:
    body = {"dataset_id": "6d1f0a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b",
            "model": {"layers": [{"type": "Linear", "in_features": 2, "out_features": 2}]},
            "loss": {"type": "MSELoss"}, "optimizer": {"type": "SGD"}, "epochs": 1}
    return JobSpec.model_validate(body | overrides)


SCHEDULER_ARGS = {"StepLR": {"step_size": 2}, "MultiStepLR": {"milestones": [1, 3]},
                  "ExponentialLR": {"gamma": 0.9}, "CosineAnnealingLR": {"T_max": 5},
                  "CosineAnnealingWarmRestarts": {"T_0": 2}, "OneCycleLR": {"max_lr": 0.1},
                  "CyclicLR": {"base_lr": 0.01, "max_lr": 0.1}}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_build_and_step(name: str) -> None:
    spec = _spec(optimizer={"type": name})
    model = B.build_model(spec.model)
    optimizer = B.build_optimizer(spec, model.parameters())
    model(engine.randn(3, 2)).sum().backward()
    optimizer.step()


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_schedulers_build_and_step(name: str) -> None:
    spec = _spec(optimizer={"type": "SGD", "momentum": 0.9},
                 lr_scheduler={"type": name, **SCHEDULER_ARGS.get(name, {})})
    model = B.build_model(spec.model)
    optimizer = B.build_optimizer(spec, model.parameters())
    scheduler = B.build_scheduler(spec, optimizer, total_steps=10, epochs=10)
    optimizer.step()
    if name == "ReduceLROnPlateau":
        scheduler.step(1.0)
    else:
        scheduler.step()


def test_json_schema_discriminates_on_type() -> None:
    schema = ModelSpec.model_json_schema()
    items = schema["properties"]["layers"]["items"]
    assert items["discriminator"]["propertyName"] == "type"
    assert set(items["discriminator"]["mapping"]) == set(LAYER_MODELS)


@pytest.mark.parametrize(("layer", "loc", "message"), [
    ({"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": [1]},
     ("layers", 0, "kernel_size"), "expected a kernel size: an integer or a list of 2 integers"),
    ({"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3,
      "padding": "full"}, ("layers", 0, "padding"), "a list of 2 integers or 'same' or 'valid'"),
    ({"type": "Conv2d", "in_channels": 1, "out_channels": 1, "kernel_size": 3, "stride": 2,
      "padding": "same"}, ("layers", 0, "padding"), "'same' padding needs stride 1"),
    ({"type": "LayerNorm", "normalized_shape": []}, ("layers", 0, "normalized_shape"), None),
    ({"type": "GroupNorm", "num_groups": 3, "num_channels": 4}, ("layers", 0, "num_groups"),
     "must divide num_channels (4)"),
    ({"type": "LSTM", "input_size": 1, "hidden_size": 1, "dropout": 0.5},
     ("layers", 0, "dropout"), None),
    ({"type": "Sequential", "layers": []}, ("layers", 0, "layers"), None),
    ({"type": "Residual", "layers": [{"type": "Nope"}]}, ("layers", 0, "layers", 0, "type"),
     None),
])
def test_argument_errors_have_plain_paths(layer: dict, loc: tuple, message: str | None) -> None:
    with pytest.raises(ValidationError) as info:
        ModelSpec.model_validate({"layers": [layer]})
    error = info.value.errors()[0]
    assert error["loc"] == loc
    if message is not None:
        assert error["msg"].endswith(message)
