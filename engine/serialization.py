"""`engine.save` / `engine.load`: tensors and state dicts in the safetensors format.

Never pickle: loading a file can never execute code. A flat mapping of names to tensors
(a model's state_dict) is written as a plain safetensors file, so
`safetensors.torch.load_file` reads it into PyTorch, and PyTorch's files load here.
Nested structures with tensors inside (an optimizer's state_dict, a checkpoint bundle)
are stored as their tensors under dotted keys plus a JSON description of the structure
in the safetensors metadata header. Free-form string metadata (e.g. a model spec)
travels in the same header.
"""

from __future__ import annotations

import io
import json
import os
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO, Any

import numpy as np

from .backend import resolve
from .errors import EngineTypeError, EngineValueError
from .tensor import Tensor

__all__ = ["save", "load", "load_metadata", "to_bytes"]

_STRUCTURE = "__engine_structure__"


def save(obj: Any, f: str | os.PathLike | IO[bytes], metadata: Mapping[str, str] | None = None
         ) -> None:
    """Save a state dict (or a nested structure of tensors and JSON values) to `f`.

    >>> import engine, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "w.safetensors")
    >>> engine.save({"w": engine.ones(2)}, path, metadata={"spec": "mlp"})
    >>> engine.load(path)["w"], engine.load_metadata(path)["spec"]
    (tensor([1., 1.]), 'mlp')
    """
    meta = {str(k): _str_value(k, v) for k, v in (metadata or {}).items()}
    if _STRUCTURE in meta:
        raise EngineValueError(f"metadata key {_STRUCTURE!r} is reserved")
    if isinstance(obj, Mapping) and all(isinstance(v, Tensor) for v in obj.values()) \
            and all(isinstance(k, str) for k in obj):
        arrays = {k: _host(v) for k, v in obj.items()}
    else:
        arrays = {}
        meta[_STRUCTURE] = json.dumps(_encode(obj, "", arrays))
    _check_dtypes(arrays)
    from safetensors.numpy import save as st_save

    blob = st_save(arrays, metadata=meta or None)
    if hasattr(f, "write"):
        f.write(blob)
    else:
        tmp = f"{os.fspath(f)}.tmp"
        with open(tmp, "wb") as out:  # write-then-rename: a crash never leaves half a file
            out.write(blob)
        os.replace(tmp, f)


def load(f: str | os.PathLike | IO[bytes] | bytes, map_location=None) -> Any:
    """Load what `save` wrote (or any safetensors file) onto `map_location` (default CPU).

    A plain file gives an OrderedDict of name -> Tensor (in the file's key order, which
    safetensors sorts; `load_state_dict` matches by name, so order never matters).
    """
    arrays, meta = _read(f)
    dev = resolve(map_location if map_location is not None else "cpu")

    def tensor_of(key: str) -> Tensor:
        from .ops.creation import as_tensor

        return as_tensor(arrays[key], device=dev)

    if _STRUCTURE in meta:
        return _decode(json.loads(meta[_STRUCTURE]), tensor_of)
    return OrderedDict((k, tensor_of(k)) for k in arrays)


def load_metadata(f: str | os.PathLike | IO[bytes] | bytes) -> dict[str, str]:
    """The free-form string metadata stored with `save(..., metadata=...)`."""
    _, meta = _read(f, tensors=False)
    meta.pop(_STRUCTURE, None)
    return meta


def _read(f, tensors: bool = True) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from safetensors import safe_open
    from safetensors.numpy import load as st_load

    try:
        if isinstance(f, bytes | bytearray) or hasattr(f, "read"):
            blob = bytes(f) if isinstance(f, bytes | bytearray) else f.read()
            header_len = int.from_bytes(blob[:8], "little")
            header = json.loads(blob[8:8 + header_len])
            meta = dict(header.get("__metadata__") or {})
            return (st_load(blob) if tensors else {}), meta
        with safe_open(os.fspath(f), framework="np") as sf:
            meta = dict(sf.metadata() or {})
            return ({k: sf.get_tensor(k) for k in sf.keys()} if tensors else {}), meta
    except FileNotFoundError:
        raise
    except Exception as e:  # safetensors and json raise several types for bad files
        raise EngineValueError(f"not a loadable safetensors file: {e}") from None


def _host(t: Tensor) -> np.ndarray:
    arr = t._device.backend.to_host(t._data)
    return arr if arr.flags.c_contiguous else np.array(arr, order="C")  # keeps 0-d shapes


def _check_dtypes(arrays: dict) -> None:
    for k, v in arrays.items():
        if v.dtype == np.bool_ or v.dtype.kind in "iuf":
            continue
        raise EngineTypeError(f"cannot save tensor {k!r} of dtype {v.dtype}")


def _str_value(k, v) -> str:
    if not isinstance(v, str):
        raise EngineTypeError(f"metadata values must be strings; {k!r} is {type(v).__name__}")
    return v


def _encode(obj: Any, path: str, arrays: dict) -> Any:
    """JSON-able description of obj; tensors go into `arrays` under their path."""
    if isinstance(obj, Tensor):
        key = path or "tensor"
        arrays[key] = _host(obj)
        return {"__tensor__": key}
    if isinstance(obj, Mapping):
        items = [[_encode_key(k), _encode(v, f"{path}.{k}" if path else str(k), arrays)]
                 for k, v in obj.items()]
        return {"__dict__": items}
    if isinstance(obj, list | tuple):
        items = [_encode(v, f"{path}.{i}" if path else str(i), arrays) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if isinstance(obj, np.generic):
        return obj.item()
    raise EngineTypeError(
        f"engine.save stores tensors and JSON values only (no pickle); got {type(obj).__name__}"
        f" at {path or 'the top level'!r}"
    )


def _encode_key(k) -> Any:
    if isinstance(k, bool) or not isinstance(k, str | int):
        raise EngineTypeError(f"dict keys must be str or int to be saved, got {k!r}")
    return k


def _decode(obj: Any, tensor_of) -> Any:
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensor_of(obj["__tensor__"])
        if "__tuple__" in obj:
            return tuple(_decode(v, tensor_of) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return OrderedDict((k, _decode(v, tensor_of)) for k, v in obj["__dict__"])
    if isinstance(obj, list):
        return [_decode(v, tensor_of) for v in obj]
    return obj


def to_bytes(obj: Any, metadata: Mapping[str, str] | None = None) -> bytes:
    """`save` into bytes (for storing checkpoints in a database)."""
    buf = io.BytesIO()
    save(obj, buf, metadata)
    return buf.getvalue()
