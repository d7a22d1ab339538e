"""The exact array codecs: dtype, shape, and the values as shortest decimals or as base64 bytes.

An array is a JSON object `{"dtype": ..., "shape": [...], "data": [...]}`: `data` holds the
values flat in row-major (C) order as the shortest decimals that read back to the same floats.
The compact form `{"dtype": ..., "shape": [...], "base64": "..."}` holds the same values as
the standard base64 (RFC 4648, with padding) of their little-endian bytes in row-major order
(bool: one byte, 0 or 1): exact too, and about a third of the size for float32.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import numpy as np

from purenet.core.limits import shape_bytes
from purenet.errors import ModelFormatError

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


JSON_TYPE_NAMES: Mapping[type, str] = {
    bool: "true/false",
    int: "integer",
    float: "number",
    str: "string",
    list: "list",
    dict: "object",
    type(None): "null",
}
"""How messages name the types of parsed values: JSON's words (recipes pass TOML's)."""


def type_name(value: Any, names: Mapping[type, str] = JSON_TYPE_NAMES) -> str:
    """The word for a parsed value's type in `names` (JSON's by default), e.g. `string`."""
    return names.get(type(value), type(value).__name__)


def describe_found(value: Any, names: Mapping[type, str] = JSON_TYPE_NAMES) -> str:
    """Name a found value for a message: its type and a repr cut to 40 characters.

    Example:
        >>> describe_found("ten"), describe_found(2.5, {float: "float"})
        ("string 'ten'", 'float 2.5')
    """
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type_name(value, names)} {text}"


def shortest_float_values(array: np.ndarray) -> list[float]:
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


def encode_array(array: np.ndarray, *, compact: bool = False) -> dict[str, Any]:
    """Encode an array exactly: `{"dtype", "shape", "data"}`, or with `compact` `{"dtype",
    "shape", "base64"}` (little-endian bytes, row-major).

    Args:
        array: any shape, a dtype from `DTYPES`.
        compact: base64 of the bytes instead of decimals.

    Returns:
        A JSON-ready dict.

    Raises:
        ValueError: unsupported dtype, or a NaN/Inf value.

    Example:
        >>> encode_array(np.array([1.5, -2.0], dtype=np.float32), compact=True)
        {'dtype': 'float32', 'shape': [2], 'base64': 'AADAPwAAAMA='}
    """
    array = np.asarray(array)
    dtype = array.dtype.name
    if dtype not in DTYPES:
        raise ValueError(f"cannot encode dtype {dtype}; supported: {', '.join(DTYPES)}")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise ValueError(f"array of shape {array.shape} holds NaN or Inf; refusing to save")
    if compact:
        little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        text = base64.b64encode(little.tobytes()).decode("ascii")
        return {"dtype": dtype, "shape": list(array.shape), "base64": text}
    if array.dtype.kind == "f":
        data: list[Any] = shortest_float_values(array)
    else:
        data = array.ravel().tolist()
    return {"dtype": dtype, "shape": list(array.shape), "data": data}


def decode_array(value: Any, path: str = "$") -> np.ndarray:
    """Decode `{"dtype", "shape", "data"}` or `{"dtype", "shape", "base64"}` back to a
    read-only array, checking everything.

    Args:
        value: the parsed JSON object.
        path: the JSON path of `value`, used in error messages.

    Returns:
        The array, with the dtype and shape the object names.

    Raises:
        ModelFormatError: missing or unknown keys, unknown dtype, bad shape, a value count
            (or byte count) that does not match the shape, non-numeric, non-finite or
            non-base64 data, or a value that overflows the stated dtype (`1e300` as float32).
            The message starts with the JSON path of the fault, down to the value:
            `$.layers[0].w.data[3]`.
    """
    if not isinstance(value, dict):
        raise ModelFormatError(f"{path}: expected an array object, found {type(value).__name__}")
    keys = set(value)
    if keys not in ({"dtype", "shape", "data"}, {"dtype", "shape", "base64"}):
        missing = sorted({"dtype", "shape"} - keys)
        extra = sorted(keys - {"dtype", "shape", "data", "base64"})
        if missing or extra:
            problem = f"missing keys {missing}" if missing else f"unknown keys {extra}"
        else:
            problem = "both 'data' and 'base64'" if "data" in keys else "missing key 'data'"
        raise ModelFormatError(f"{path}: {problem}; an array has dtype, shape and data (or base64)")
    dtype, shape = value["dtype"], value["shape"]
    if dtype not in DTYPES:
        supported = ", ".join(DTYPES)
        raise ModelFormatError(f"{path}.dtype: unknown dtype {dtype!r}; supported: {supported}")
    if not isinstance(shape, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape
    ):
        raise ModelFormatError(
            f"{path}.shape: expected a list of non-negative integers, found {shape!r}"
        )
    try:
        count = shape_bytes(shape, 1)
    except ValueError as exc:
        raise ModelFormatError(f"{path}.shape: {exc}") from None
    if "base64" in value:
        return _decode_base64(value["base64"], np.dtype(dtype), tuple(shape), count, path)
    data = value["data"]
    if not isinstance(data, list):
        found = type(data).__name__
        raise ModelFormatError(f"{path}.data: expected a list of numbers, found {found}")
    if len(data) != count:
        raise ModelFormatError(f"{path}: shape {shape} needs {count} values, got {len(data)}")
    return _decode_data(data, np.dtype(dtype), tuple(shape), path)


def _decode_base64(
    text: Any, dtype: np.dtype, shape: tuple[int, ...], count: int, path: str
) -> np.ndarray:
    """The array in `text` (base64 of little-endian bytes), checked like decimal data."""
    if not isinstance(text, str):
        found = type_name(text)
        raise ModelFormatError(f"{path}.base64: expected a base64 string, found {found}")
    size = count * dtype.itemsize
    expected = 4 * ((size + 2) // 3)  # checked before decoding: no allocation from a lie
    if len(text) != expected:
        raise ModelFormatError(
            f"{path}.base64: shape {list(shape)} of {dtype.name} needs {size} bytes "
            f"({expected} base64 characters), found {len(text)} characters"
        )
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ModelFormatError(
            f"{path}.base64: not base64 (RFC 4648: A-Z a-z 0-9 + / and = padding)"
        ) from None
    if len(raw) != size:
        raise ModelFormatError(f"{path}.base64: {len(raw)} bytes, expected {size}")
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)
    if dtype.kind == "b" and not np.isin(np.frombuffer(raw, np.uint8), (0, 1)).all():
        raise ModelFormatError(f"{path}.base64: bool bytes must be 0 or 1")
    if dtype.kind == "f" and not np.isfinite(array).all():
        i = int(np.flatnonzero(~np.isfinite(array.ravel()))[0])
        raise ModelFormatError(f"{path}.base64: value {i} is NaN or Inf; expected finite numbers")
    array.flags.writeable = False
    return array


def _first_non_number(data: list[Any], path: str) -> ModelFormatError:
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, int | float):
            return ModelFormatError(f"{path}.data[{i}]: expected a number, found {type_name(v)}")
    return ModelFormatError(f"{path}.data: expected a flat list of numbers")


def _decode_data(data: list[Any], dtype: np.dtype, shape: tuple[int, ...], path: str) -> np.ndarray:
    if dtype.kind == "b":
        if not all(isinstance(v, bool) for v in data):
            raise ModelFormatError(f"{path}.data: expected true/false values for dtype bool")
        parsed = np.array(data, dtype=bool)
    else:
        # numpy would read true as 1 silently, so booleans are looked for first.
        if any(isinstance(v, bool) for v in data):
            raise _first_non_number(data, path)
        try:
            parsed = np.array(data)
        except (ValueError, OverflowError):
            raise _first_non_number(data, path) from None
        if data and (parsed.ndim != 1 or parsed.dtype.kind not in "iuf"):
            raise _first_non_number(data, path)
        if dtype.kind in "iu" and parsed.dtype.kind == "f":
            raise ModelFormatError(f"{path}.data: expected integers for dtype {dtype.name}")
        if parsed.dtype.kind == "f" and not np.isfinite(parsed).all():
            # json reads a number too large for a float64 (1e400) as inf.
            i = int(np.flatnonzero(~np.isfinite(parsed))[0])
            raise ModelFormatError(f"{path}.data[{i}]: expected a finite number, found {data[i]!r}")
        if dtype.kind in "iu" and data:
            info = np.iinfo(dtype)
            if parsed.min() < info.min or parsed.max() > info.max:
                raise ModelFormatError(f"{path}.data: values out of range for {dtype.name}")
        with np.errstate(over="ignore"):
            cast = parsed.astype(dtype)
        if dtype.kind == "f" and not np.isfinite(cast).all():
            # Finite as a float64, too large for the stated dtype (1e300 as float32).
            i = int(np.flatnonzero(~np.isfinite(cast))[0])
            raise ModelFormatError(
                f"{path}.data[{i}]: {data[i]!r} overflows {dtype.name} "
                f"(largest finite value {np.finfo(dtype).max!s})"
            )
        parsed = cast
    array = parsed.reshape(shape)
    array.flags.writeable = False
    return array
