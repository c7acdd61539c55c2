"""Safe loading of uploaded `.npy` and `.npz` files.

Headers are read and checked (numeric dtype, value count, exact byte length) before any
data is read, so a small file that claims a huge shape is refused without allocating
it; arrays are then read with `allow_pickle=False`. `.npz` members are bounded by their
declared size (zip bombs stop there) and must be exactly `inputs` and `targets`.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib

import numpy as np

from app.errors import Loc, PayloadTooLarge, ValidationFailed
from app.services.arrays import ArrayLimits

_HEADER_ERRORS = (ValueError, TypeError, SyntaxError, EOFError, OverflowError)
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, EOFError,
               ValueError, OSError)
NPZ_KEYS = ("inputs", "targets")


def load_npy(data: bytes, loc: Loc, limits: ArrayLimits) -> np.ndarray:
    """One array from the bytes of a `.npy` file."""
    buf = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(buf)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(buf)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except _HEADER_ERRORS as exc:
        raise ValidationFailed(loc, f"not a valid .npy file: {exc}", type="invalid_npy") from exc
    if dtype.hasobject or dtype.kind not in "iuf" or dtype.subdtype is not None:
        raise ValidationFailed(loc, f"has dtype {dtype}; only integer and float arrays are "
                               "accepted", type="bad_dtype")
    count = math.prod(shape)
    if count > limits.max_values:
        raise PayloadTooLarge(f"the array has {count} values; the limit is {limits.max_values}",
                              code="too_many_values",
                              errors=[{"loc": list(loc), "msg": "too many values",
                                       "type": "too_many_values"}])
    expected, actual = count * dtype.itemsize, len(data) - buf.tell()
    if actual != expected:
        raise ValidationFailed(loc, f"the header promises shape {list(shape)} of {dtype} "
                               f"({expected} bytes) but the file holds {actual} bytes",
                               type="invalid_npy")
    buf.seek(0)
    return np.lib.format.read_array(buf, allow_pickle=False)


def load_npz(data: bytes, loc: Loc, limits: ArrayLimits) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) from a `.npz` saved as `np.savez(f, inputs=..., targets=...)`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except _ZIP_ERRORS as exc:
        raise ValidationFailed(loc, "not a valid .npz (zip) file", type="invalid_npz") from exc
    with archive:
        members = {info.filename: info for info in archive.infolist()}
        names = {name.removesuffix(".npy") for name in members}
        missing = [key for key in NPZ_KEYS if key not in names]
        extra = sorted(names - set(NPZ_KEYS))
        if missing or extra:
            raise ValidationFailed(loc, f"must hold exactly the arrays 'inputs' and 'targets' "
                                   f"(missing: {missing}, unexpected: {extra[:10]}); save it "
                                   "with np.savez(f, inputs=x, targets=y)", type="invalid_npz")
        max_member_bytes = limits.max_values * 16 + 65536
        arrays = []
        for key in NPZ_KEYS:
            info = members.get(f"{key}.npy") or members[key]
            if info.file_size > max_member_bytes:
                raise PayloadTooLarge(f"array {key!r} is too large when uncompressed",
                                      code="too_many_values")
            try:
                raw = archive.read(info)
            except _ZIP_ERRORS as exc:
                raise ValidationFailed((*loc, key), "corrupt or unsupported .npz member",
                                       type="invalid_npz") from exc
            arrays.append(load_npy(raw, (*loc, key), limits))
    return arrays[0], arrays[1]
