"""The settings of one `train` call (`Job`), and their description stored in checkpoints."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np

from purenet import optim
from purenet.core.convert import converter
from purenet.data.dataset import Dataset
from purenet.nn.model import Architecture
from purenet.training.checkpoint import Checkpoint
from purenet.training.reports import (
    Augment,
    BatchReport,
    EarlyStopping,
    EpochReport,
    KeepBest,
    Track,
)
from purenet.training.rules import ReduceOnPlateau
from purenet.training.scoring import describe_weights


@attrs.frozen
class Job:
    """What a call of `train` fixed: the settings every step reads (internal to the loop)."""

    arch: Architecture
    optimizer: optim.Optimizer
    train_set: Dataset
    valid_set: Dataset | None
    test_set: Dataset | None
    weights: np.ndarray | None  # (n,) float64 training weights, or None
    epochs: int
    batch_size: int
    seed: int
    l2: float
    clip_norm: float | None
    schedule_per: str
    augment: Augment | None
    early_stopping: EarlyStopping | None
    keep_best: KeepBest | None
    plateau: ReduceOnPlateau | None
    checkpoint: Checkpoint | None
    on_epoch: Callable[[EpochReport], None] | None
    on_batch: Callable[[BatchReport], None] | None

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.train_set) / self.batch_size)

    @property
    def dropout(self) -> bool:
        return any(self.arch.dropout_rates)

    @property
    def best_spec(self) -> EarlyStopping | KeepBest | None:
        return self.early_stopping if self.early_stopping is not None else self.keep_best

    def describe(self, track: Track | None) -> dict[str, Any]:
        """The settings a resumed run must share with the run that wrote its checkpoint."""
        n = len(self.train_set)
        spec = self.early_stopping
        # Options added later are written only when set, so older checkpoints still match.
        options = {
            "clip_norm": self.clip_norm,
            "keep_best": _unstructure(self.keep_best),
            "reduce_on_plateau": _unstructure(self.plateau),
            "test_size": None if self.test_set is None else len(self.test_set),
            "weights": describe_weights(self.weights),
        }
        return {
            "architecture": converter.unstructure(self.arch),
            "optimizer": _describe_spec(self.optimizer),
            "batch_size": min(self.batch_size, n),
            "seed": self.seed,
            "l2": self.l2,
            "schedule_per": self.schedule_per,
            "train_size": n,
            "valid_size": None if self.valid_set is None else len(self.valid_set),
            "early_stopping": None if spec is None else converter.unstructure(spec),
            "track": None if track is None else converter.unstructure(track),
            **{key: value for key, value in options.items() if value is not None},
        }


def _unstructure(spec: Any) -> Any:
    return None if spec is None else converter.unstructure(spec)


def _describe_spec(spec: Any) -> Any:
    """A JSON-ready description of a spec (optimizer, schedule), tagged with its kind."""
    if not attrs.has(type(spec)):
        return spec
    fields = {f.name: _describe_spec(getattr(spec, f.name)) for f in attrs.fields(type(spec))}
    return {"kind": spec.kind, **fields}
