"""The CLI's one error path: a `PurenetError` becomes one red line on stderr and exit code 1.

Every command module (the app, bench) reports user errors through `user_errors`, so the
wording and the exit code are the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

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
