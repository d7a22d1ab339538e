"""The file names of a run folder, in one place for the writer (runner) and the readers (plots,
resume).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
from purenet.plots.common import FIGURES

METRICS_FILE = "metrics.jsonl"

TRACKED_FILE = "tracked.jsonl"

MODEL_FILE = "model.json"
"""The files of a run folder that `load_run` reads (as `purenet run` writes them)."""

MODEL_LAST_FILE = "model-last.json"
"""The last epoch's model, beside `model.json` when that is the best epoch's (keep_best)."""

RECIPE_FILE = "recipe.toml"

CHECKPOINT_FILE = "checkpoint.json"

RUN_FILES = (
    CHECKPOINT_FILE,
    METRICS_FILE,
    TRACKED_FILE,
    MODEL_FILE,
    MODEL_LAST_FILE,
    *(f"{name}.{suffix}" for name in FIGURES for suffix in ("png", "svg")),
)
"""The files of a run folder that a fresh run removes first: every file purenet writes
there (`recipe.toml` is rewritten), and nothing else."""
