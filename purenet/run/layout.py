"""The file names of a run folder, in one place for the writer (runner) and the readers (plots,
resume).
"""

from __future__ import annotations

import os
from pathlib import Path

from purenet.errors import PurenetError
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


def model_path(path: str | os.PathLike[str]) -> Path:
    """The model file a command was pointed at: `path` itself, or a run folder's `model.json`.

    Raises:
        PurenetError: `path` is a folder without `model.json`.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise PurenetError(
                f"{path}: a folder without {MODEL_FILE}; give a model file or a run folder"
            )
        return path / MODEL_FILE
    return path


def run_folder(path: str | os.PathLike[str]) -> Path:
    """The run folder a command was pointed at: `path` itself, or the folder of its model file."""
    path = Path(path)
    return path.parent if path.name == MODEL_FILE and path.is_file() else path
