"""Reading IDX files (the MNIST format), gzip or raw, with the payload checked against the header
before allocating.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from purenet.core.limits import DATA_BYTES, shape_bytes
from purenet.data.dataset import Dataset
from purenet.data.files import Readable, check_file, display_name, is_gzip, read_exact
from purenet.errors import DataFormatError

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

# Deflate cannot expand data by more than 1032:1, so a gzip file of c bytes holds at most
# about 1032 * c bytes: a header claiming more is a lie we can refuse before allocating.
_DEFLATE_MAX_RATIO = 1032

_CHUNK = 1 << 22

# numpy's own limit on array dimensions.
_MAX_DIMS = 64


def _idx_header(name: str, stream: Readable, held: str) -> tuple[np.dtype, int, tuple[int, ...]]:
    magic = read_exact(stream, 4)
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
    if ndim == 0 or ndim > _MAX_DIMS:
        raise DataFormatError(
            f"{name}: IDX header has {ndim} dimensions; expected 1 to {_MAX_DIMS}"
        )
    raw_dims = read_exact(stream, 4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataFormatError(
            f"{name}: truncated header: {ndim} dimensions need {4 * ndim} bytes after the "
            f"magic, {held} holds {len(raw_dims)}"
        )
    dims = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    return IDX_DTYPES[code], 4 + 4 * ndim, dims


def _claim(name: str, dims: tuple[int, ...], dtype: np.dtype) -> tuple[int, str]:
    shape = " x ".join(str(d) for d in dims)
    try:
        nbytes = shape_bytes(dims, dtype.itemsize)
    except ValueError as exc:
        raise DataFormatError(f"{name}: IDX header {exc}") from None

    if dtype.itemsize == 1 and dtype.kind == "u":
        return nbytes, f"{shape} = {nbytes} bytes"
    return nbytes, f"{shape} {dtype.newbyteorder('=').name} = {nbytes} bytes"


def _check_cap(name: str, dims: tuple[int, ...], nbytes: int) -> None:
    if nbytes > DATA_BYTES.value():
        shape = " x ".join(str(d) for d in dims)
        raise DataFormatError(f"{name}: header says {shape}: {DATA_BYTES.refusal(nbytes, 'bytes')}")


def _read_idx_raw(name: str, file: Path) -> np.ndarray:
    size = file.stat().st_size
    with file.open("rb") as stream:
        dtype, header, dims = _idx_header(name, stream, "file")
        nbytes, claim = _claim(name, dims, dtype)
        held = size - header
        if held != nbytes:
            what = "" if held < nbytes else " (extra trailing bytes)"
            raise DataFormatError(f"{name}: header says {claim}, file holds {held}{what}")
        _check_cap(name, dims, nbytes)
        array = np.fromfile(stream, dtype=dtype, count=math.prod(dims))
    return array.reshape(dims)


def _read_idx_gzip(name: str, file: Path) -> np.ndarray:
    compressed = file.stat().st_size
    try:
        with gzip.open(file, "rb") as stream:
            dtype, _, dims = _idx_header(name, stream, "decompressed data")
            nbytes, claim = _claim(name, dims, dtype)
            if nbytes > _DEFLATE_MAX_RATIO * compressed:
                raise DataFormatError(
                    f"{name}: header says {claim}, but a gzip file of {compressed} bytes "
                    f"cannot hold more than {_DEFLATE_MAX_RATIO * compressed}"
                )
            _check_cap(name, dims, nbytes)
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
        >>> from purenet.data.idx import read_idx
        >>> labels = read_idx("t10k-labels-idx1-ubyte.gz")  # doctest: +SKIP
        >>> labels.shape, labels.dtype  # doctest: +SKIP
        ((10000,), dtype('uint8'))
    """
    name = display_name(path)
    file = check_file(path)
    try:
        gzipped = is_gzip(file)
        array = _read_idx_gzip(name, file) if gzipped else _read_idx_raw(name, file)
    except OSError as error:
        raise DataFormatError(f"{name}: cannot read ({error.strerror or error})") from None
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def read_idx_pair(images: str | os.PathLike[str], labels: str | os.PathLike[str]) -> Dataset:
    """Read an IDX images file and its labels file into one `Dataset`.

    Args:
        images: `(n, h, w)` images, e.g. `train-images-idx3-ubyte.gz`.
        labels: `(n,)` labels, e.g. `train-labels-idx1-ubyte.gz`.

    Returns:
        `Dataset(x, y)` as stored (uint8 for the MNIST files).

    Raises:
        DataFormatError: a malformed file (see `read_idx`), or counts that differ
            (`LABELS: 9 labels for 10 images in IMAGES`).
    """
    x, y = read_idx(images), read_idx(labels)
    if len(x) != len(y):
        raise DataFormatError(f"{labels}: {len(y)} labels for {len(x)} images in {images}")
    return Dataset(x, y)
