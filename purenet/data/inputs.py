"""Reading raw inputs for a model (IDX, NPY, CSV) and labelled evaluation files."""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from purenet.data.csv import LabelColumns, read_csv, read_label_columns
from purenet.data.dataset import Dataset
from purenet.data.files import GZIP_MAGIC, check_file
from purenet.data.idx import read_idx, read_idx_pair
from purenet.errors import DataFormatError

_NPY_MAGIC = b"\x93NUMPY"


def read_inputs(path: str | os.PathLike[str]) -> np.ndarray:
    """Read raw model inputs from an IDX, NPY (no pickle) or CSV file (features only).

    The format is told by the file's first bytes (IDX: two zero bytes, also inside gzip;
    NPY: its magic), else by the name (`.csv`, `.txt`: comma-separated numbers, one
    sample per row, an optional header line).

    Args:
        path: the file.

    Returns:
        (n, ...) array: IDX and NPY as stored (a single sample of NPY gets a leading axis
        only if it is 1-D), CSV as (rows, columns) float64.

    Raises:
        DataFormatError: a missing or malformed file, an object array in an NPY file, an
            unknown format, or a file without values (`no rows`).
    """
    file = Path(path)
    array = _read_input_file(file)
    if array.size == 0:
        problem = "no rows" if len(array) == 0 else "rows without values"
        raise DataFormatError(f"{file}: {problem} (an array of shape {array.shape})")
    return array


def _read_input_file(file: Path) -> np.ndarray:
    check_file(file)
    with file.open("rb") as stream:
        head = stream.read(6)
    if head.startswith(_NPY_MAGIC):
        array = _read_npy(file)
        # A 1-D array is one sample, unless it is empty (then it is no rows, not one).
        return array[None] if array.ndim == 1 and array.size else array
    if head[:2] == GZIP_MAGIC:
        try:
            with gzip.open(file, "rb") as stream:
                head = stream.read(2)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataFormatError(f"{file}: corrupt or truncated gzip data ({exc})") from None
    if head[:2] == b"\x00\x00":
        return read_idx(file)
    suffixes = "".join(file.suffixes).lower()
    if suffixes.endswith((".csv", ".txt", ".csv.gz", ".txt.gz")):
        return _read_feature_rows(file)
    raise DataFormatError(
        f"{file}: unknown input format; expected IDX, NPY (.npy) or CSV (.csv, .txt)"
    )


def _read_npy(file: Path) -> np.ndarray:
    try:
        array = np.load(file, allow_pickle=False)
    except ValueError as exc:
        raise DataFormatError(f"{file}: cannot read NPY without pickle ({exc})") from None
    if array.dtype.kind not in "iufb":
        raise DataFormatError(f"{file}: expected a numeric array, found dtype {array.dtype}")
    return array


def _read_feature_rows(file: Path) -> np.ndarray:
    """A CSV of features only: read it as a table whose 'label' is a dummy column."""
    table = read_csv(file, label="first", header=None)
    # read_csv splits off a label column; put it back: here every column is a feature.
    first = table.y.astype(np.float64)[:, None]
    return np.hstack([first, table.x.astype(np.float64)])


def read_targets(
    path: str | os.PathLike[str], *, header: bool | None = None, delimiter: str = ","
) -> np.ndarray:
    """Read labels or targets kept in a file of their own (beside a features file).

    The format is told as `read_inputs` tells it: IDX (a labels file, `(n,)`), NPY (no
    pickle; numeric `(n,)` or `(n, k)`) or CSV/TXT (every column: one column of numbers or
    names, or several numeric columns; see `purenet.data.csv.read_label_columns`).

    Args:
        path: the file.
        header: for CSV, whether the first line is a header (None: detected).
        delimiter: for CSV, the field separator.

    Returns:
        `(n,)` labels or values, or `(n, k)` targets.

    Raises:
        DataFormatError: a missing, malformed or empty file, or an array that is not
            `(n,)` or `(n, k)`.
    """
    file = Path(path)
    suffixes = "".join(file.suffixes).lower()
    check_file(file)
    with file.open("rb") as stream:
        head = stream.read(6)
    if not head.startswith(_NPY_MAGIC) and suffixes.endswith(
        (".csv", ".txt", ".csv.gz", ".txt.gz")
    ):
        return read_label_columns(file, header=header, delimiter=delimiter)
    array = _read_npy(file) if head.startswith(_NPY_MAGIC) else _read_input_file(file)
    if array.ndim not in (1, 2) or array.size == 0:
        raise DataFormatError(
            f"{file}: expected labels (n,) or targets (n, k), found an array of shape {array.shape}"
        )
    return array


def read_labelled(
    images: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    csv: str | os.PathLike[str] | None = None,
    *,
    label: LabelColumns = "first",
) -> Dataset:
    """Read a labelled evaluation set: an IDX images/labels pair, or a CSV with a label column.

    Raises:
        DataFormatError: missing or malformed files, or counts that differ.
        ValueError: neither or both of (images and labels) and csv.
    """
    if csv is not None:
        if images is not None or labels is not None:
            raise ValueError("give either images and labels, or csv, not both")
        return read_csv(csv, label=label)
    if images is None or labels is None:
        raise ValueError("give both images and labels (or a csv)")
    return read_idx_pair(images, labels)
