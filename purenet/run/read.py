"""Reading a run folder back: metrics lines, tracked parameters, the model and its data."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from purenet.data.dataset import Dataset
from purenet.errors import DataFormatError, PurenetError
from purenet.modelfile.model import Model

if TYPE_CHECKING:
    pass
from purenet.core.jsonio import read_jsonl
from purenet.run.layout import METRICS_FILE, MODEL_FILE, TRACKED_FILE


def read_tracked(path: str | os.PathLike[str]) -> tuple[dict[str, list[float]], list[float]]:
    """Read tracked scalars from a JSON-lines file: one row per record.

    Each row holds `epoch` (training progress, may be fractional), optionally `step`, and one
    number per tracked scalar, keyed by its path (e.g. `"layers[0].w[3, 2]"`).

    Returns:
        (series, epochs): name -> values in row order, and the epoch of each row.

    Raises:
        DataFormatError: unreadable file, a bad line, a row without `epoch`, or rows that
            track different scalars; the message names the file and line.
    """
    rows = read_jsonl(path)
    if not rows:
        raise DataFormatError(f"{path}: no rows")
    names = [key for key in rows[0] if key not in ("epoch", "step")]
    series: dict[str, list[float]] = {name: [] for name in names}
    epochs = []
    for number, row in enumerate(rows, start=1):
        if "epoch" not in row or sorted(set(row) - {"epoch", "step"}) != sorted(names):
            raise DataFormatError(
                f"{path}: line {number}: expected keys epoch and {names}, found {sorted(row)}"
            )
        epochs.append(float(row["epoch"]))
        for name in names:
            series[name].append(float(row[name]))
    return series, epochs


@attrs.frozen(eq=False)
class RunData:
    """What the figures of a run are drawn from; every part may be missing.

    Attributes:
        history: per-epoch rows (`metrics.jsonl`).
        tracked: (series, epochs) of tracked scalars.
        model: the trained model (`model.json`).
        data: raw evaluation data for the model: `Dataset` of raw images or 2-column points.
    """

    history: Sequence[Mapping[str, Any]] = ()
    tracked: tuple[Mapping[str, Sequence[float]], Sequence[float]] | None = None
    model: Model | None = None
    data: Dataset | None = None


def load_run(
    run_dir: str | os.PathLike[str],
    *,
    data: Dataset | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> RunData:
    """Read what a run folder holds: history, tracked scalars, model and its evaluation data.

    Args:
        run_dir: the folder `purenet run` wrote (`metrics.jsonl`, `model.json`, and
            `tracked.jsonl` when scalars were tracked); missing files are left out.
        data: raw evaluation data (`Dataset` of raw images or points) to use instead of the
            test set (else training set) named by the recipe stored in `model.json`;
            without either, the figures that need data are left out.
        data_dir: a folder to look for named data sets in first (see `load_dataset`).

    Returns:
        A `RunData`.

    Raises:
        PurenetError: `run_dir` is not a folder, or it holds none of those files; errors of
            the files themselves (`DataFormatError`, `ModelFormatError`, `RecipeError`).
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise PurenetError(f"{folder}: not a run folder (no such directory)")
    files = [folder / name for name in (METRICS_FILE, TRACKED_FILE, MODEL_FILE)]
    if not any(file.is_file() for file in files):
        raise PurenetError(
            f"{folder}: not a run folder: none of {METRICS_FILE}, {TRACKED_FILE}, {MODEL_FILE}"
        )
    metrics, tracked_file, model_file = files
    history = read_jsonl(metrics) if metrics.is_file() else []
    tracked = read_tracked(tracked_file) if tracked_file.is_file() else None
    model = None
    if model_file.is_file():
        from purenet.modelfile.io import load_model
        from purenet.run.prepare import load_recipe_test

        model = load_model(model_file)
        if data is None and model.meta.recipe is not None:
            data = load_recipe_test(model, source=str(model_file), data_dir=data_dir)[0]
    return RunData(history=history, tracked=tracked, model=model, data=data)
