"""Writing recipe data back as TOML (the standard library reads TOML but does not write it)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

# ---------------------------------------------------------------------------------------------
# TOML writing (tomllib only reads)

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}


def _toml_string(text: str) -> str:
    # TOML forbids raw control characters (and DEL) in basic strings; everything else,
    # astral characters included, may stay raw (a \uXXXX escape cannot hold a surrogate).
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value} here")
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + items + "}" if items else "{}"
    raise TypeError(f"TOML cannot hold {type(value).__name__}")


def to_toml(data: Mapping[str, Any]) -> str:
    """Write plain data as TOML: top-level tables become `[sections]`, nested values inline.

    Args:
        data: a dict of dicts (such as `dump_recipe`'s result) and top-level scalars.

    Returns:
        TOML text that `tomllib.loads` reads back to `data`.

    Example:
        >>> print(to_toml({"train": {"epochs": 5, "batch_size": "full"}}), end="")
        [train]
        epochs = 5
        batch_size = "full"
    """
    scalars = [
        f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items() if not isinstance(v, Mapping)
    ]
    blocks = ["\n".join(scalars)] if scalars else []
    for key, value in data.items():
        if isinstance(value, Mapping):
            lines = [f"[{_toml_key(key)}]"]
            lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()]
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
