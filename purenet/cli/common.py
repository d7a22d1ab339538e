"""The CLI's one error path: a `PurenetError` becomes one red line on stderr and exit code 1.

Every command module (the app, bench) reports user errors through `user_errors`, so the
wording and the exit code are the same everywhere.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from purenet.errors import PurenetError

errors = Console(stderr=True, highlight=False, emoji=False)
"""The stderr console: errors and progress (stdout stays clean for `--json`)."""


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: MESSAGE` in red on stderr and exit with `code`."""
    errors.print(f"[bold red]error:[/] [red]{escape(message)}[/]", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the library's user errors (`PurenetError`) into one red line and exit code 1."""
    try:
        yield
    except PurenetError as exc:
        fail(str(exc))


def fmt(value: Any, digits: int = 4) -> str:
    """A metric for a table cell: `-` for None, whole floats without decimals, else `digits`."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def print_json(data: Any) -> None:
    """Write `data` as indented JSON on stdout (strict: no NaN or Infinity)."""
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
