"""Append-only JSON-lines logs whose written prefix a checkpoint names exactly.

A training run appends one line per epoch (and per tracked step) instead of rewriting its
history, so a line costs the same after a million epochs as after one. A checkpoint stores a
`LogMark` of each log (lines, bytes and the SHA-256 of those bytes), taken when the log holds
exactly the lines of the checkpoint's epochs; `AppendLog.resume` reads that prefix back,
checks it against the mark, and cuts off whatever came after it (lines of epochs the
checkpoint does not hold, or a line torn by a kill or a full disk).

Appended rows wait in memory and are written in bulk when the owner says (`flush`, e.g. once
a second) and by `commit`, which also syncs them to the disk before a checkpoint that names
them is written.

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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import attrs

from purenet.core.jsonio import parse_json, to_jsonl_text
from purenet.errors import ModelFormatError


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
    Appended rows wait in memory until `write`, `flush`, `commit` or `close` turns them into
    lines with `encode` (all waiting rows at once), so appending costs no I/O and no encoding.
    `encode(rows) -> text` gives one JSON object per row, each line ending in a newline; the
    default (`to_jsonl_text`) takes JSON-ready mappings.
    """

    def __init__(
        self,
        path: Path,
        handle: IO[bytes],
        lines: int,
        size: int,
        digest: Any,
        encode: Callable[[list[Any]], str] | None = None,
    ) -> None:
        self.path = path
        self._encode = encode or to_jsonl_text
        self._handle = handle
        self._lines = lines  # lines written to the handle (and hashed)
        self._bytes = size
        self._digest = digest
        self._waiting: list[Any] = []

    @classmethod
    def create(
        cls, path: str | os.PathLike[str], encode: Callable[[list[Any]], str] | None = None
    ) -> AppendLog:
        """A new, empty log at `path` (an existing file there is emptied)."""
        path = Path(path)
        handle = open(path, "wb")
        return cls(path, handle, 0, 0, hashlib.sha256(), encode)

    @classmethod
    def resume(
        cls,
        path: str | os.PathLike[str],
        mark: LogMark,
        encode: Callable[[list[Any]], str] | None = None,
        row: Callable[[dict[str, Any], int], Any] | None = None,
    ) -> tuple[AppendLog, list[Any]]:
        """The log at `path` cut back to `mark`, open for appending, and its rows (each
        line's object, or `row(object, line_number)` of it).

        Raises:
            ModelFormatError: as `read`.
        """
        rows, digest = _read_marked(Path(path), mark, row)
        os.truncate(path, mark.bytes)  # lines after the mark belong to no checkpoint
        handle = open(path, "ab")
        return cls(Path(path), handle, mark.lines, mark.bytes, digest, encode), rows

    @staticmethod
    def read(
        path: str | os.PathLike[str],
        mark: LogMark,
        row: Callable[[dict[str, Any], int], Any] | None = None,
    ) -> list[Any]:
        """The rows of the log at `path` up to `mark` (as `resume` gives them), leaving the
        file as it is.

        Raises:
            ModelFormatError: the file is missing, not a regular file, or its first
                `mark.bytes` bytes are not the marked lines (it was changed, or is another
                run's); the message names the file.
        """
        return _read_marked(Path(path), mark, row)[0]

    @property
    def lines(self) -> int:
        """Lines appended so far, written or waiting."""
        return self._lines + len(self._waiting)

    def append(self, rows: Iterable[Any]) -> None:
        """Append one line per row (what `encode` takes: NaN or Inf raise `ValueError` when
        they are written)."""
        self._waiting.extend(rows)

    def write(self, upto: int | None = None) -> None:
        """Serialize the waiting rows (up to line `upto`) into the file's buffer."""
        count = len(self._waiting) if upto is None else upto - self._lines
        if not 0 <= count <= len(self._waiting):
            raise ValueError(f"cannot write up to line {upto}: {self.lines} lines appended")
        if count == 0:
            return
        data = self._encode(self._waiting[:count]).encode("utf-8")
        del self._waiting[:count]
        self._handle.write(data)
        self._digest.update(data)
        self._bytes += len(data)
        self._lines += count

    def flush(self) -> None:
        """Write every waiting row and hand the file's buffer to the system."""
        self.write()
        self._handle.flush()

    def mark(self) -> LogMark:
        """The mark of the lines written so far (not yet synced: see `commit`)."""
        return LogMark(self.path.name, self._lines, self._bytes, self._digest.hexdigest())

    def commit(self, upto: int | None = None) -> LogMark:
        """Write the rows up to line `upto` (default all), sync them to the disk, and return
        their mark; rows after `upto` keep waiting."""
        self.write(upto)
        self._handle.flush()
        os.fsync(self._handle.fileno())
        return self.mark()

    def close(self) -> None:
        """Write every waiting row and close the file (no appending afterwards)."""
        try:
            self.write()
        finally:
            self._handle.close()


def _read_marked(
    path: Path, mark: LogMark, row: Callable[[dict[str, Any], int], Any] | None = None
) -> tuple[list[Any], Any]:
    """The rows of the first `mark.bytes` bytes of `path`, checked against `mark`, and the
    running SHA-256 of those bytes.

    The prefix is read, hashed and parsed a chunk at a time, each line turned into its row by
    `row(object, line_number)` (default: the object itself) as it is parsed, so memory grows
    with the rows kept, not with the text: a log of a few million epochs resumes. No size cap
    applies (the file is the run's own, checked byte for byte against the mark); a mark
    longer than the file is refused before anything is read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ModelFormatError(
            f"{path}: no such file; the checkpoint needs its first {mark.lines} lines"
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise ModelFormatError(f"{path}: not a regular file")
    if info.st_size < mark.bytes:
        raise ModelFormatError(
            f"{path}: {info.st_size:,} bytes, fewer than the {mark.bytes:,} of the "
            f"{mark.lines} lines the checkpoint marks: the file was cut or replaced"
        )
    digest, carry, remaining = hashlib.sha256(), b"", mark.bytes
    rows: list[Any] = []
    fault: ModelFormatError | None = None  # reported only if the bytes match the mark
    with open(path, "rb") as stream:
        while remaining:
            chunk = stream.read(min(remaining, _CHUNK))
            if not chunk:
                break
            remaining -= len(chunk)
            digest.update(chunk)
            *lines, carry = (carry + chunk).split(b"\n")
            for line in lines if fault is None and len(rows) <= mark.lines else ():
                try:
                    rows.append(_parsed(line, len(rows) + 1, path, row))
                except ModelFormatError as error:
                    fault = error
    if remaining or carry or digest.hexdigest() != mark.sha256:
        raise ModelFormatError(
            f"{path}: its first {mark.lines} lines are not those the checkpoint recorded "
            f"({mark.bytes} bytes, sha256 {mark.sha256[:12]}...): the file was changed "
            "after the checkpoint was written; start the run afresh"
        )
    if fault is not None:
        raise fault
    if len(rows) != mark.lines:
        raise ModelFormatError(f"{path}: {len(rows)} lines, the checkpoint marks {mark.lines}")
    return rows, digest


_CHUNK = 1 << 22
"""Bytes of a log read at a time on resume."""


def _parsed(
    line: bytes, number: int, path: Path, row: Callable[[dict[str, Any], int], Any] | None
) -> Any:
    try:
        value = parse_json(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ModelFormatError(f"{path}: line {number}: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise ModelFormatError(f"{path}: line {number}: expected a JSON object")
    return value if row is None else row(value, number)
