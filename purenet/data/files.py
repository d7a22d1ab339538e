"""File helpers shared by the readers: display names, regular-file checks, gzip detection, exact
reads.
"""

from __future__ import annotations

import gzip
import io
import os
import zlib
from pathlib import Path
from typing import Protocol

from purenet.core.limits import DATA_BYTES, Cap
from purenet.errors import DataFormatError

GZIP_MAGIC = b"\x1f\x8b"
"""The first two bytes of every gzip file."""


def display_name(path: str | os.PathLike[str]) -> str:
    """How messages name a file: the path as given."""
    return os.fspath(path)


def is_gzip(path: Path) -> bool:
    """True when the file starts with the gzip magic bytes."""
    with path.open("rb") as stream:
        return stream.read(2) == GZIP_MAGIC


def check_file(path: str | os.PathLike[str]) -> Path:
    """`path` as a `Path` if it names a regular file.

    Raises:
        DataFormatError: `PATH: no such file` or `PATH: not a regular file`.
    """
    file = Path(path)
    if not file.exists():
        raise DataFormatError(f"{display_name(path)}: no such file")
    if not file.is_file():
        raise DataFormatError(f"{display_name(path)}: not a regular file")
    return file


class Readable(Protocol):
    """A binary stream: a file or a gzip stream."""

    def read(self, size: int = ..., /) -> bytes: ...


def read_exact(stream: Readable, count: int) -> bytes:
    """Up to `count` bytes: fewer only at the end of the stream (short reads are retried)."""
    parts = []
    while count > 0:
        part = stream.read(count)
        if not part:
            break
        parts.append(part)
        count -= len(part)
    return b"".join(parts)


def read_payload(path: str | os.PathLike[str], cap: Cap = DATA_BYTES) -> bytes | bytearray:
    """The bytes of a regular file, gunzipped when it starts with the gzip magic, within `cap`
    (`PURENET_MAX_DATA_BYTES` by default), checked while decompressing: a gzip bomb stops
    at the cap, and the peak memory is the cap plus one 4 MB chunk.

    Raises:
        DataFormatError: not a regular file, corrupt gzip data, or a payload over the cap.
    """
    name = display_name(path)
    file = check_file(path)
    limit = cap.value()
    try:
        size = file.stat().st_size
        if size > limit:
            raise DataFormatError(f"{name}: {cap.refusal(size, 'bytes')}")
        raw = file.read_bytes()
        if raw[:2] != GZIP_MAGIC:
            return raw
        payload = bytearray()
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as stream:
            while len(payload) <= limit and (part := stream.read(1 << 22)):
                payload += part
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise DataFormatError(f"{name}: corrupt or truncated gzip data ({error})") from None
    except OSError as error:
        raise DataFormatError(f"{name}: cannot read ({error.strerror or error})") from None
    if len(payload) > limit:
        raise DataFormatError(f"{name}: {cap.refusal(len(payload), 'bytes')} (or more)")
    return payload  # a bytearray: no copy of up to the cap


NPY_MAGIC = b"\x93NUMPY"
"""The first six bytes of every NPY file."""

_NPY_MAX_HEADER = 10_000  # numpy's own default `max_header_size`


def check_npy_header(path: str | os.PathLike[str]) -> None:
    """Refuse an NPY file whose version or header length numpy would trust blindly.

    numpy reads a version 2 or 3 header of whatever length the file claims (up to 4 GiB)
    before parsing it; this reads the 10 or 12 fixed bytes and checks them first.

    Raises:
        DataFormatError: an unknown NPY version, or a header longer than 10,000 bytes or
            than the file.
    """
    name = display_name(path)
    file = check_file(path)
    with file.open("rb") as stream:
        fixed = read_exact(stream, 12)
    major = fixed[6] if len(fixed) > 6 else None
    if fixed[:6] != NPY_MAGIC or major not in (1, 2, 3) or len(fixed) < 10:
        raise DataFormatError(f"{name}: not an NPY file of version 1, 2 or 3")
    if major == 1:
        length, start = int.from_bytes(fixed[8:10], "little"), 10
    else:
        length, start = int.from_bytes(fixed[8:12], "little"), 12
    if length > _NPY_MAX_HEADER or start + length > file.stat().st_size:
        raise DataFormatError(
            f"{name}: NPY header claims {length} bytes; expected at most {_NPY_MAX_HEADER} "
            "within the file"
        )
