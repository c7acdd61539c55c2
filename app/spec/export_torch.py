"""A job's model spec as a standalone PyTorch module (`jobs export ID --framework torch`).

`torch_source(spec["model"])` is the Python source of a file defining `build()`, which
returns a `torch.nn.Module` of the same architecture as `app.spec.build.build_model`
builds, with the same state-dict keys and shapes, so the job's weights file loads into it:

    from safetensors.torch import load_file
    from model import build
    model = build()
    model.load_state_dict(load_file("model.safetensors"))

The file imports only torch and defines the spec-only blocks it uses (equivalents of
`app.spec.blocks`). Nothing from the spec is pasted into the source as text: layer types
come from this module's table (an unknown one is a ValueError), argument names are the
fields of the validated argument models, and argument values (numbers, booleans, None,
short words and tuples of ints, all bounded by the schema) are written with `repr`.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from app.spec.layers import LayerArgs
from app.spec.schema import LAYER_MODELS, ModelSpec, sublayers

# Layers built as `nn.<type>(**arguments)`, the same call in PyTorch as in the engine.
_PLAIN = frozenset({
    "Linear", "Identity", "Flatten", "Unflatten", "BatchNorm1d", "BatchNorm2d", "LayerNorm",
    "GroupNorm", "Dropout", "Dropout1d", "Dropout2d", "Embedding",
    "ReLU", "ReLU6", "SiLU", "Tanh", "Sigmoid", "LogSigmoid", "Mish", "LeakyReLU", "ELU",
    "GELU", "Softplus", "Softmax", "LogSoftmax", "Hardtanh",
    "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d",
})

# Layers the registry builds differently: type -> (the class in the generated file, the
# fixed arguments `app.spec.registry` adds, the helper class it needs or None).
_ADAPTED: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "RNN": ("RNNOutput", {"batch_first": True}, "RNNOutput"),
    "LSTM": ("LSTMOutput", {"batch_first": True}, "LSTMOutput"),
    "GRU": ("GRUOutput", {"batch_first": True}, "GRUOutput"),
    "MultiheadAttention": ("SelfAttention", {"batch_first": True}, "SelfAttention"),
    "TransformerEncoderLayer": ("nn.TransformerEncoderLayer", {"batch_first": True}, None),
    "SequencePool": ("SequencePool", {}, "SequencePool"),
    "Transpose": ("Transpose", {}, "Transpose"),
}

SUPPORTED_TYPES = frozenset({"Sequential", "Residual", *_PLAIN, *_ADAPTED})

_HELPERS: dict[str, str] = {
    "Residual": '''\
class Residual(nn.Sequential):
    """`x + block(x)`, the block being its children in order (keys as nn.Sequential's)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + super().forward(x)
''',
    "SequencePool": '''\
class SequencePool(nn.Module):
    """[N, T, F] -> [N, F]: the mean or max over steps, or the first or last step."""

    def __init__(self, mode: str = "mean") -> None:
        super().__init__()
        if mode not in ("mean", "max", "first", "last"):
            raise ValueError(f"unknown SequencePool mode {mode!r}")
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "mean":
            return x.mean(dim=1)
        if self.mode == "max":
            return x.amax(dim=1)
        return x[:, 0] if self.mode == "first" else x[:, -1]

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"
''',
    "Transpose": '''\
class Transpose(nn.Module):
    """Swaps two dimensions (0 is the batch)."""

    def __init__(self, dim0: int, dim1: int) -> None:
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self) -> str:
        return f"dim0={self.dim0}, dim1={self.dim1}"
''',
    **{f"{name}Output": f'''\
class {name}Output(nn.{name}):
    """`nn.{name}(..., batch_first=True)` yielding only its output sequence."""

    def forward(self, x: torch.Tensor, hx=None) -> torch.Tensor:
        return super().forward(x, hx)[0]
''' for name in ("RNN", "LSTM", "GRU")},
    "SelfAttention": '''\
class SelfAttention(nn.MultiheadAttention):
    """`nn.MultiheadAttention(..., batch_first=True)` as self-attention (query = key =
    value = x), yielding the attended sequence only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x, x, x, need_weights=False)[0]
''',
}

_INDENT = "    "


def torch_source(model_spec: dict[str, Any] | ModelSpec, *, origin: str | None = None) -> str:
    """Python source of a standalone module defining `build() -> torch.nn.Module`, the
    network of `model_spec` (a job's stored `spec["model"]`, or its validated model).

    `origin` (e.g. the job's id) is named in the header comment. Raises ValueError for a
    spec that does not validate or names a layer type this export does not support.
    """
    model = _validated(model_spec)
    helpers: set[str] = set()
    body = _render_list(model.layers, 2, helpers)
    tokens = _first_leaf(model.layers).type == "Embedding"
    helper_source = "".join(_HELPERS[name] + "\n\n" for name in _HELPERS if name in helpers)
    return (f"{_header(origin, tokens)}\n"
            "from __future__ import annotations\n\n"
            "import torch\n"
            "from torch import nn\n\n\n"
            f"{helper_source}"
            "def build() -> nn.Module:\n"
            f'{_INDENT}"""The network, with the state-dict keys of the job\'s weights file."""\n'
            f"{_INDENT}return nn.Sequential(\n{body}{_INDENT})\n")


def _validated(model_spec: dict[str, Any] | ModelSpec) -> ModelSpec:
    if isinstance(model_spec, ModelSpec):
        model = model_spec
    else:
        if not isinstance(model_spec, dict):
            raise ValueError("expected the model spec as a dict: {\"layers\": [...]}")
        _check_types(model_spec.get("layers"))
        try:
            model = ModelSpec.model_validate(model_spec)
        except ValidationError as exc:
            raise ValueError(f"invalid model spec: {exc}") from exc
    _check_types(model.layers)
    return model


def _check_types(layers: Any) -> None:
    """A clear ValueError naming the first layer type the export cannot write."""
    if not isinstance(layers, list):
        return  # left to validation
    for layer in layers:
        kind = layer.get("type") if isinstance(layer, dict) else getattr(layer, "type", None)
        if isinstance(kind, str) and kind not in SUPPORTED_TYPES:
            shown = kind if len(kind) <= 40 else kind[:40] + "..."
            known = "a known" if kind in LAYER_MODELS else "an unknown"
            raise ValueError(f"layer type {shown!r} ({known} type) is not supported by the "
                             "PyTorch export")
        inner = layer.get("layers") if isinstance(layer, dict) else getattr(layer, "layers",
                                                                            None)
        _check_types(inner)


def _first_leaf(layers: list[LayerArgs]) -> LayerArgs:
    inner = sublayers(layers[0])
    return layers[0] if inner is None else _first_leaf(inner)


def _render_list(layers: list[LayerArgs], depth: int, helpers: set[str]) -> str:
    return "".join(_render(layer, depth, helpers) for layer in layers)


def _render(layer: LayerArgs, depth: int, helpers: set[str]) -> str:
    pad = _INDENT * depth
    inner = sublayers(layer)
    if inner is not None:
        if layer.type == "Residual":
            helpers.add("Residual")
            cls = "Residual"
        else:
            cls = "nn.Sequential"
        return f"{pad}{cls}(\n{_render_list(inner, depth + 1, helpers)}{pad}),\n"
    if layer.type in _PLAIN:
        cls, fixed = f"nn.{layer.type}", {}
    elif layer.type in _ADAPTED:
        cls, fixed, helper = _ADAPTED[layer.type]
        if helper is not None:
            helpers.add(helper)
    else:  # unreachable after _check_types; kept so no type is ever written unchecked
        raise ValueError(f"layer type {layer.type!r} is not supported by the PyTorch export")
    kwargs = {name: value for name, value in layer if name != "type"} | fixed
    args = ", ".join(f"{name}={_literal(value)}" for name, value in kwargs.items())
    return f"{pad}{cls}({args}),\n"


def _literal(value: Any) -> str:
    """`repr` of a validated argument value; anything else is refused."""
    if value is None or type(value) in (bool, int, float, str):
        return repr(value)
    if type(value) is tuple and all(type(v) is int for v in value):
        return repr(value)
    raise ValueError(f"cannot write an argument value of type {type(value).__name__}")


def _header(origin: str | None, tokens: bool) -> str:
    where = f"the model spec of job {ascii(origin)}" if origin is not None \
        else "a model spec"
    takes = ("int64 token ids [N, T] (the first layer is an Embedding)" if tokens
             else "float32 batches [N, ...] of the dataset's inputs")
    return (f"# Generated by Trainforge from {where}.\n"
            "# A standalone PyTorch definition of the network (needs only torch):\n"
            "#\n"
            "#     from safetensors.torch import load_file\n"
            "#     from model import build\n"
            "#     model = build()\n"
            '#     model.load_state_dict(load_file("model.safetensors"))\n'
            "#     model.eval()\n"
            "#\n"
            f"# It takes {takes}.\n")
