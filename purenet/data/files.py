"""File helpers shared by the readers: display names, regular-file checks, gzip detection, exact
reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from purenet.errors import DataFormatError

_GZIP_MAGIC = b"\x1f\x8b"


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

