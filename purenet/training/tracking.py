"""Tracking parameter scalars during training (`Track` specs; the loop owns the `Tracker`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from purenet.errors import ModelFormatError
from purenet.nn.model import Architecture, Params
from purenet.training.reports import Track, Tracked, locate_tracked


class Tracker:
    """Reads the tracked scalars out of a params tree and keeps the rows."""

    def __init__(self, spec: Track, arch: Architecture) -> None:
        self.spec = spec
        self.every_step = spec.every == "step"
        self.where = [locate_tracked(path, arch) for path in spec.paths]
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.rows: list[tuple[float, ...]] = []

    def record(self, params: Params, step: int, epoch: float) -> None:
        self.record_from(lambda i, f, j: float(getattr(params[i], f)[j]), step, epoch)

    def record_from(
        self, read: Callable[[int, str, tuple[int, ...]], float], step: int, epoch: float
    ) -> None:
        """Record the tracked scalars given by `read(layer, field, index)`."""
        self.steps.append(step)
        self.epochs.append(epoch)
        self.rows.append(tuple(read(i, f, j) for i, f, j in self.where))

    def __len__(self) -> int:
        return len(self.steps)

    def lines(self, start: int = 0) -> list[dict[str, float | int]]:
        """Records `start`, `start + 1`, ... as JSON-ready rows: `{"epoch", "step", path: value
        for each tracked path}` (the lines of a run folder's `tracked.jsonl`)."""
        paths = self.spec.paths
        return [
            {"epoch": epoch, "step": step, **dict(zip(paths, row, strict=True))}
            for step, epoch, row in zip(
                self.steps[start:], self.epochs[start:], self.rows[start:], strict=True
            )
        ]

    def restore(self, lines: list[dict[str, Any]], source: str) -> None:
        """Take the records of `lines` (as `lines()` wrote them) instead of the current ones.

        Raises:
            ModelFormatError: a line without an integer step, a numeric epoch or a number
                for every tracked path; the message names `source` and the line.
        """
        keys = {"step", "epoch", *self.spec.paths}
        steps, epochs, rows = [], [], []
        for number, line in enumerate(lines, start=1):
            values = [line.get(key) for key in self.spec.paths]
            step, epoch = line.get("step"), line.get("epoch")
            numbers = [epoch, *values]
            if (
                set(line) != keys
                or not isinstance(step, int)
                or isinstance(step, bool)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in numbers)
            ):
                raise ModelFormatError(
                    f"{source}: line {number}: expected an integer step, a number epoch and a "
                    f"number for each of {', '.join(self.spec.paths)}"
                )
            steps.append(step)
            epochs.append(float(epoch))  # type: ignore[arg-type]
            rows.append(tuple(float(v) for v in values))  # type: ignore[arg-type]
        self.steps, self.epochs, self.rows = steps, epochs, rows

    def result(self) -> Tracked:
        return Tracked(
            self.spec.paths,
            np.array(self.steps, dtype=np.int64),
            np.array(self.epochs, dtype=np.float64),
            np.array(self.rows, dtype=np.float64).reshape(-1, len(self.where)),
        )
