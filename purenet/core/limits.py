"""Resource caps on what a file may make purenet do, each overridable by an environment variable.

A small hostile file must not hang purenet or exhaust its memory: text files (JSON, JSONL,
TOML) have a size cap, decompressed data (gzip IDX and CSV) a byte cap, pictures a pixel cap,
models declared in a recipe a parameter cap, and parsed JSON/TOML a nesting cap. Each default
sits far above any legitimate use of this package's scale (the MNIST training set is 47 MB
decompressed, its largest bundled model 0.2 M parameters); a user who needs more sets the
variable, e.g. `PURENET_MAX_PARAMETERS=2000000000 purenet run big.toml`.

    PURENET_MAX_TEXT_BYTES    1 GiB        a JSON, JSONL or TOML file (model, recipe, checkpoint...)
    PURENET_MAX_DATA_BYTES    1 GiB        an IDX or CSV payload after decompression
    PURENET_MAX_CSV_BYTES     256 MiB      a CSV file after decompression (Python parses text)
    PURENET_MAX_CSV_ROWS      10,000,000   the lines of one CSV file
    PURENET_MAX_IMAGE_PIXELS  50,000,000   one picture (width x height)
    PURENET_MAX_PARAMETERS    200,000,000  the weights and biases a recipe's `sizes` declare
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence

import attrs

from purenet.errors import PurenetError

MAX_DEPTH = 100
"""The deepest nesting of lists and objects/tables a JSON or TOML file may have (a recipe has 4,
a model file 6): deeper files are refused before Python's recursion limit is reached."""

MAX_INT_DIGITS = 4300
"""The most digits an integer literal may have (Python's own `int` conversion limit)."""

MAX_ERRORS = 3
"""How many field errors a structuring pass collects before it stops (the CLI shows three)."""

MAX_ARRAY_BYTES = 1 << 62
"""The most bytes an array's shape may claim (numpy's sizes are signed 64-bit)."""


@attrs.frozen
class Cap:
    """One overridable cap: the environment variable, its default and what it caps."""

    variable: str
    default: int
    what: str

    def value(self) -> int:
        """The cap in force: the environment variable if set to an integer >= 1, else the default.

        Raises:
            PurenetError: the variable is set to something that is not a positive integer.
        """
        text = os.environ.get(self.variable)
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text.replace("_", ""))
        except ValueError:
            value = 0
        if value < 1:
            raise PurenetError(f"{self.variable} must be a positive integer, found {text!r}")
        return value

    def refusal(self, found: int, unit: str) -> str:
        """The message for `found` units over the cap, naming the variable that raises it."""
        return (
            f"{self.what} of {found:,} {unit} exceeds the limit of {self.value():,} {unit}; "
            f"set {self.variable} to allow more"
        )


TEXT_BYTES = Cap("PURENET_MAX_TEXT_BYTES", 1 << 30, "a text file")
DATA_BYTES = Cap("PURENET_MAX_DATA_BYTES", 1 << 30, "decompressed data")
CSV_BYTES = Cap("PURENET_MAX_CSV_BYTES", 256 << 20, "a CSV file")
CSV_ROWS = Cap("PURENET_MAX_CSV_ROWS", 10_000_000, "a CSV file")
IMAGE_PIXELS = Cap("PURENET_MAX_IMAGE_PIXELS", 50_000_000, "a picture")
PARAMETERS = Cap("PURENET_MAX_PARAMETERS", 200_000_000, "a model")


def shape_bytes(dims: Sequence[int], itemsize: int) -> int:
    """Bytes an array of shape `dims` holds, refusing shapes numpy cannot allocate.

    A zero dimension makes the array empty, but numpy still refuses one whose other dimensions
    multiply past its signed 64-bit size, so those are checked too.

    Raises:
        ValueError: `shape (...) claims more than 2**62 bytes`.
    """
    nonzero = math.prod(d for d in dims if d) * itemsize
    if nonzero > MAX_ARRAY_BYTES:
        shape = ", ".join(str(d) for d in dims)
        raise ValueError(f"shape ({shape}) claims more than 2**62 bytes")
    return math.prod(dims) * itemsize


def check_parameters(sizes: Sequence[int], where: str) -> int:
    """The weights and biases of an MLP with layer widths `sizes`, within `PARAMETERS`.

    Raises:
        ValueError: `WHERE: a model of N parameters exceeds the limit ...; set ... to allow more`.
    """
    count = sum((fan_in + 1) * fan_out for fan_in, fan_out in itertools.pairwise(sizes))
    if count > PARAMETERS.value():
        raise ValueError(f"{where}: {PARAMETERS.refusal(count, 'parameters')}")
    return count
