"""PyTorch-style `repr` of tensors: `tensor([[1., 2.]], requires_grad=True)`."""

from __future__ import annotations

import numpy as np

from . import dtypes

_DEFAULT_DTYPES = (dtypes.float32, dtypes.int64, dtypes.bool_)


def _format(arr: np.ndarray, prefix: str) -> str:
    opts = dict(separator=", ", prefix=prefix, threshold=1000, edgeitems=3,
                max_line_width=80)
    if arr.dtype.kind == "f" and arr.size:
        finite = arr[np.isfinite(arr)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or
                               (np.abs(finite[finite != 0]).min(initial=1) < 1e-4))
        if big:
            return np.array2string(arr, formatter={"float_kind": lambda v: f"{v:.4e}"}, **opts)
        if integral:
            width = max(len(_integral_float(v)) for v in arr.reshape(-1)[:1000])
            return np.array2string(
                arr, formatter={"float_kind": lambda v: _integral_float(v).rjust(width)}, **opts
            )
        return np.array2string(arr, precision=4, floatmode="fixed", **opts)
    if arr.dtype == np.bool_:
        width = 5 if (~arr).any() else 4  # torch pads to the widest of True/False present
        return np.array2string(arr, formatter={"bool": lambda v: str(v).rjust(width)}, **opts)
    return np.array2string(arr, **opts)


def _integral_float(v) -> str:
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.0f}."


def tensor_repr(t) -> str:
    prefix = "tensor("
    arr = t._device.backend.to_host(t._data)
    if arr.dtype.kind == "f" and arr.dtype != np.float64:
        arr = arr.astype(np.float64)  # printing only: avoid float32 repr noise
    body = _format(arr, prefix) if arr.size or arr.ndim == 1 else "[]"
    suffix = []
    if arr.size == 0 and arr.ndim != 1:
        suffix.append(f"size={tuple(arr.shape)}")
    if t._device.type != "cpu":
        suffix.append(f"device='{t._device}'")
    if t.dtype not in _DEFAULT_DTYPES:
        suffix.append(f"dtype={t.dtype}")
    if t.grad_fn is not None:
        suffix.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        suffix.append("requires_grad=True")
    return prefix + body + "".join(", " + s for s in suffix) + ")"
