"""`app.spec.export_torch`: the generated PyTorch module builds the spec's network with the
engine model's state-dict keys, loads the engine's safetensors weights, and gives the same
outputs; it imports only torch and the standard library; unsupported types are refused."""

from __future__ import annotations

import ast
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import engine
from app.spec import build as B
from app.spec.export_torch import SUPPORTED_TYPES, torch_source
from app.spec.registry import LAYER_TYPES, LAYERS
from app.spec.schema import ModelSpec
from tests.app.test_spec_registry import SAMPLES


def lin(i: int, o: int, **kw: Any) -> dict[str, Any]:
    return {"type": "Linear", "in_features": i, "out_features": o, **kw}


ACTIVATIONS = [{"type": t} for t in ("ReLU", "ReLU6", "SiLU", "Tanh", "Sigmoid", "LogSigmoid",
                                     "Mish", "Identity")] + [
    {"type": "LeakyReLU", "negative_slope": 0.2}, {"type": "ELU", "alpha": 0.7},
    {"type": "GELU", "approximate": "tanh"}, {"type": "GELU"},
    {"type": "Softplus", "beta": 2.0, "threshold": 3.0},
    {"type": "Hardtanh", "min_val": -0.5, "max_val": 0.75}]

# name -> (model spec layers, input shape per sample, token inputs)
SPECS: dict[str, tuple[list[dict[str, Any]], tuple[int, ...], bool]] = {
    "mlp": ([lin(4, 16), {"type": "Dropout", "p": 0.3},
             *[layer for act in ACTIVATIONS for layer in (act, lin(16, 16))],
             {"type": "Residual", "layers": [lin(16, 16), {"type": "ReLU"},
                                             {"type": "Sequential", "layers": [
                                                 lin(16, 16, bias=False), {"type": "Tanh"}]}]},
             {"type": "LayerNorm", "normalized_shape": 16, "eps": 1e-3},
             lin(16, 3), {"type": "Softmax", "dim": 1}], (4,), False),
    "cnn2d": ([{"type": "Unflatten", "dim": 1, "unflattened_size": [3, 8, 8]},
               {"type": "Conv2d", "in_channels": 3, "out_channels": 8, "kernel_size": [3, 2],
                "stride": [1, 2], "padding": [1, 0], "padding_mode": "reflect"},
               {"type": "BatchNorm2d", "num_features": 8, "eps": 1e-3, "momentum": 0.2},
               {"type": "ReLU"}, {"type": "Dropout2d", "p": 0.1},
               {"type": "Conv2d", "in_channels": 8, "out_channels": 8, "kernel_size": 3,
                "padding": "same", "dilation": 2, "groups": 4, "bias": False},
               {"type": "GroupNorm", "num_groups": 2, "num_channels": 8, "eps": 1e-4},
               {"type": "MaxPool2d", "kernel_size": 2, "stride": 1, "padding": 1,
                "dilation": 1, "ceil_mode": True},
               {"type": "AvgPool2d", "kernel_size": 3, "stride": 2, "padding": 1,
                "count_include_pad": False, "ceil_mode": True},
               {"type": "ConvTranspose2d", "in_channels": 8, "out_channels": 4,
                "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1,
                "dilation": 1},
               {"type": "BatchNorm2d", "num_features": 4, "affine": False},
               {"type": "AdaptiveMaxPool2d", "output_size": [3, 2]},
               {"type": "Residual", "layers": [{"type": "AdaptiveAvgPool2d",
                                                "output_size": [3, 2]}]},
               {"type": "AdaptiveAvgPool2d", "output_size": 1},
               {"type": "Flatten"}, lin(4, 5), {"type": "LogSoftmax"}], (192,), False),
    "cnn1d": ([{"type": "Conv1d", "in_channels": 2, "out_channels": 6, "kernel_size": 3,
                "stride": 2, "padding": 2, "padding_mode": "circular"},
               {"type": "BatchNorm1d", "num_features": 6, "momentum": None},
               {"type": "Dropout1d", "p": 0.4}, {"type": "ELU"},
               {"type": "MaxPool1d", "kernel_size": 3, "stride": 1, "padding": 1},
               {"type": "AvgPool1d", "kernel_size": 2, "ceil_mode": True},
               {"type": "ConvTranspose1d", "in_channels": 6, "out_channels": 4,
                "kernel_size": 4, "stride": 2, "groups": 2, "output_padding": 1},
               {"type": "Conv1d", "in_channels": 4, "out_channels": 4, "kernel_size": 3,
                "padding": "valid", "dilation": 2},
               {"type": "Sequential", "layers": [
                   {"type": "AdaptiveAvgPool1d", "output_size": 5},
                   {"type": "AdaptiveMaxPool1d", "output_size": 3}]},
               {"type": "Flatten", "start_dim": 1, "end_dim": 2},
               {"type": "BatchNorm1d", "num_features": 12, "track_running_stats": False},
               lin(12, 2)], (2, 17), False),
    "recurrent": ([{"type": "Embedding", "num_embeddings": 20, "embedding_dim": 6,
                    "padding_idx": 0},
                   {"type": "LSTM", "input_size": 6, "hidden_size": 5, "num_layers": 2,
                    "bidirectional": True, "dropout": 0.2},
                   {"type": "GRU", "input_size": 10, "hidden_size": 4, "bias": False},
                   {"type": "RNN", "input_size": 4, "hidden_size": 3, "nonlinearity": "relu",
                    "num_layers": 2, "bidirectional": True},
                   {"type": "RNN", "input_size": 6, "hidden_size": 3},
                   {"type": "SequencePool", "mode": "last"}, lin(3, 2)], (7,), True),
    "tokens_conv": ([{"type": "Embedding", "num_embeddings": 12, "embedding_dim": 4,
                      "padding_idx": -1},
                     {"type": "Transpose", "dim0": 1, "dim1": 2},
                     {"type": "Conv1d", "in_channels": 4, "out_channels": 4, "kernel_size": 3,
                      "padding": "same"},
                     {"type": "Transpose", "dim0": -1, "dim1": -2},
                     {"type": "Residual", "layers": [{"type": "Sequential", "layers": [
                         {"type": "GRU", "input_size": 4, "hidden_size": 4}]}]},
                     {"type": "SequencePool", "mode": "first"}], (9,), True),
    "transformer": ([lin(3, 8),
                     {"type": "TransformerEncoderLayer", "d_model": 8, "nhead": 2,
                      "dim_feedforward": 16, "activation": "gelu", "norm_first": True,
                      "layer_norm_eps": 1e-6},
                     {"type": "TransformerEncoderLayer", "d_model": 8, "nhead": 4,
                      "dim_feedforward": 12, "dropout": 0.2, "bias": False},
                     {"type": "Residual", "layers": [
                         {"type": "MultiheadAttention", "embed_dim": 8, "num_heads": 2,
                          "dropout": 0.1}]},
                     {"type": "MultiheadAttention", "embed_dim": 8, "num_heads": 4,
                      "bias": False},
                     {"type": "LayerNorm", "normalized_shape": [6, 8], "bias": False},
                     {"type": "LayerNorm", "normalized_shape": 8,
                      "elementwise_affine": False},
                     {"type": "SequencePool", "mode": "max"}, lin(8, 1)], (6, 3), False),
}


def _types(layers: list[dict[str, Any]]) -> set[str]:
    return {t for layer in layers
            for t in {layer["type"]} | _types(layer.get("layers", []))}


def test_specs_cover_every_layer_type() -> None:
    used = set().union(*(_types(layers) for layers, _, _ in SPECS.values()))
    assert used == set(LAYER_TYPES)
    assert SUPPORTED_TYPES == set(LAYER_TYPES)


def _engine_model(layers: list[dict[str, Any]]) -> tuple[Any, bytes]:
    """The engine model of `layers` with random weights and statistics, and its weights
    file as the service writes it."""
    model = B.build_model(ModelSpec.model_validate({"layers": layers}))
    rng = np.random.default_rng(0)
    state = {}
    for key, value in model.state_dict().items():
        array = value.numpy()
        if array.dtype.kind == "f":
            array = rng.normal(0.0, 0.5, array.shape).astype(array.dtype)
            if key.endswith("running_var"):
                array = np.abs(array) + 0.5
        state[key] = engine.from_numpy(np.array(array, copy=True))
    model.load_state_dict(state)
    return model.eval(), engine.serialization.to_bytes(model.state_dict())


def _torch_model(source: str) -> Any:
    torch = pytest.importorskip("torch")
    namespace: dict[str, Any] = {"__name__": "exported_model"}
    exec(compile(source, "model.py", "exec"), namespace)
    model = namespace["build"]()
    assert isinstance(model, torch.nn.Module)
    return model


def _check_parity(layers: list[dict[str, Any]], shape: tuple[int, ...], tokens: bool) -> None:
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    spec = ModelSpec.model_validate({"layers": layers}).model_dump(mode="json")
    source = torch_source(spec, origin="test")
    model, weights = _engine_model(layers)
    exported = _torch_model(source)
    assert list(exported.state_dict()) == list(model.state_dict())
    exported.load_state_dict(st.load(weights))  # strict: same keys and shapes
    exported.eval()
    rng = np.random.default_rng(1)
    if tokens:
        x = rng.integers(0, 10, (3, *shape)).astype(np.int64)
    else:
        x = rng.normal(size=(3, *shape)).astype(np.float32)
    with engine.no_grad():
        expected = model(engine.from_numpy(x)).numpy()
    with torch.no_grad():
        got = exported(torch.from_numpy(x)).numpy()
    assert got.dtype == expected.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_exported_model_matches_engine(name: str) -> None:
    _check_parity(*SPECS[name])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_each_layer_matches_engine(name: str) -> None:
    extra, shape = SAMPLES[name]
    _check_parity([{"type": name, **extra}], shape, LAYERS[name].tokens)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_source_imports_only_torch_and_stdlib(name: str) -> None:
    layers, _, _ = SPECS[name]
    source = torch_source({"layers": layers}, origin="job-1")
    tree = ast.parse(source)
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            modules.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id not in ("exec", "eval", "__import__", "open")
    assert "torch" in modules
    assert modules <= {"torch", "__future__"} | set(sys.stdlib_module_names)
    top = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
    assert "build" in top
    assert not {"app", "engine"} & modules


def test_written_file_runs_without_trainforge(tmp_path: Any) -> None:
    """The user's steps in a fresh interpreter, with `app` and `engine` unimportable."""
    pytest.importorskip("torch")
    pytest.importorskip("safetensors.torch")
    layers, shape, _ = SPECS["transformer"]
    model, weights = _engine_model(layers)
    (tmp_path / "model.py").write_text(torch_source({"layers": layers}, origin="j"))
    (tmp_path / "model.safetensors").write_bytes(weights)
    x = np.random.default_rng(2).normal(size=(2, *shape)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    script = (
        "import sys; sys.modules['app'] = sys.modules['engine'] = None\n"
        "import numpy as np, torch\n"
        "from safetensors.torch import load_file\n"
        "from model import build\n"
        "model = build()\n"
        "model.load_state_dict(load_file('model.safetensors'))\n"
        "model.eval()\n"
        "with torch.no_grad():\n"
        "    y = model(torch.from_numpy(np.load('x.npy')))\n"
        "np.save('y.npy', y.numpy())\n")
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True, timeout=120)
    with engine.no_grad():
        expected = model(engine.from_numpy(x)).numpy()
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-5)


def test_source_is_readable() -> None:
    layers = [lin(4, 8), {"type": "ReLU"},
              {"type": "Residual", "layers": [lin(8, 8, bias=False)]}, lin(8, 2)]
    source = torch_source({"layers": layers}, origin="3f2a")
    assert source.startswith("# Generated by Trainforge from the model spec of job '3f2a'.")
    assert "        nn.Linear(in_features=4, out_features=8, bias=True),\n" in source
    assert "        nn.ReLU(),\n" in source
    assert "        Residual(\n            nn.Linear(in_features=8, out_features=8, " \
           "bias=False),\n        ),\n" in source
    assert "class Residual(nn.Sequential)" in source
    assert "SequencePool" not in source and "LSTM" not in source  # only the helpers used
    compile(source, "model.py", "exec")


def test_origin_cannot_break_out_of_the_comment() -> None:
    source = torch_source({"layers": [lin(2, 2)]}, origin="x\nimport os\r\u2028'\"")
    assert source.splitlines()[0].startswith("# Generated by Trainforge")
    assert "import os" not in [line.strip() for line in source.splitlines()]
    ast.parse(source)


def test_validated_model_is_accepted() -> None:
    layers = [lin(2, 3), {"type": "GELU"}]
    assert torch_source(ModelSpec.model_validate({"layers": layers})) == \
        torch_source({"layers": layers})


@pytest.mark.parametrize("layers", [
    [{"type": "Conv3d", "in_channels": 1, "out_channels": 1, "kernel_size": 1}],
    [lin(2, 2), {"type": "Residual", "layers": [{"type": "__import__('os')"}]}],
    [{"type": "Sequential", "layers": [{"type": "Bilinear"}]}],
])
def test_unknown_type_is_a_value_error(layers: list[dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="not supported by the PyTorch export"):
        torch_source({"layers": layers})


def test_invalid_spec_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="invalid model spec"):
        torch_source({"layers": [{"type": "Linear", "in_features": 2}]})
    with pytest.raises(ValueError, match="invalid model spec"):
        torch_source({"layers": [{"type": "Dropout", "p": "0.5); import os; (0"}]})
