"""Reading delimited text files into features and labels, with line numbers in every error."""

from __future__ import annotations

import math
import os
from typing import Literal

import numpy as np
from numpy.typing import DTypeLike

from purenet.core.limits import CSV_BYTES, CSV_ROWS
from purenet.data.dataset import Dataset
from purenet.data.files import display_name, read_payload
from purenet.errors import DataFormatError

# ---------------------------------------------------------------------------------------------
# CSV


def _read_text(name: str, path: str | os.PathLike[str]) -> str:
    raw = read_payload(path, CSV_BYTES)
    rows = raw.count(b"\n")
    if rows > CSV_ROWS.value():
        raise DataFormatError(f"{name}: {CSV_ROWS.refusal(rows, 'lines')}")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{name}: not UTF-8 text ({error.reason})") from None


def _check_fits(name: str, features: np.ndarray, target: np.dtype) -> None:
    """Refuse features that overflow `target` (1e39 is inf in float32)."""
    over = np.abs(features) > np.finfo(target).max
    if over.any():
        row, col = np.argwhere(over)[0]
        raise DataFormatError(
            f"{name}: data row {row + 1}, feature {col + 1}: {features[row, col]:g} overflows "
            f"{target.name} (largest {np.finfo(target).max:g})"
        )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _scan_rows(name: str, lines: list[str], first: int, delimiter: str, columns: int) -> None:
    """Find the first malformed data row and raise with its line number (the slow path)."""
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(delimiter)]
        if len(fields) != columns:
            raise DataFormatError(
                f"{name}: line {number}: expected {columns} fields, found {len(fields)}"
            )
        for col, field in enumerate(fields, start=1):
            try:
                value = float(field)
            except ValueError:
                raise DataFormatError(
                    f"{name}: line {number}, column {col}: expected a number, found {field!r}"
                ) from None
            if not math.isfinite(value):
                raise DataFormatError(
                    f"{name}: line {number}, column {col}: expected a finite number, "
                    f"found {field!r}"
                )


def _label_index(
    name: str, label: Literal["first", "last"] | int | str, header: list[str] | None, columns: int
) -> int:
    if label == "first":
        return 0
    if label == "last":
        return columns - 1
    if isinstance(label, int) and not isinstance(label, bool):
        if not -columns <= label < columns:
            raise ValueError(f"label column {label} out of range for {columns} columns")
        return label % columns
    if isinstance(label, str):
        if header is None:
            raise DataFormatError(
                f"{name}: label column {label!r} asked by name, but the file has no header"
            )
        if label not in header:
            raise DataFormatError(
                f"{name}: no column named {label!r}; columns: {', '.join(header)}"
            )
        return header.index(label)
    raise ValueError(f"label must be 'first', 'last', a column index or name; got {label!r}")


def read_csv(
    path: str | os.PathLike[str],
    *,
    label: Literal["first", "last"] | int | str = "first",
    header: bool | None = None,
    delimiter: str = ",",
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Read a numeric table with one label column into a `Dataset`.

    Covers `mnist_train.csv` of the classic tutorials (label first, 784 pixels, no header)
    and `ex2data2.txt` (`x1,x2,label`, label last). Blank lines are skipped; gzip-compressed
    files are recognized by their bytes.

    Args:
        path: the table.
        label: which column holds the label: `"first"`, `"last"`, a 0-based index, or a
            column name (needs a header).
        header: whether the first line is a header; `None` detects it (a header has a field
            that is not a number).
        delimiter: the field separator.
        dtype: dtype of the features.

    Returns:
        `Dataset(x, y)`: `x` `(rows, columns - 1)` of `dtype`; `y` `(rows,)` int64 when every
        label is a whole number, else float64.

    Raises:
        DataFormatError: an unreadable file, no data rows, a row with the wrong number of
            fields or a non-numeric or non-finite field (with its line number), an unknown
            column name, or features that do not fit `dtype`.
        ValueError: a bad `label` argument.

    Example:
        >>> from purenet.data.csv import read_csv
        >>> chips = read_csv("ex2data2.txt", label="last")  # doctest: +SKIP
        >>> chips.x.shape, chips.y[:3]  # doctest: +SKIP
        ((118, 2), array([1, 1, 1]))
    """
    name = display_name(path)
    lines = _read_text(name, path).splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataFormatError(f"{name}: empty file, expected rows of numbers")
    head = [f.strip() for f in lines[first].split(delimiter)]
    has_header = (not all(_is_number(f) for f in head)) if header is None else header
    names = head if has_header else None
    start = first + 1 if has_header else first
    data_lines = [line for line in lines[start:] if line.strip()]
    if not data_lines:
        raise DataFormatError(f"{name}: no data rows after the header")
    columns = len(head)
    try:
        table = np.loadtxt(
            data_lines, delimiter=delimiter, dtype=np.float64, ndmin=2, comments=None
        )
        ok = table.shape[1] == columns and bool(np.isfinite(table).all())
    except ValueError:
        ok = False
    if not ok:
        _scan_rows(name, lines, start, delimiter, columns)
        raise DataFormatError(f"{name}: malformed table")  # pragma: no cover - scan raises
    if columns < 2:
        raise DataFormatError(f"{name}: expected a label column and features, found 1 column")
    index = _label_index(name, label, names, columns)
    labels = table[:, index]
    features = np.delete(table, index, axis=1)
    target = np.dtype(dtype)
    if np.issubdtype(target, np.integer) and features.size:
        info = np.iinfo(target)
        whole = bool((features == np.round(features)).all())
        if not whole or features.min() < info.min or features.max() > info.max:
            raise DataFormatError(
                f"{name}: features do not fit {target.name} (fractional or out of range)"
            )
    if target.kind == "f" and features.size:
        _check_fits(name, features, target)
    x = features.astype(target)
    whole = bool(np.all(labels == np.round(labels)))
    if whole and labels.size and np.abs(labels).max() >= 2.0**63:
        raise DataFormatError(f"{name}: a label of {np.abs(labels).max():g} does not fit int64")
    y = labels.astype(np.int64) if whole else labels
    return Dataset(x, y)
