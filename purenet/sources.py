"""Reading data for a model: recipe data sources, labelled evaluation sets and raw input files.

Example:
    >>> from purenet.sources import read_inputs
    >>> images = read_inputs("t10k-images-idx3-ubyte.gz")  # doctest: +SKIP
    >>> images.shape  # doctest: +SKIP
    (10000, 28, 28)
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from purenet.data import Dataset, check_data_dir, load_dataset, read_csv, read_idx
from purenet.errors import DataFormatError, ModelFormatError
from purenet.recipe import CsvSource, DatasetSource, IdxSource, Source, recipe_from_data
from purenet.serialize import Model

__all__ = [
    "load_source",
    "read_inputs",
    "read_labelled",
    "recipe_test_source",
    "source_name",
]

_NPY_MAGIC = b"\x93NUMPY"
_GZIP_MAGIC = b"\x1f\x8b"


def load_source(source: Source, *, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a recipe data source as raw arrays (`Dataset(x, y)`).

    Args:
        source: a named data set split or a file source.
        data_dir: an existing folder to look for named data sets in first (checked for
            every source, so a wrong folder is never ignored silently).

    Raises:
        PurenetError: a `data_dir` that is not an existing folder, a data set that is
            nowhere on disk and cannot be fetched, or a malformed file (`DataFormatError`
            naming the file).
    """
    check_data_dir(data_dir)
    if isinstance(source, DatasetSource):
        return load_dataset(source.name, source.split, data_dir=data_dir)
    if isinstance(source, IdxSource):
        x, y = read_idx(source.images), read_idx(source.labels)
        if len(x) != len(y):
            raise DataFormatError(
                f"{source.labels}: {len(y)} labels for {len(x)} images in {source.images}"
            )
        return Dataset(x, y)
    return read_csv(
        source.path,
        label=source.label,
        header=source.header,
        delimiter=source.delimiter,
    )


def source_name(source: Source | None) -> str:
    """A short name of a source for messages: `mnist:test` or the file path."""
    if isinstance(source, DatasetSource):
        return f"{source.name}:{source.split}"
    if isinstance(source, IdxSource):
        return source.images
    if isinstance(source, CsvSource):
        return source.path
    return "test data"


def recipe_test_source(model: Model, *, source: str = "model") -> Source:
    """The test source (else the training source) of the recipe stored in a model's meta.

    Raises:
        ModelFormatError: the model holds no recipe.
        RecipeError: the stored recipe is invalid.
    """
    recipe_data = model.meta.recipe
    if recipe_data is None:
        raise ModelFormatError(
            f"{source}: $.meta.recipe: the model holds no recipe; name the data to use"
        )
    recipe = recipe_from_data(recipe_data, source=f"{source}: $.meta.recipe")
    return recipe.data.test if recipe.data.test is not None else recipe.data.train


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
    if not file.exists():
        raise DataFormatError(f"{file}: no such file")
    if not file.is_file():
        raise DataFormatError(f"{file}: not a regular file")
    with file.open("rb") as stream:
        head = stream.read(6)
    if head.startswith(_NPY_MAGIC):
        try:
            array = np.load(file, allow_pickle=False)
        except ValueError as exc:
            raise DataFormatError(f"{file}: cannot read NPY without pickle ({exc})") from None
        if array.dtype.kind not in "iufb":
            raise DataFormatError(f"{file}: expected a numeric array, found dtype {array.dtype}")
        # A 1-D array is one sample, unless it is empty (then it is no rows, not one).
        return array[None] if array.ndim == 1 and array.size else array
    if head[:2] == _GZIP_MAGIC:
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


def _read_feature_rows(file: Path) -> np.ndarray:
    """A CSV of features only: read it as a table whose 'label' is a dummy column."""
    table = read_csv(file, label="first", header=None)
    # read_csv splits off a label column; put it back: here every column is a feature.
    first = table.y.astype(np.float64)[:, None]
    return np.hstack([first, table.x.astype(np.float64)])


def read_labelled(
    images: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    csv: str | os.PathLike[str] | None = None,
    *,
    label: str = "first",
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
    x, y = read_idx(images), read_idx(labels)
    if len(x) != len(y):
        raise DataFormatError(f"{labels}: {len(y)} labels for {len(x)} images in {images}")
    return Dataset(x, y)
