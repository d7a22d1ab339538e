"""Append-only JSON-lines logs whose written prefix a checkpoint names exactly.

A training run appends one line per epoch (and per tracked step) instead of rewriting its
history, so a line costs the same after a million epochs as after one. A checkpoint stores a
`LogMark` of each log (lines, bytes and the SHA-256 of those bytes), taken when the log holds
exactly the lines of the checkpoint's epochs; `AppendLog.resume` reads that prefix back,
checks it against the mark, and cuts off whatever came after it (lines of epochs the
checkpoint does not hold, or a line torn by a kill or a full disk).

Lines are buffered and flushed at most every `FLUSH_SECONDS` (and by `commit`, which also
syncs them to the disk before a checkpoint that names them is written).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> log = AppendLog.create(path)
    >>> log.append([{"epoch": 1}, {"epoch": 2}])
    >>> mark = log.commit()
    >>> log.append([{"epoch": 3}])
    >>> log.close()
    >>> log, rows = AppendLog.resume(path, mark)
    >>> rows, path.read_text()
    ([{'epoch': 1}, {'epoch': 2}], '{"epoch": 1}\\n{"epoch": 2}\\n')
    >>> log.close()
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import attrs

from purenet.core.jsonio import parse_json, to_jsonl_text
from purenet.core.limits import TEXT_BYTES
from purenet.errors import ModelFormatError

FLUSH_SECONDS = 1.0
"""Appended lines reach the file at most this long after they were written."""


@attrs.frozen
class LogMark:
    """The prefix of an append-only log that a checkpoint holds.

    Attributes:
        file: the log's file name (without its folder).
        lines: lines in the prefix.
        bytes: bytes in the prefix (UTF-8, each line ending in a newline).
        sha256: the hex SHA-256 of those bytes.
    """

    file: str
    lines: int
    bytes: int
    sha256: str


class AppendLog:
    """A JSON-lines file open for appending, which knows its size and running SHA-256.

    Build one with `create` (a new, empty log) or `resume` (a log cut back to a mark).
    """

    def __init__(self, path: Path, handle: IO[bytes], lines: int, size: int, digest: Any) -> None:
        self.path = path
        self._handle = handle
        self._lines = lines
        self._bytes = size
        self._digest = digest
        self._flushed = time.monotonic()

    @classmethod
    def create(cls, path: str | os.PathLike[str]) -> AppendLog:
        """A new, empty log at `path` (an existing file there is emptied)."""
        path = Path(path)
        return cls(path, open(path, "wb"), 0, 0, hashlib.sha256())

    @classmethod
    def resume(
        cls, path: str | os.PathLike[str], mark: LogMark
    ) -> tuple[AppendLog, list[dict[str, Any]]]:
        """The log at `path` cut back to `mark`, open for appending, and its rows.

        Raises:
            ModelFormatError: as `read`.
        """
        rows, digest = _read_marked(Path(path), mark)
        os.truncate(path, mark.bytes)  # lines after the mark belong to no checkpoint
        handle = open(path, "ab")
        return cls(Path(path), handle, mark.lines, mark.bytes, digest), rows

    @staticmethod
    def read(path: str | os.PathLike[str], mark: LogMark) -> list[dict[str, Any]]:
        """The rows of the log at `path` up to `mark`, leaving the file as it is.

        Raises:
            ModelFormatError: the file is missing, not a regular file, or its first
                `mark.bytes` bytes are not the marked lines (it was changed, or is another
                run's); the message names the file.
        """
        return _read_marked(Path(path), mark)[0]

    def append(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append one line per row (JSON-ready mappings); NaN or Inf raise `ValueError`."""
        data = to_jsonl_text(rows).encode("utf-8")
        if not data:
            return
        self._handle.write(data)
        self._digest.update(data)
        self._bytes += len(data)
        self._lines += data.count(b"\n")
        now = time.monotonic()
        if now - self._flushed >= FLUSH_SECONDS:
            self._handle.flush()
            self._flushed = now

    def mark(self) -> LogMark:
        """The mark of everything appended so far (not yet synced: see `commit`)."""
        return LogMark(self.path.name, self._lines, self._bytes, self._digest.hexdigest())

    def commit(self) -> LogMark:
        """Flush and sync everything appended so far to the disk; returns its mark."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._flushed = time.monotonic()
        return self.mark()

    def close(self) -> None:
        """Flush and close the file (the log cannot be appended to afterwards)."""
        self._handle.close()


def _read_marked(path: Path, mark: LogMark) -> tuple[list[dict[str, Any]], Any]:
    """The rows of the first `mark.bytes` bytes of `path`, checked against `mark`, and the
    running SHA-256 of those bytes."""
    if mark.bytes > TEXT_BYTES.value():
        raise ModelFormatError(f"{path}: {TEXT_BYTES.refusal(mark.bytes, 'bytes')}")
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise ModelFormatError(f"{path}: not a regular file")
        with open(path, "rb") as stream:
            prefix = stream.read(mark.bytes)
    except FileNotFoundError:
        raise ModelFormatError(
            f"{path}: no such file; the checkpoint's first {mark.lines} lines are kept there"
        ) from None
    digest = hashlib.sha256(prefix)
    if len(prefix) != mark.bytes or digest.hexdigest() != mark.sha256:
        raise ModelFormatError(
            f"{path}: its first {mark.lines} lines are not those the checkpoint recorded "
            f"({mark.bytes} bytes, sha256 {mark.sha256[:12]}...): the file was changed "
            "after the checkpoint was written; start the run afresh"
        )
    try:
        rows = [parse_json(line) for line in prefix.decode("utf-8").splitlines()]
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: not JSON lines ({exc})") from None
    if len(rows) != mark.lines or not all(isinstance(row, dict) for row in rows):
        raise ModelFormatError(f"{path}: expected {mark.lines} JSON objects, one per line")
    return rows, digest
