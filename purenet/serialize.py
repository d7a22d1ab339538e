"""Exact JSON encoding of arrays and trees, and atomic JSON files.

An array is written as `{"dtype": "float32", "shape": [2, 3], "data": [...]}`: `data` is the
flat row-major list of values, each float the shortest decimal that reads back (as a float64,
then cast to the array's dtype) to the same value, so a reader in any language gets the exact
numbers. NaN and Inf are refused on both sides.

`converter` is the one cattrs converter configured with these array hooks; the model file and
checkpoints are built on it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import cattrs
import numpy as np

from purenet.errors import ModelFormatError, PurenetError

DTYPES = (
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
)
"""Array dtypes the JSON encoding accepts."""


def _shortest_float_values(array: np.ndarray) -> list[float]:
    """Python floats whose reprs are the shortest decimals that read back to `array`'s values."""
    if array.dtype == np.float64:
        return array.ravel().tolist()
    # numpy's float32 -> str cast gives the shortest decimal for float32 (Dragon4). A reader
    # that parses it as float64 and casts to float32 must get the same value; where double
    # rounding would break that, fall back to the exact float64 of the value.
    flat = array.ravel()
    decimals = flat.astype(str).astype(np.float64)
    differs = decimals.astype(array.dtype) != flat
    if differs.any():
        decimals[differs] = flat[differs].astype(np.float64)
    return decimals.tolist()


def encode_array(array: np.ndarray) -> dict[str, Any]:
    """Encode an array as `{"dtype", "shape", "data"}` with exact, shortest decimals.

    Args:
        array: any shape, a dtype from `DTYPES`.

    Returns:
        A JSON-ready dict.

    Raises:
        ValueError: unsupported dtype, or a NaN/Inf value.
    """
    array = np.asarray(array)
    dtype = array.dtype.name
    if dtype not in DTYPES:
        raise ValueError(f"cannot encode dtype {dtype}; supported: {', '.join(DTYPES)}")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ValueError(f"array of shape {array.shape} holds NaN or Inf; refusing to save")
        data: list[Any] = _shortest_float_values(array)
    else:
        data = array.ravel().tolist()
    return {"dtype": dtype, "shape": list(array.shape), "data": data}


def decode_array(value: Any, path: str = "$") -> np.ndarray:
    """Decode `{"dtype", "shape", "data"}` back to a read-only array, checking everything.

    Args:
        value: the parsed JSON object.
        path: the JSON path of `value`, used in error messages.

    Returns:
        The array, with the dtype and shape the object names.

    Raises:
        ModelFormatError: missing or unknown keys, unknown dtype, bad shape, a value count
            that does not match the shape, non-numeric or non-finite data. The message
            starts with the JSON path of the fault.
    """
    if not isinstance(value, dict):
        raise ModelFormatError(f"{path}: expected an array object, found {type(value).__name__}")
    keys = set(value)
    if keys != {"dtype", "shape", "data"}:
        missing = {"dtype", "shape", "data"} - keys
        extra = keys - {"dtype", "shape", "data"}
        problem = f"missing keys {sorted(missing)}" if missing else f"unknown keys {sorted(extra)}"
        raise ModelFormatError(f"{path}: {problem}; an array has dtype, shape and data")
    dtype, shape, data = value["dtype"], value["shape"], value["data"]
    if dtype not in DTYPES:
        supported = ", ".join(DTYPES)
        raise ModelFormatError(f"{path}.dtype: unknown dtype {dtype!r}; supported: {supported}")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ModelFormatError(
            f"{path}.shape: expected a list of non-negative integers, found {shape!r}"
        )
    if not isinstance(data, list):
        found = type(data).__name__
        raise ModelFormatError(f"{path}.data: expected a list of numbers, found {found}")
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) != count:
        raise ModelFormatError(f"{path}: shape {shape} needs {count} values, got {len(data)}")
    return _decode_data(data, np.dtype(dtype), tuple(shape), path)


def _decode_data(data: list[Any], dtype: np.dtype, shape: tuple[int, ...], path: str) -> np.ndarray:
    if dtype.kind == "b":
        if not all(isinstance(v, bool) for v in data):
            raise ModelFormatError(f"{path}.data: expected true/false values for dtype bool")
        parsed = np.array(data, dtype=bool)
    else:
        if any(isinstance(v, bool) for v in data):
            raise ModelFormatError(f"{path}.data: expected numbers, found true/false")
        try:
            parsed = np.array(data)
        except (ValueError, OverflowError) as exc:
            message = f"{path}.data: expected a flat list of numbers ({exc})"
            raise ModelFormatError(message) from None
        if data and (parsed.ndim != 1 or parsed.dtype.kind not in "iuf"):
            raise ModelFormatError(f"{path}.data: expected a flat list of numbers")
        if dtype.kind in "iu" and parsed.dtype.kind == "f":
            raise ModelFormatError(f"{path}.data: expected integers for dtype {dtype.name}")
        if parsed.dtype.kind == "f" and not np.isfinite(parsed).all():
            raise ModelFormatError(f"{path}.data: holds NaN or Inf")
        if dtype.kind in "iu" and data:
            info = np.iinfo(dtype)
            if parsed.min() < info.min or parsed.max() > info.max:
                raise ModelFormatError(f"{path}.data: values out of range for {dtype.name}")
        parsed = parsed.astype(dtype)
    array = parsed.reshape(shape)
    array.flags.writeable = False
    return array


def make_converter() -> cattrs.Converter:
    """A cattrs converter with the exact array hooks and `forbid_extra_keys=True`."""
    conv = cattrs.Converter(forbid_extra_keys=True)
    conv.register_unstructure_hook(np.ndarray, encode_array)
    conv.register_structure_hook(np.ndarray, lambda value, _: decode_array(value))
    return conv


converter = make_converter()
"""The package's configured converter: attrs trees with arrays <-> JSON-ready data."""


def to_json_text(data: Any) -> str:
    """Serialize JSON-ready `data` to text; NaN/Inf raise `ValueError`."""
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


def write_json_atomic(path: str | os.PathLike[str], data: Any) -> None:
    """Write JSON-ready `data` to `path` atomically: a temp file in the same folder, then rename.

    A crash or an exception at any point leaves the previous file at `path` intact.

    Raises:
        ValueError: `data` holds NaN or Inf, or something JSON cannot hold.
    """
    target = Path(path)
    text = to_json_text(data)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def read_json(path: str | os.PathLike[str], *, error: type[PurenetError] = ModelFormatError) -> Any:
    """Read a JSON file, refusing NaN/Infinity; faults raise `error` naming the file.

    Raises:
        error: the file is missing, unreadable or not valid JSON (with line and column).
    """
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{source}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise error(f"{source}: not a UTF-8 text file") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise error(f"{source}: not valid JSON: {exc.msg} at {where}") from None
    except ValueError as exc:
        raise error(f"{source}: {exc}") from None
