"""The exceptions purenet raises on bad input; all derive from `PurenetError`.

The CLI turns any `PurenetError` into one line on stderr and exit code 1, so every message
names the file, key or shape at fault, what was expected and what was found.
"""

from __future__ import annotations


class PurenetError(Exception):
    """Base class of every error purenet raises on bad user input."""


class DataFormatError(PurenetError):
    """A data file (IDX, CSV, NPY, image) is malformed, truncated or of the wrong shape."""


class RecipeError(PurenetError):
    """A recipe has an unknown key, a value of the wrong type, or an invalid setting."""


class ModelFormatError(PurenetError):
    """A model or checkpoint JSON file does not match the format (keys, shapes, values)."""


class DivergenceError(PurenetError):
    """Training produced a non-finite loss or gradient.

    Attributes:
        epoch: 1-based epoch in which the fault occurred.
        batch: 0-based batch index within that epoch.
        learning_rate: the learning rate in force at that step.
        checkpoint: path of the last good checkpoint on disk, or None if none was written.
        history: per-epoch reports completed before the fault.
    """

    def __init__(
        self,
        message: str,
        *,
        epoch: int,
        batch: int,
        learning_rate: float,
        checkpoint: object = None,
        history: tuple[object, ...] = (),
    ) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.batch = batch
        self.learning_rate = learning_rate
        self.checkpoint = checkpoint
        self.history = history


class FetchError(PurenetError):
    """A download failed (HTTP error, no connection) or did not verify against the registry."""


class MissingExtraError(PurenetError):
    """An optional dependency is not installed; the message names the extra to install."""


def require_extra(module: str, extra: str) -> None:
    """Raise `MissingExtraError` naming `pip install 'purenet[extra]'` if `module` is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtraError(
            f"this needs the optional package {module!r}; install it with: "
            f"pip install 'purenet[{extra}]'"
        )
