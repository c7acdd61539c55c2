"""Loading of uploaded CSV files: a header row, then numeric columns only.

The caller names the target column; every other column is an input feature. Errors
name the data row (0-based, blank lines skipped) and the column.
"""

from __future__ import annotations

import csv
import io
import warnings
from typing import Any

import numpy as np

from app.errors import Loc, PayloadTooLarge, ValidationFailed
from app.services.arrays import ArrayLimits


def load_csv(data: bytes, target_column: str, *, file_loc: Loc, target_loc: Loc,
             limits: ArrayLimits) -> tuple[np.ndarray, np.ndarray]:
    """(inputs float32 [rows, features], targets [rows]: int64 if all integers else float32)."""
    text = _decode(data, file_loc)
    header = _header(text, file_loc)
    if target_column not in header:
        raise ValidationFailed(target_loc, f"no column named {target_column!r}; the header has "
                               f"{header[:20]}", type="unknown_column")
    if len(header) < 2:
        raise ValidationFailed(file_loc, "needs at least one input column besides the target",
                               type="no_features")
    estimate = (text.count("\n") + 1) * len(header)
    if estimate > limits.max_values + len(header):
        raise PayloadTooLarge(f"the CSV has about {estimate} values; the limit is "
                              f"{limits.max_values}", code="too_many_values")
    try:
        table = _loadtxt(text, dtype=np.float64, ndmin=2)
    except ValueError:
        raise _locate_problem(text, header, file_loc) from None
    if table.shape[0] == 0:
        raise ValidationFailed(file_loc, "has a header but no data rows", type="empty")
    if table.shape[1] != len(header):
        raise _locate_problem(text, header, file_loc)
    t = header.index(target_column)
    with np.errstate(over="ignore", invalid="ignore"):
        table32 = table.astype(np.float32)
    finite = np.isfinite(table32)
    if not finite.all():
        row, col = (int(i) for i in np.argwhere(~finite)[0])
        raise ValidationFailed((*file_loc, row, header[col]), "must be a finite number within "
                               "float32 range (NaN and Infinity are refused)", type="not_finite")
    inputs = np.delete(table32, t, axis=1)
    targets = _integer_targets(text, t, file_loc, target_column)
    if targets is None:
        targets = table32[:, t]
    return inputs, targets


def _loadtxt(text: str, **kwargs: Any) -> np.ndarray:
    """The rows after the header; blank lines are skipped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "no data", "line contained no data"
        return np.loadtxt(io.StringIO(text), delimiter=",", skiprows=1, comments=None,
                          quotechar='"', **kwargs)


def _decode(data: bytes, loc: Loc) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(loc, f"is not UTF-8 text (bad byte at offset {exc.start})",
                               type="invalid_csv") from exc
    if "\x00" in text:
        raise ValidationFailed(loc, "contains NUL characters: not a text CSV file",
                               type="invalid_csv")
    return text


def _header(text: str, loc: Loc) -> list[str]:
    first_line = text.split("\n", 1)[0]
    try:
        header = [name.strip() for name in next(csv.reader([first_line]), [])]
    except csv.Error as exc:
        raise ValidationFailed(loc, f"unreadable header row: {exc}", type="invalid_csv") from exc
    if not header or all(not name for name in header):
        raise ValidationFailed(loc, "is empty: expected a header row naming the columns",
                               type="invalid_csv")
    if any(not name for name in header):
        raise ValidationFailed(loc, "the header has an empty column name", type="invalid_csv")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValidationFailed(loc, f"duplicate column names {duplicates}", type="invalid_csv")
    return header


def _integer_targets(text: str, t: int, file_loc: Loc, name: str) -> np.ndarray | None:
    """The target column as int64 when every value is written as an integer."""
    column = np.char.strip(_loadtxt(text, dtype=str, ndmin=1, usecols=[t]))
    if not np.all(np.char.isdigit(np.char.lstrip(column, "+-"))):
        return None
    try:
        return column.astype(np.int64)
    except (ValueError, OverflowError):
        raise ValidationFailed((*file_loc, name), "integer target out of int64 range",
                               type="out_of_range") from None


def _locate_problem(text: str, header: list[str], loc: Loc) -> ValidationFailed:
    """Find the first bad row or cell (only called once parsing has failed)."""
    reader = csv.reader(io.StringIO(text))
    row_index = -1
    try:
        next(reader)
        for row in reader:
            if not row:
                continue
            row_index += 1
            if len(row) != len(header):
                return ValidationFailed((*loc, row_index), f"line {reader.line_num} has "
                                        f"{len(row)} columns; the header has {len(header)}",
                                        type="invalid_csv")
            for name, cell in zip(header, row):
                try:
                    float(cell)
                except ValueError:
                    return ValidationFailed(
                        (*loc, row_index, name),
                        f"line {reader.line_num}: column {name!r} must be numeric, got "
                        f"{cell[:40]!r}; only numeric columns are accepted (encode categories "
                        "as numbers or drop the column)", type="not_a_number")
    except csv.Error as exc:
        return ValidationFailed((*loc, max(row_index, 0)), f"unreadable CSV: {exc}",
                                type="invalid_csv")
    return ValidationFailed(loc, "could not parse the CSV as numbers", type="invalid_csv")
