"""Reading data sets and turning them into arrays through small pure steps.

Readers (`read_idx`, `read_csv`, `load_dataset`) check everything they read and raise
`DataFormatError` naming the file, what was expected and what was found. Steps (`scale`,
`standardize`, `flatten`, `one_hot`, `map_labels`, `split`, `shuffle`, `batches`) are pure
functions: they never change their inputs, and the same call gives the same bits.

Example:
    >>> import numpy as np
    >>> from purenet.data import Dataset, batches, flatten, one_hot, scale, shuffle
    >>> images = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    >>> ds = Dataset(flatten(scale(images, low=0.01, high=1.0)), one_hot(np.arange(4), 4))
    >>> [len(b) for b in batches(shuffle(ds, seed=0), 3)]
    [3, 1]
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Literal, Protocol

import attrs
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from purenet.errors import DataFormatError, MissingExtraError, PurenetError
from purenet.tree import readonly

__all__ = [
    "Dataset",
    "Standardizer",
    "batches",
    "fit_standardizer",
    "flatten",
    "load_dataset",
    "map_labels",
    "one_hot",
    "read_csv",
    "read_idx",
    "scale",
    "shuffle",
    "split",
    "standardize",
]

Seed = int | Sequence[int]

# ---------------------------------------------------------------------------------------------
# IDX

# The IDX type codes (third byte of the magic); every multi-byte type is big-endian.
IDX_DTYPES: Mapping[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_NAMES = {0x08: "u8", 0x09: "i8", 0x0B: "i16", 0x0C: "i32", 0x0D: "f32", 0x0E: "f64"}
_GZIP_MAGIC = b"\x1f\x8b"
# Deflate cannot expand data by more than 1032:1, so a gzip file of c bytes holds at most
# about 1032 * c bytes: a header claiming more is a lie we can refuse before allocating.
_DEFLATE_MAX_RATIO = 1032
_CHUNK = 1 << 22


def _name(path: str | os.PathLike[str]) -> str:
    return os.fspath(path)


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(2) == _GZIP_MAGIC


def _open_checked(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    if not file.exists():
        raise DataFormatError(f"{_name(path)}: no such file")
    if not file.is_file():
        raise DataFormatError(f"{_name(path)}: not a regular file")
    return file


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def _read_exact(stream: _Readable, count: int) -> bytes:
    parts = []
    while count > 0:
        part = stream.read(count)
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def _idx_header(name: str, stream: _Readable, held: str) -> tuple[np.dtype, int, tuple[int, ...]]:
    magic = _read_exact(stream, 4)
    if not magic:
        raise DataFormatError(f"{name}: empty file, expected an IDX header")
    if len(magic) < 4:
        raise DataFormatError(
            f"{name}: truncated header: expected a 4-byte IDX magic, {held} holds {len(magic)}"
        )
    if magic[0] != 0 or magic[1] != 0:
        raise DataFormatError(
            f"{name}: not an IDX file: expected magic 00 00 <type> <ndim>, found {magic.hex(' ')}"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X} ({n})" for c, n in _IDX_NAMES.items())
        raise DataFormatError(
            f"{name}: unknown IDX type code 0x{code:02X}; expected one of {known}"
        )
    if ndim == 0:
        raise DataFormatError(f"{name}: IDX header has 0 dimensions; expected at least 1")
    raw_dims = _read_exact(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataFormatError(
            f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes after the "
            f"magic, {held} holds {len(raw_dims)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return IDX_DTYPES[code], 4 + 4 * ndim, dims


def _claim(dims: tuple[int, ...], dtype: np.dtype) -> tuple[int, str]:
    count = math.prod(dims)
    nbytes = count * dtype.itemsize
    shape = " x ".join(str(d) for d in dims)
    if dtype.itemsize == 1 and dtype.kind == "u":
        return nbytes, f"{shape} = {nbytes} bytes"
    return nbytes, f"{shape} {dtype.newbyteorder('=').name} = {nbytes} bytes"


def _read_idx_raw(name: str, file: Path) -> np.ndarray:
    size = file.stat().st_size
    with file.open("rb") as stream:
        dtype, header, dims = _idx_header(name, stream, "file")
        nbytes, claim = _claim(dims, dtype)
        held = size - header
        if held != nbytes:
            what = "" if held < nbytes else " (extra trailing bytes)"
            raise DataFormatError(f"{name}: header says {claim}, file holds {held}{what}")
        array = np.fromfile(stream, dtype=dtype, count=math.prod(dims))
    return array.reshape(dims)


def _read_idx_gzip(name: str, file: Path) -> np.ndarray:
    compressed = file.stat().st_size
    try:
        with gzip.open(file, "rb") as stream:
            dtype, _, dims = _idx_header(name, stream, "decompressed data")
            nbytes, claim = _claim(dims, dtype)
            if nbytes > _DEFLATE_MAX_RATIO * compressed:
                raise DataFormatError(
                    f"{name}: header says {claim}, but a gzip file of {compressed} bytes "
                    f"cannot hold more than {_DEFLATE_MAX_RATIO * compressed}"
                )
            buffer = np.empty(nbytes, dtype=np.uint8)
            view = buffer.data
            filled = 0
            while filled < nbytes:
                got = stream.readinto(view[filled : filled + _CHUNK])
                if not got:
                    break
                filled += got
            if filled < nbytes:
                raise DataFormatError(f"{name}: header says {claim}, file holds {filled}")
            # Reading on to the end checks the gzip CRC and length, and finds extra bytes.
            extra = len(stream.read(_CHUNK))
            if extra:
                raise DataFormatError(
                    f"{name}: header says {claim}, file holds more (extra trailing bytes)"
                )
    except (EOFError, OSError, zlib.error) as error:
        raise DataFormatError(f"{name}: corrupt or truncated gzip data ({error})") from None
    return buffer.view(dtype).reshape(dims)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or raw, into an array.

    Compression is decided by the file's first bytes, not its name. The header is checked
    (two zero bytes, a type code, a dimension count, the dimensions) and the payload must be
    exactly the product of the dimensions: a header that claims more data than the file can
    hold is refused before any large allocation.

    Args:
        path: an IDX file, e.g. `t10k-images-idx3-ubyte.gz`.

    Returns:
        An array of the header's shape, e.g. `(10000, 28, 28)` for images and `(10000,)` for
        labels, in native byte order: uint8, int8, int16, int32, float32 or float64.

    Raises:
        DataFormatError: a missing file, wrong magic, unknown type code, truncated header
            or payload, extra trailing bytes, or corrupt gzip data; the message names the
            file, what was expected and what was found.

    Example:
        >>> from purenet.data import read_idx
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
        >>> labels.shape, labels.dtype  # doctest: +SKIP
        ((10000,), dtype('uint8'))
    """
    name = _name(path)
    file = _open_checked(path)
    try:
        gzipped = _is_gzip(file)
        array = _read_idx_gzip(name, file) if gzipped else _read_idx_raw(name, file)
    except OSError as error:
        raise DataFormatError(f"{name}: cannot read ({error.strerror or error})") from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


# ---------------------------------------------------------------------------------------------
# CSV


def _read_text(name: str, file: Path) -> str:
    try:
        raw = file.read_bytes()
        if raw[:2] == _GZIP_MAGIC:
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
        >>> from purenet.data import read_csv
        >>> chips = read_csv("ex2data2.txt", label="last")  # doctest: +SKIP
        >>> chips.x.shape, chips.y[:3]  # doctest: +SKIP
        ((118, 2), array([1, 1, 1]))
    """
    name = _name(path)
    lines = _read_text(name, _open_checked(path)).splitlines()
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
    x = features.astype(target)
    y = labels.astype(np.int64) if np.all(labels == np.round(labels)) else labels
    return Dataset(x, y)


# ---------------------------------------------------------------------------------------------
# Dataset


@attrs.frozen(eq=False)
class Dataset:
    """Inputs and targets of equal length: a frozen tree of two read-only arrays.

    Attributes:
        x: `(n, ...)` inputs, e.g. `(60000, 28, 28)` uint8 images or `(n, 784)` float32.
        y: `(n,)` integer labels or `(n, k)` targets.

    Raises:
        ValueError: `x` and `y` have different lengths.
    """

    x: np.ndarray = attrs.field(converter=readonly)
    y: np.ndarray = attrs.field(converter=readonly)

    def __attrs_post_init__(self) -> None:
        # Only arrays with a sample axis are checked: `tree_map` rebuilds a Dataset from
        # whatever its function returns (shapes, None), and that must keep working.
        if self.x.ndim and self.y.ndim and len(self.x) != len(self.y):
            raise ValueError(
                f"Dataset x and y differ in length: x {self.x.shape} vs y {self.y.shape}"
            )

    def __len__(self) -> int:
        return len(self.x)


# ---------------------------------------------------------------------------------------------
# load_dataset


def _locations(data_dir: str | os.PathLike[str] | None) -> list[tuple[str, Path]]:
    from purenet.fetch import default_cache_dir

    places: list[tuple[str, Path]] = []
    if data_dir is not None:
        places.append(("data_dir", Path(data_dir)))
    env = os.environ.get("PURENET_DATA_DIR")
    if env:
        places.append(("PURENET_DATA_DIR", Path(env)))
    places.append(("cache", default_cache_dir()))
    return places


def _find_all(
    places: list[tuple[str, Path]], dataset: str, filenames: Sequence[str]
) -> list[Path] | None:
    """The first folder holding every file (each with or without `.gz`), or None."""
    for _, root in places:
        for folder in (root / dataset, root):
            found = []
            for filename in filenames:
                names = [filename, filename.removesuffix(".gz")]
                hit = next((folder / n for n in names if (folder / n).is_file()), None)
                if hit is None:
                    break
                found.append(hit)
            else:
                return found
    return None


def _build(dataset: str, kind: str, files: Sequence[Path]) -> Dataset:
    if kind == "csv":
        return read_csv(files[0], label="last", header=False)
    images, labels = read_idx(files[0]), read_idx(files[1])
    if len(images) != len(labels):
        raise DataFormatError(
            f"{files[1]}: {len(labels)} labels for {len(images)} images in {files[0]}"
        )
    return Dataset(images, labels)


def check_data_dir(data_dir: str | os.PathLike[str] | None) -> None:
    """Refuse a `data_dir` that is not an existing folder (None is fine: there is none).

    A misspelled folder would otherwise be skipped silently, and the data taken from
    `$PURENET_DATA_DIR`, the cache or a download instead.

    Raises:
        PurenetError: `data_dir /x: no such directory` or `...: not a directory`.
    """
    if data_dir is None:
        return
    folder = Path(data_dir)
    if not folder.exists():
        raise PurenetError(f"data_dir {folder}: no such directory")
    if not folder.is_dir():
        raise PurenetError(f"data_dir {folder}: not a directory")


def load_dataset(
    name: str, split: str, *, data_dir: str | os.PathLike[str] | None = None
) -> Dataset:
    """Load a named data set split as raw arrays, downloading it if it is nowhere on disk.

    Looks in `data_dir`, then `$PURENET_DATA_DIR`, then the cache of `purenet fetch`
    (`$PURENET_CACHE`), each as `<dir>/<name>/<file>` or `<dir>/<file>`, with or without
    `.gz`. When the files are nowhere, they are fetched into the cache (see
    `purenet.fetch.fetch_dataset`; needs the `fetch` extra).

    Splits: `mnist`: `train` (the full 60k files when present, else the offline
    `train10k` files, else a download), `train10k` (the first 10,000 training digits),
    `test`; `fashion-mnist`: `train`, `test`; `microchips`: `train` (all 118 rows).

    Args:
        name: `"mnist"`, `"fashion-mnist"` or `"microchips"`.
        split: a split of that data set (above).
        data_dir: an existing folder to look in first.

    Returns:
        `Dataset(x, y)`: for the image sets `x` `(n, 28, 28)` uint8 and `y` `(n,)` uint8;
        for microchips `x` `(118, 2)` float32 and `y` `(118,)` int64.

    Raises:
        PurenetError: an unknown name or split (the message lists the choices), files that
            are missing and cannot be fetched (the message lists where it looked), or
            malformed files (`DataFormatError`).

    Example:
        >>> from purenet.data import load_dataset
        >>> test = load_dataset("mnist", "test")  # doctest: +SKIP
        >>> test.x.shape, int(test.y[0])  # doctest: +SKIP
        ((10000, 28, 28), 7)
    """
    from purenet.fetch import DATASETS, fetch_dataset

    if name not in DATASETS:
        raise PurenetError(f"unknown data set {name!r}; known: {', '.join(sorted(DATASETS))}")
    spec = DATASETS[name]
    if split not in spec.splits:
        raise PurenetError(f"unknown split {split!r} of {name}; known: {', '.join(spec.splits)}")
    check_data_dir(data_dir)
    places = _locations(data_dir)
    # Each candidate: (file names, leading rows to keep); the first found on disk wins.
    candidates: list[tuple[tuple[str, ...], int | None]] = [(spec.splits[split], None)]
    candidates += [(spec.splits[s], n) for s, n in spec.fallbacks.get(split, ())]
    for filenames, rows in candidates:
        found = _find_all(places, name, filenames)
        if found is not None:
            ds = _build(name, spec.kind, found)
            return ds if rows is None else Dataset(ds.x[:rows], ds.y[:rows])
    remote, rows = next(
        ((f, n) for f, n in candidates if all(x in spec.remote_names for x in f)), ((), None)
    )
    looked = "; ".join(f"{label} {root}" for label, root in places)
    wanted = ", ".join(spec.splits[split])
    if not remote:
        raise PurenetError(f"{name}:{split}: files {wanted} not found (looked in {looked})")
    try:
        folder = fetch_dataset(name, remote)
    except MissingExtraError as error:
        raise PurenetError(
            f"{name}:{split}: files {wanted} not found (looked in {looked}), and {error}"
        ) from None
    except PurenetError as error:
        raise type(error)(
            f"{name}:{split}: files {wanted} not found (looked in {looked}); fetching: {error}"
        ) from None
    ds = _build(name, spec.kind, [folder / f for f in remote])
    return ds if rows is None else Dataset(ds.x[:rows], ds.y[:rows])


# ---------------------------------------------------------------------------------------------
# Steps


def _float_dtype(dtype: DTypeLike) -> np.dtype:
    result = np.dtype(dtype)
    if not np.issubdtype(result, np.floating):
        raise ValueError(f"dtype must be a float type; got {result}")
    return result


def scale(
    x: ArrayLike,
    low: float = 0.0,
    high: float = 1.0,
    *,
    max_value: float = 255.0,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """Map values from `[0, max_value]` (pixels 0..255) linearly onto `[low, high]`.

    Args:
        x: any shape, numeric, e.g. `(n, 28, 28)` uint8.
        low: the value of 0, e.g. 0.0 or the tutorials' 0.01.
        high: the value of `max_value`, e.g. 1.0.
        max_value: the largest input value (255 for 8-bit pixels).
        dtype: a float dtype for the result.

    Returns:
        Same shape as `x`, `dtype` (float32 by default), `low + x * (high - low) / max_value`.

    Raises:
        ValueError: `low >= high`, a non-finite bound, `max_value <= 0`, a non-float dtype.

    Example:
        >>> import numpy as np
        >>> from purenet.data import scale
        >>> scale(np.array([0, 255], np.uint8), 0.01, 1.0)
        array([0.01, 1.  ], dtype=float32)
    """
    out_dtype = _float_dtype(dtype)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"scale needs finite low < high; got low={low}, high={high}")
    if not (math.isfinite(max_value) and max_value > 0):
        raise ValueError(f"max_value must be finite and > 0; got {max_value}")
    values = np.asarray(x)
    if not (np.issubdtype(values.dtype, np.number) or values.dtype == np.bool_):
        raise ValueError(f"scale needs numeric input; got dtype {values.dtype}")
    factor = out_dtype.type((high - low) / max_value)
    return values.astype(out_dtype) * factor + out_dtype.type(low)


@attrs.frozen(eq=False)
class Standardizer:
    """Fitted z-score statistics: data to store with the model and apply to new inputs.

    Attributes:
        mean: the feature means, shape `x.shape[1:]` (or `()` when fitted over all values).
        std: the feature standard deviations, same shape; constant features get 1.
    """

    mean: np.ndarray = attrs.field(converter=readonly)
    std: np.ndarray = attrs.field(converter=readonly)


def fit_standardizer(
    x: ArrayLike, *, per_feature: bool = True, dtype: DTypeLike = np.float32
) -> Standardizer:
    """Fit z-score statistics (computed in float64) to the training inputs.

    Args:
        x: `(n, ...)` numeric training inputs.
        per_feature: one mean and std per feature (`x.shape[1:]`); False: one over all values
            (MNIST's often quoted 0.1307 / 0.3081 after scaling to [0, 1]).
        dtype: float dtype of the stored statistics.

    Returns:
        `Standardizer(mean, std)`; a std of 0 (a constant feature) is stored as 1.

    Raises:
        ValueError: `x` is empty or has no sample axis, or holds non-finite values.

    Example:
        >>> import numpy as np
        >>> from purenet.data import fit_standardizer, standardize
        >>> x = np.array([[1.0, 5.0], [3.0, 5.0]])
        >>> standardize(x, fit_standardizer(x))
        array([[-1.,  0.],
               [ 1.,  0.]], dtype=float32)
    """
    values = np.asarray(x, dtype=np.float64)
    if values.ndim == 0 or len(values) == 0:
        raise ValueError(f"fit_standardizer needs at least one sample; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("fit_standardizer got non-finite values")
    axis = 0 if per_feature else None
    mean = values.mean(axis=axis)
    std = values.std(axis=axis)
    std = np.where(std > 0, std, 1.0)
    out = _float_dtype(dtype)
    return Standardizer(np.asarray(mean, dtype=out), np.asarray(std, dtype=out))


def standardize(
    x: ArrayLike, standardizer: Standardizer, *, dtype: DTypeLike = np.float32
) -> np.ndarray:
    """Apply fitted z-score statistics: `(x - mean) / std`.

    Args:
        x: `(n, ...)` numeric with `x.shape[1:]` matching the standardizer's statistics.
        standardizer: from `fit_standardizer` on the training inputs.
        dtype: float dtype of the result.

    Returns:
        Same shape as `x`, `dtype` (float32 by default).

    Raises:
        ValueError: the shapes do not match.

    Example:
        >>> import numpy as np
        >>> from purenet.data import Standardizer, standardize
        >>> standardize(np.array([[2.0]]), Standardizer(np.array([1.0]), np.array([2.0])))
        array([[0.5]], dtype=float32)
    """
    out = _float_dtype(dtype)
    values = np.asarray(x)
    mean, std = standardizer.mean, standardizer.std
    if mean.shape and values.shape[1:] != mean.shape:
        raise ValueError(
            f"standardize: inputs of shape {values.shape} vs statistics of shape {mean.shape}"
        )
    return ((values.astype(out) - mean.astype(out)) / std.astype(out)).astype(out, copy=False)


def flatten(x: ArrayLike) -> np.ndarray:
    """Flatten every sample to one row: `(n, h, w)` to `(n, h * w)`.

    Args:
        x: `(n, ...)` any dtype.

    Returns:
        `(n, prod(shape[1:]))`, same dtype (a view when `x` is contiguous).

    Raises:
        ValueError: `x` is a scalar.

    Example:
        >>> import numpy as np
        >>> from purenet.data import flatten
        >>> flatten(np.zeros((5, 28, 28), np.uint8)).shape
        (5, 784)
    """
    values = np.asarray(x)
    if values.ndim == 0:
        raise ValueError("flatten needs an array with a sample axis; got a scalar")
    # The width from the shape, not -1: numpy cannot infer it for zero samples.
    return values.reshape(len(values), math.prod(values.shape[1:]))


def _integer_labels(labels: ArrayLike, what: str) -> np.ndarray:
    values = np.asarray(labels)
    if values.dtype.kind in "iub":
        return values
    if (
        values.dtype.kind == "f"
        and np.isfinite(values).all()
        and (values == np.round(values)).all()
    ):
        return values.astype(np.int64)
    raise ValueError(f"{what} needs integer labels; got dtype {values.dtype}")


def one_hot(
    labels: ArrayLike,
    n_classes: int,
    *,
    on: float = 1.0,
    off: float = 0.0,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """Turn integer labels into target rows: `on` at the label's column, `off` elsewhere.

    Args:
        labels: `(n,)` integers in `[0, n_classes)` (whole-number floats are accepted).
        n_classes: number of columns, >= 1.
        on: the target value of the true class, e.g. 1.0 or the tutorials' 0.99.
        off: the value of the other classes, e.g. 0.0 or 0.01.
        dtype: float dtype of the result.

    Returns:
        `(n, n_classes)` of `dtype`; `argmax(one_hot(y), axis=1) == y` when `on > off`.

    Raises:
        ValueError: labels not 1-D integers, a label out of range, `n_classes < 1`.

    Example:
        >>> import numpy as np
        >>> from purenet.data import one_hot
        >>> one_hot(np.array([2, 0]), 3, on=0.99, off=0.01)
        array([[0.01, 0.01, 0.99],
               [0.99, 0.01, 0.01]], dtype=float32)
    """
    values = _integer_labels(labels, "one_hot")
    if values.ndim != 1:
        raise ValueError(f"one_hot needs labels of shape (n,); got {values.shape}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, int | np.integer) or n_classes < 1:
        raise ValueError(f"n_classes must be an int >= 1; got {n_classes!r}")
    if values.size:
        bad = (values < 0) | (values >= n_classes)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"one_hot: label {values[first]} at index {first} is outside [0, {n_classes})"
            )
    out = np.full((len(values), int(n_classes)), off, dtype=_float_dtype(dtype))
    out[np.arange(len(values)), values] = on
    return out


def map_labels(labels: ArrayLike, mapping: Mapping[int, int]) -> np.ndarray:
    """Replace label values through `mapping`; labels not in it are kept.

    Args:
        labels: `(n,)` integer labels.
        mapping: old value to new value, e.g. `{10: 0}` for a data set whose label 10 means
            the digit 0.

    Returns:
        `(n,)` new labels, same dtype as `labels`.

    Raises:
        ValueError: non-integer labels, or a new value that does not fit the labels' dtype.

    Example:
        >>> import numpy as np
        >>> from purenet.data import map_labels
        >>> map_labels(np.array([10, 1, 10]), {10: 0})
        array([0, 1, 0])
    """
    values = _integer_labels(labels, "map_labels")
    out = values.copy()
    for old, new in mapping.items():
        if np.array(new).astype(values.dtype) != new:
            raise ValueError(f"map_labels: new label {new!r} does not fit dtype {values.dtype}")
        # Mask on the original labels, so {1: 2, 2: 1} swaps instead of chaining.
        out[values == old] = new
    return out


def _rng(seed: Seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _take(ds: Dataset, index: np.ndarray) -> Dataset:
    return Dataset(ds.x[index], ds.y[index])


def split(
    ds: Dataset, valid_fraction: float, *, seed: Seed, stratify: bool = False
) -> tuple[Dataset, Dataset]:
    """Split a data set into seeded train and validation parts (each keeps the input order).

    Args:
        ds: the data set, `n >= 2` samples.
        valid_fraction: share of samples for validation, in `(0, 1)`; the count is rounded
            and kept between 1 and `n - 1`.
        seed: an int or a sequence of ints.
        stratify: keep each class's share in both parts (needs `(n,)` integer labels);
            the validation part then has `round(count * fraction)` samples of each class.

    Returns:
        `(train, valid)`: two `Dataset`s that together hold every sample once.

    Raises:
        ValueError: a fraction outside `(0, 1)`, fewer than 2 samples, or `stratify` with
            labels that are not `(n,)` integers.

    Example:
        >>> import numpy as np
        >>> from purenet.data import Dataset, split
        >>> train, valid = split(Dataset(np.arange(10), np.arange(10)), 0.2, seed=0)
        >>> len(train), len(valid)
        (8, 2)
    """
    n = len(ds)
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1); got {valid_fraction}")
    if n < 2:
        raise ValueError(f"split needs at least 2 samples; got {n}")
    order = _rng(seed).permutation(n)
    if stratify:
        labels = _integer_labels(ds.y, "split(stratify=True)")
        if labels.ndim != 1:
            raise ValueError(f"split(stratify=True) needs labels of shape (n,); got {labels.shape}")
        shuffled = labels[order]
        # Stable sort keeps the random order within each class; rank = position in class.
        by_class = order[np.argsort(shuffled, kind="stable")]
        classes, starts, counts = np.unique(labels[by_class], return_index=True, return_counts=True)
        rank = np.arange(n) - np.repeat(starts, counts)
        quota = np.repeat(np.round(counts * valid_fraction).astype(np.int64), counts)
        is_valid = np.zeros(n, dtype=bool)
        is_valid[by_class] = rank < quota
        if is_valid.all() or not is_valid.any():
            raise ValueError(
                f"split: valid_fraction {valid_fraction} leaves a part empty for "
                f"{len(classes)} classes of {n} samples"
            )
    else:
        count = min(max(round(n * valid_fraction), 1), n - 1)
        is_valid = np.zeros(n, dtype=bool)
        is_valid[order[:count]] = True
    return _take(ds, np.flatnonzero(~is_valid)), _take(ds, np.flatnonzero(is_valid))


def shuffle(ds: Dataset, *, seed: Seed) -> Dataset:
    """Return the samples in a seeded random order (a permutation of indices, x and y alike).

    Args:
        ds: `Dataset` of n samples.
        seed: an int or a sequence of ints such as `(seed, epoch)`.

    Returns:
        A new `Dataset` `(x[p], y[p])` with `p = np.random.default_rng(seed).permutation(n)`.

    Example:
        >>> import numpy as np
        >>> from purenet.data import Dataset, shuffle
        >>> sorted(shuffle(Dataset(np.arange(5), np.arange(5)), seed=1).y.tolist())
        [0, 1, 2, 3, 4]
    """
    return _take(ds, _rng(seed).permutation(len(ds)))


def batches(ds: Dataset, size: int, *, drop_last: bool = False) -> Iterator[Dataset]:
    """Yield consecutive batches of `size` samples, in order (shuffle first for SGD).

    `size == len(ds)` gives one batch (full-batch gradient descent) and `size == 1` gives
    per-sample SGD. The last batch may be shorter unless `drop_last`.

    Args:
        ds: `Dataset` of n samples.
        size: samples per batch, an int >= 1 (larger than n gives one batch).
        drop_last: skip a short final batch.

    Yields:
        `Dataset`s whose arrays are read-only views of `ds`'s.

    Raises:
        ValueError: `size` is not an int >= 1.

    Example:
        >>> import numpy as np
        >>> from purenet.data import Dataset, batches
        >>> [b.y.tolist() for b in batches(Dataset(np.arange(5), np.arange(5)), 2)]
        [[0, 1], [2, 3], [4]]
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"batch size must be an int >= 1; got {size!r}")
    n = len(ds)
    stop = n - n % size if drop_last else n
    for start in range(0, stop, int(size)):
        yield Dataset(ds.x[start : start + size], ds.y[start : start + size])
