"""Reading delimited text files into features and labels, with line numbers in every error."""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import DTypeLike

from purenet.data.dataset import Dataset
from purenet.data.files import GZIP_MAGIC, check_file, display_name
from purenet.errors import DataFormatError

# ---------------------------------------------------------------------------------------------
# CSV


def _read_text(name: str, file: Path) -> str:
    try:
        raw = file.read_bytes()
        if raw[:2] == GZIP_MAGIC:
            raw = gzip.decompress(raw)
        return raw.decode("utf-8-sig")
    except (EOFError, OSError, zlib.error) as error:
        raise DataFormatError(f"{name}: corrupt or truncated gzip data ({error})") from None
    except UnicodeDecodeError as error:
        raise DataFormatError(f"{name}: not UTF-8 text ({error.reason})") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _scan_rows(
    name: str, lines: list[str], first: int, delimiter: str, columns: int, text: Sequence[int] = ()
) -> None:
    """Find the first malformed data row and raise with its line number (the slow path).

    Columns in `text` (0-based) may hold names; every other field must be a finite number.
    """
    for number, line in enumerate(lines[first:], start=first + 1):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(delimiter)]
        if len(fields) != columns:
            raise DataFormatError(
                f"{name}: line {number}: expected {columns} fields, found {len(fields)}"
            )
        for col, field in enumerate(fields, start=1):
            if col - 1 in text:
                continue
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


Column = int | str
"""A column of a table: a 0-based index, or a name from the header."""

LabelColumns = Column | Sequence[Column]
"""The label column(s) of `read_csv`: `"first"`, `"last"`, an index, a name, or a list."""


def _is_named(label: LabelColumns) -> bool:
    items = [label] if isinstance(label, int | str) else list(label)
    return any(isinstance(item, str) and item not in ("first", "last") for item in items)


def _column_index(name: str, item: Column, header: list[str] | None, columns: int) -> int:
    if item == "first":
        return 0
    if item == "last":
        return columns - 1
    if isinstance(item, int) and not isinstance(item, bool):
        if not -columns <= item < columns:
            raise ValueError(f"label column {item} out of range for {columns} columns")
        return item % columns
    if isinstance(item, str):
        if header is None:
            raise DataFormatError(
                f"{name}: label column {item!r} asked by name, but the file has no header"
            )
        if item not in header:
            raise DataFormatError(f"{name}: no column named {item!r}; columns: {', '.join(header)}")
        return header.index(item)
    raise ValueError(f"label must be 'first', 'last', a column index or name; got {item!r}")


def _label_indices(
    name: str, label: LabelColumns, header: list[str] | None, columns: int
) -> list[int]:
    items = [label] if isinstance(label, int | str) else list(label)
    if not items:
        raise ValueError("label names no column")
    indices = [_column_index(name, item, header, columns) for item in items]
    if len(set(indices)) != len(indices):
        raise ValueError(f"label names a column twice: {items}")
    return indices


def _is_header(head: list[str], lines: list[str], delimiter: str, labels: list[int]) -> bool:
    """A first line is a header when a feature field is not a number, or a label field is a
    name that does not occur again in its column (a class name recurs; a column title not)."""
    for col, field in enumerate(head):
        if _is_number(field):
            continue
        if col not in labels:
            return True
        if all(_field(line, delimiter, col) != field for line in lines if line.strip()):
            return True
    return False


def _field(line: str, delimiter: str, col: int) -> str:
    fields = line.split(delimiter)
    return fields[col].strip() if col < len(fields) else ""


def _parse_table(
    name: str, lines: list[str], start: int, delimiter: str, columns: int, labels: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(features float64 (n, f), labels (n, k): float64, or str when a label column holds
    a name); a malformed row raises with its line number."""
    data_lines = [line for line in lines[start:] if line.strip()]
    if not data_lines:
        raise DataFormatError(f"{name}: no data rows after the header")
    features = [c for c in range(columns) if c not in labels]
    try:
        table = np.loadtxt(
            data_lines, delimiter=delimiter, dtype=np.float64, ndmin=2, comments=None
        )
        if table.shape[1] == columns and bool(np.isfinite(table).all()):
            return table[:, features], table[:, labels]
    except ValueError:
        pass
    # Names in a label column (the slow path): read text, then numbers where they must be.
    _scan_rows(name, lines, start, delimiter, columns, text=labels)
    text = np.char.strip(
        np.loadtxt(data_lines, delimiter=delimiter, dtype=str, ndmin=2, comments=None)
    )
    label_text = text[:, labels]
    numeric = np.vectorize(_is_number, otypes=[bool])(label_text)
    if numeric.all():
        # Every label is a number, so the fast path failed on a NaN or Inf label.
        row = int(np.flatnonzero(~np.isfinite(label_text.astype(np.float64)).any(axis=1))[0])
        raise DataFormatError(
            f"{name}: data row {row + 1}: expected finite labels, found {label_text[row].tolist()}"
        )
    if len(labels) > 1:
        raise DataFormatError(
            f"{name}: several label columns must hold numbers (a 0/1 matrix or values); "
            f"found {label_text[~numeric][0]!r}"
        )
    return text[:, features].astype(np.float64), label_text


def read_csv(
    path: str | os.PathLike[str],
    *,
    label: LabelColumns = "first",
    header: bool | None = None,
    delimiter: str = ",",
    dtype: DTypeLike = np.float32,
) -> Dataset:
    """Read a table of numeric features and one or several label columns into a `Dataset`.

    Covers `mnist_train.csv` of the classic tutorials (label first, 784 pixels, no header),
    `ex2data2.txt` (`x1,x2,label`, label last), iris as it is usually shared (names such as
    `setosa` in the last column), regression tables (a float target column, or several) and
    multi-label tables (several 0/1 columns). Blank lines are skipped; gzip-compressed files
    are recognized by their bytes.

    Args:
        path: the table.
        label: the label column(s): `"first"`, `"last"`, a 0-based index, a column name
            (needs a header), or a list of these for several target columns.
        header: whether the first line is a header; `None` detects it: a header has a
            feature field that is not a number, or a label field that is a name occurring
            nowhere else in its column (a class name recurs, a column title does not).
        delimiter: the field separator.
        dtype: dtype of the features.

    Returns:
        `Dataset(x, y)`: `x` `(rows, features)` of `dtype`. One label column gives `y`
        `(rows,)`: int64 when every label is a whole number, float64 for other numbers, str
        when a label is not a number (names, e.g. `setosa`: every label is then a name).
        Several give `(rows, k)` int64 or float64 (they must be numbers).

    Raises:
        DataFormatError: an unreadable file, no data rows, a row with the wrong number of
            fields or a non-numeric or non-finite feature (with its line number), an
            unknown column name, no feature column, or features that do not fit `dtype`.
        ValueError: a bad `label` argument.

    Example:
        >>> from purenet.data.csv import read_csv
        >>> chips = read_csv("ex2data2.txt", label="last")  # doctest: +SKIP
        >>> chips.x.shape, chips.y[:3]  # doctest: +SKIP
        ((118, 2), array([1, 1, 1]))
    """
    name = display_name(path)
    lines = _read_text(name, check_file(path)).splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataFormatError(f"{name}: empty file, expected rows of numbers")
    head = [f.strip() for f in lines[first].split(delimiter)]
    columns = len(head)
    if header is None and _is_named(label):
        header = not all(_is_number(f) for f in head)
    if header is None:
        indices = _label_indices(name, label, None, columns)
        header = _is_header(head, lines[first + 1 :], delimiter, indices)
    else:
        indices = _label_indices(name, label, head if header else None, columns)
    start = first + 1 if header else first
    features, labels = _parse_table(name, lines, start, delimiter, columns, indices)
    if features.shape[1] < 1:
        raise DataFormatError(
            f"{name}: expected a label column and features, found {columns} column(s), all labels"
        )
    target = np.dtype(dtype)
    if np.issubdtype(target, np.integer) and features.size:
        info = np.iinfo(target)
        whole = bool((features == np.round(features)).all())
        if not whole or features.min() < info.min or features.max() > info.max:
            raise DataFormatError(
                f"{name}: features do not fit {target.name} (fractional or out of range)"
            )
    return Dataset(features.astype(target), _label_values(labels))


def _label_values(labels: np.ndarray) -> np.ndarray:
    """(n, k) label columns as `read_csv` returns them: (n,) for one column, whole numbers
    as int64."""
    y = labels[:, 0] if labels.shape[1] == 1 else labels
    if y.dtype.kind == "U":
        return y
    return y.astype(np.int64) if np.all(y == np.round(y)) else y


def read_label_columns(
    path: str | os.PathLike[str], *, header: bool | None = None, delimiter: str = ","
) -> np.ndarray:
    """Read a table that holds labels or targets only (every column), as for a labels file
    kept apart from its features.

    Args:
        path: the table: one column of labels (numbers or names) or several numeric columns.
        header: whether the first line is a header; `None` detects it as `read_csv` does.
        delimiter: the field separator.

    Returns:
        `(rows,)` for one column or `(rows, k)`, typed as `read_csv` types labels.

    Raises:
        DataFormatError: as `read_csv`.
    """
    name = display_name(path)
    lines = _read_text(name, check_file(path)).splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise DataFormatError(f"{name}: empty file, expected rows of labels")
    head = [f.strip() for f in lines[first].split(delimiter)]
    indices = list(range(len(head)))
    if header is None:
        header = _is_header(head, lines[first + 1 :], delimiter, indices)
    start = first + 1 if header else first
    _, labels = _parse_table(name, lines, start, delimiter, len(head), indices)
    return _label_values(labels)
