"""Strict, bounded JSON, JSONL and TOML reading; atomic JSON writes.

Every JSON or TOML file purenet reads goes through `read_text_file` (regular files only, a size
cap) and `parse_json` / `parse_toml` (duplicate keys, NaN and Infinity, huge integers, deep
nesting and TOML dates refused), so one set of bounds holds for models, recipes, checkpoints
and run folders.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from purenet.core.atomic import atomic_write
from purenet.core.limits import MAX_DEPTH, MAX_INT_DIGITS, TEXT_BYTES
from purenet.errors import DataFormatError, ModelFormatError, PurenetError

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


_SCALARS = (str, int, float, bool, type(None))


def _child_path(path: str, key: int | str) -> str:
    return f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"


def check_tree(data: Any, bad_leaf: Callable[[Any], str | None]) -> None:
    """Walk parsed JSON/TOML data once, refusing deep nesting and the leaves `bad_leaf` names.

    The walk is iterative and in document order, so the first fault is the one reported and
    no nesting depth can exhaust Python's stack.

    Args:
        data: parsed data: dicts, lists and scalars.
        bad_leaf: returns a message for a leaf that is not allowed (e.g. a TOML date), else None.

    Raises:
        ValueError: `PATH: nested deeper than 100 levels` or `PATH: MESSAGE`.
    """
    stack: list[tuple[Any, str, int]] = [(data, "$", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            children = [
                (item, _child_path(path, key), depth + 1)
                for key, item in items
                if not isinstance(item, _SCALARS)
            ]
            stack.extend(reversed(children))
            continue
        problem = bad_leaf(value)
        if problem is not None:
            raise ValueError(f"{path}: {problem}")


def _constant_name(value: Any) -> str | None:
    return f"{value.name} is not valid JSON" if isinstance(value, _Constant) else None


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_INT_DIGITS} allowed)")
    return int(text)


# A JSON string, or one of the constants json.loads would read: the first constant outside a
# string is the one `check_tree` finds (duplicate keys are refused, so the orders agree).
_CONSTANT_OR_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def _refuse_constants(data: Any, text: str) -> None:
    try:
        check_tree(data, _constant_name)
    except ValueError as exc:
        if "is not valid JSON" not in str(exc):
            raise
        match = next((m for m in _CONSTANT_OR_STRING.finditer(text) if m.group(1)), None)
        if match is None:
            raise
        line = text.count("\n", 0, match.start()) + 1
        column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
        raise ValueError(f"{exc} (line {line} column {column})") from None


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r} in an object")
        result[key] = value
    return result


def read_text_file(path: str | os.PathLike[str], *, error: type[PurenetError]) -> str:
    """The UTF-8 text of a regular file no larger than `PURENET_MAX_TEXT_BYTES`.

    A FIFO, a device (a link to `/dev/zero`) or a folder is refused before it is opened, so
    reading never blocks or runs on without end.

    Raises:
        error: `PATH: no such file`, `PATH: not a regular file`, `PATH: a text file of N bytes
            exceeds the limit ...`, `PATH: cannot read (REASON)` or `PATH: not a UTF-8 text file`.
    """
    name = os.fspath(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{name}: not a regular file")
        cap = TEXT_BYTES.value()
        if info.st_size > cap:
            raise error(f"{name}: {TEXT_BYTES.refusal(info.st_size, 'bytes')}")
        with open(path, "rb") as stream:
            # stat's size, then on to the end (the file may grow), never more than the cap.
            raw = stream.read(info.st_size + 1)
            while len(raw) <= cap and (more := stream.read(1 << 20)):
                raw += more
    except FileNotFoundError:
        raise error(f"{name}: no such file") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    if len(raw) > cap:
        raise error(f"{name}: {TEXT_BYTES.refusal(len(raw), 'bytes')}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{name}: not a UTF-8 text file") from None


def parse_json(text: str) -> Any:
    """Parse JSON text strictly and within bounds.

    Refused: NaN/Infinity (with their JSON path, line and column), duplicate keys, integers
    of more than `MAX_INT_DIGITS` digits, nesting deeper than `MAX_DEPTH`.

    Raises:
        ValueError: the fault, e.g. `$.layers[0].w.data[3]: NaN is not valid JSON (line 1
            column 80)` or `not valid JSON: Expecting value at line 1 column 1`.
    """
    try:
        data = json.loads(
            text,
            parse_constant=_Constant,
            parse_int=_parse_int,
            object_pairs_hook=_refuse_duplicates,
        )
    except json.JSONDecodeError as exc:
        # Some messages end in "at" ("Unterminated string starting at"): do not repeat it.
        at = "" if exc.msg.endswith(" at") else " at"
        raise ValueError(
            f"not valid JSON: {exc.msg}{at} line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise ValueError(f"$: nested deeper than {MAX_DEPTH} levels") from None
    _refuse_constants(data, text)
    return data


def _toml_leaf(value: Any) -> str | None:
    if isinstance(value, datetime.date | datetime.time):
        return f"TOML dates and times are not accepted here, found {value.isoformat()}"
    return None


def parse_toml(text: str) -> dict[str, Any]:
    """Parse TOML text within bounds: no dates or times, nesting at most `MAX_DEPTH`.

    Raises:
        ValueError: `not valid TOML: ...`, `$.a.b: nested deeper than 100 levels` or
            `$.train.seed: TOML dates and times are not accepted here, found 1979-05-27`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ValueError(f"$: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # an integer past Python's digit limit
        raise ValueError(f"not valid TOML: {exc}") from None
    check_tree(data, _toml_leaf)
    return data


def read_json(path: str | os.PathLike[str], *, error: type[PurenetError] = ModelFormatError) -> Any:
    """Read a JSON file with `read_text_file` and `parse_json`; faults raise `error`.

    Raises:
        error: the file is missing, not a regular file, too large, unreadable or not valid
            JSON (with line and column); the message starts with the file name, and for NaN
            or Infinity gives its JSON path:
            `model.json: $.layers[0].w.data[3]: NaN is not valid JSON (line 1 column 80)`.
    """
    text = read_text_file(path, error=error)
    try:
        return parse_json(text)
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
    """Read a JSON-lines file (one object per line, blank lines skipped), within bounds.

    The file is read with `read_text_file` and each line parsed with `parse_json`.

    Raises:
        DataFormatError: the file is missing, not a regular file, too large or unreadable, a
            line is not valid JSON or not an object; the message gives the file and line number.
    """
    source = os.fspath(path)
    text = read_text_file(path, error=DataFormatError)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = parse_json(line)
        except ValueError as exc:
            raise DataFormatError(f"{source}: line {number}: {exc}") from None
        if not isinstance(row, dict):
            found = type(row).__name__
            raise DataFormatError(f"{source}: line {number}: expected a JSON object, found {found}")
        rows.append(row)
    return rows
