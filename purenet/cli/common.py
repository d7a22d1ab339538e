"""The CLI's one error path: a `PurenetError` becomes one red line on stderr and exit code 1.

Every command module (the app, bench) reports user errors through `user_errors`, so the
wording and the exit code are the same everywhere.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from purenet.errors import PurenetError

errors = Console(stderr=True, highlight=False, emoji=False)

DataDir = Annotated[Path | None, typer.Option(help="Folder to look for named data sets in first.")]
"""The `--data-dir` option of every command that loads named data sets."""

RecipeFiles = Annotated[
    bool,
    typer.Option(
        "--recipe-files",
        help="Read the data files the model's recipe names (only for a model you trust).",
    ),
]
"""The `--recipe-files` option of the commands that read a model's stored recipe."""
"""The stderr console: errors and progress (stdout stays clean for `--json`)."""


# C0 and C1 control characters and DEL: a file's text must not move the cursor, clear the
# screen or set the window title.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` safe to show: control characters as escapes (`\\x1b`), rich markup escaped.

    Example:
        >>> printable("a\\x1b]0;owned\\x07 [b]")
        'a\\\\x1b]0;owned\\\\x07 \\\\[b]'
    """
    return escape(_CONTROL.sub(lambda m: repr(m.group())[1:-1], text))


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `error: MESSAGE` in red on stderr and exit with `code`."""
    errors.print(f"[bold red]error:[/] [red]{printable(message)}[/]", soft_wrap=True)
    raise typer.Exit(code)


def os_error_message(exc: OSError) -> str:
    """`PATH: REASON` for an operating-system error (a full disk, a read-only folder)."""
    where = exc.filename if exc.filename is not None else "error"
    reason = exc.strerror or str(exc)
    return f"{os.fspath(where)}: {reason}"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn user errors into one red line and exit code 1: the library's `PurenetError`, and
    `OSError` (a read-only or full disk, a folder where a file should be) naming the path.
    Ctrl-C outside a run's training prints `interrupted` and exits with 130."""
    try:
        yield
    except PurenetError as exc:
        fail(str(exc))
    except OSError as exc:
        fail(os_error_message(exc))
    except KeyboardInterrupt:
        errors.print("[yellow]interrupted[/]")
        raise typer.Exit(130) from None


class Terminated:
    """Whether SIGTERM arrived while `sigterm_as_interrupt` was in force."""

    def __init__(self) -> None:
        self.seen = False


@contextmanager
def sigterm_as_interrupt() -> Iterator[Terminated]:
    """Handle SIGTERM like Ctrl-C (a `KeyboardInterrupt`), so a run keeps its checkpoint and
    says so; the caller exits with 143 when `seen` is set."""
    terminated = Terminated()

    def interrupt(signum: int, frame: FrameType | None) -> None:
        terminated.seen = True
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield terminated
    finally:
        signal.signal(signal.SIGTERM, previous)
