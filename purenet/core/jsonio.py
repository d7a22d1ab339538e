"""Strict JSON and JSONL files: duplicate keys, NaN and Infinity refused, atomic writes."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from purenet.core.atomic import atomic_write
from purenet.errors import DataFormatError, ModelFormatError, PurenetError

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------------------------
# JSON files


def to_json_text(data: Any) -> str:
    """Serialize JSON-ready `data` to text; NaN/Inf raise `ValueError`."""
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON-ready `data` to `path` atomically: a temp file in the same folder, then rename.

    A crash or an exception at any point leaves the previous file at `path` intact; an
    exception also removes the temp file (a killed process may leave a `.name.*.tmp` behind).

    Raises:
        ValueError: `data` holds NaN or Inf, or something JSON cannot hold.
        OSError: the folder cannot be written.
    """
    text = to_json_text(data)
    with atomic_write(path) as handle:
        handle.write(text)


class _Constant:
    """What `NaN`, `Infinity` or `-Infinity` parse to, so the error can name its JSON path."""

    def __init__(self, name: str) -> None:
        self.name = name


def _constant_path(value: Any, path: str = "$") -> tuple[str, str] | None:
    """(JSON path, literal) of the first `_Constant` in parsed data, in document order."""
    if isinstance(value, _Constant):
        return path, value.name
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in children:
            child = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
            found = _constant_path(item, child)
            if found is not None:
                return found
    return None


# A JSON string, or one of the constants json.loads would read: the first constant outside a
# string is the one `_constant_path` finds (duplicate keys are refused, so the orders agree).
_CONSTANT_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _refuse_constants(data: Any, text: str) -> None:
    found = _constant_path(data)
    if found is None:
        return
    path, name = found
    where = ""
    match = next((m for m in _CONSTANT_OR_STRING.finditer(text) if m.group(1)), None)
    if match is not None:
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        where = f" (line {line} column {column})"
    raise ValueError(f"{path}: {name} is not valid JSON{where}")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in an object")
        result[key] = value
    return result


def read_json(path: str | os.PathLike[str], *, error: type[PurenetError] = ModelFormatError) -> Any:
    """Read a JSON file, refusing NaN/Infinity and duplicate keys; faults raise `error`.

    Raises:
        error: the file is missing, unreadable or not valid JSON (with line and column); the
            message starts with the file name, and for NaN or Infinity gives its JSON path:
            `model.json: $.layers[0].w.data[3]: NaN is not valid JSON (line 1 column 80)`.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{os.fspath(path)}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{os.fspath(path)}: not a UTF-8 text file") from None
    try:
        data = json.loads(text, parse_constant=_Constant, object_pairs_hook=_refuse_duplicates)
        _refuse_constants(data, text)
        return data
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): do not repeat it.
        at = "" if exc.msg.endswith(" at") else " at"
        where = f"{at} line {exc.lineno} column {exc.colno}"
        raise error(f"{os.fspath(path)}: not valid JSON: {exc.msg}{where}") from None
    except ValueError as exc:
        raise error(f"{os.fspath(path)}: {exc}") from None


# ---------------------------------------------------------------------------------------------
# Run folders


def to_jsonl_text(rows: Iterable[Mapping[str, Any]]) -> str:
    """JSON-lines text: one object per line, each line ending in a newline; NaN/Inf raise.

    Example:
        >>> to_jsonl_text([{"epoch": 1}, {"epoch": 2}])
        '{"epoch": 1}\\n{"epoch": 2}\\n'
    """
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file (one object per line, blank lines skipped).

    Raises:
        DataFormatError: the file is unreadable, a line is not valid JSON or not an object;
            the message gives the file and line number.
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source}: cannot read ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: line {number}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            found = type(row).__name__
            raise DataFormatError(f"{source}: line {number}: expected a JSON object, found {found}")
        rows.append(row)
    return rows
