"""Tracking parameter scalars during training (`Track` specs; the loop owns the `Tracker`)."""

from __future__ import annotations

from collections.abc import Callable

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

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "steps": np.array(self.steps, dtype=np.int64),
            "epochs": np.array(self.epochs, dtype=np.float64),
            "values": np.array(self.rows, dtype=np.float64).reshape(-1, len(self.where)),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        values = arrays["values"]
        if values.ndim != 2 or values.shape[1] != len(self.where):
            raise ModelFormatError(f"$.tracked.values: shape {values.shape} does not fit track")
        self.steps = arrays["steps"].tolist()
        self.epochs = arrays["epochs"].tolist()
        self.rows = [tuple(row) for row in values.tolist()]

    def result(self) -> Tracked:
        arrays = self.arrays()
        return Tracked(self.spec.paths, arrays["steps"], arrays["epochs"], arrays["values"])
