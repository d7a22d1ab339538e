"""Atomic file writes: a temp file in the target's folder, flushed, then `os.replace`.

A crash or an exception at any point leaves the previous file at the target intact; an
exception also removes the temp file (a killed process may leave a hidden `.name.*.tmp`).
The file gets the usual permissions from the umask (mkstemp would make it 0600).
"""

from __future__ import annotations

import glob
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

# What follows `.NAME.` in a temp file's name: 12 hex digits, then `.tmp`.
_TEMP_SUFFIX = re.compile(r"[0-9a-f]{12}\.tmp")


def _create_temp(target: Path) -> tuple[int, Path]:
    # os.open with mode 0o666 lets the umask decide the permissions, as for any file the
    # user creates.
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), tmp
        except FileExistsError:
            continue


@contextmanager
def atomic_write(path: str | os.PathLike[str], *, binary: bool = False) -> Iterator[IO[Any]]:
    """Open a temp file beside `path` for writing; on success it replaces `path` atomically.

    Args:
        path: the file to (re)write.
        binary: open the temp file in binary mode (else UTF-8 text).

    Yields:
        The open temp file.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "notes.txt"
        >>> with atomic_write(target) as handle:
        ...     _ = handle.write("done")
        >>> target.read_text()
        'done'
    """
    target = Path(path)
    fd, tmp = _create_temp(target)
    try:
        with os.fdopen(fd, "wb" if binary else "w", encoding=None if binary else "utf-8") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_write(path) as handle:
        handle.write(text)


def remove_stale_temps(folder: str | os.PathLike[str], names: Iterable[str]) -> list[Path]:
    """Remove the `.NAME.*.tmp` files a killed `atomic_write` left beside the files `names`.

    Only call this where no other process writes those files (a run folder being started).

    Returns:
        The files removed.
    """
    removed = []
    for name in names:
        for tmp in Path(folder).glob(f".{glob.escape(name)}.*.tmp"):
            if _TEMP_SUFFIX.fullmatch(tmp.name[len(name) + 2 :]):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed
