"""Comparing run folders: the recipe settings that differ between runs and their final metrics.

`purenet compare RUN...` prints the table and draws the runs' curves on one figure
(`purenet.plots.curves.plot_comparison`). A run folder is anything `purenet run` (or a sweep,
for each trial) wrote: `recipe.toml`, `metrics.jsonl` and, once finished, `model.json`.

Example:
    >>> from purenet.run.compare import compare_runs
    >>> table = compare_runs(["runs/a", "runs/b"])  # doctest: +SKIP
    >>> table.settings, [run.metrics["test_accuracy"] for run in table.runs]  # doctest: +SKIP
    (('optimizer.learning_rate',), [0.9712, 0.9748])
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from purenet.core.jsonio import read_json, read_jsonl
from purenet.errors import PurenetError
from purenet.recipe.load import read_recipe_data
from purenet.run.layout import METRICS_FILE, MODEL_FILE, RECIPE_FILE

IGNORED_SETTINGS = frozenset({"output.dir"})
"""Settings that differ between any two runs and say nothing about them."""

HISTORY_METRICS = ("train_loss", "train_accuracy", "valid_loss", "valid_accuracy")
"""Metrics of a run that has no model file yet (interrupted): its last history row's."""


@attrs.frozen
class RunRecord:
    """One run folder as the comparison sees it.

    Attributes:
        name: a short name: the folder's path below the folders' common parent.
        folder: the run folder.
        settings: the recipe flattened to dotted keys (`optimizer.learning_rate`), values as
            in the recipe; empty when the folder holds no recipe.
        metrics: the final metrics stored in `model.json`, else those of the last epoch.
        history: the rows of `metrics.jsonl`.
    """

    name: str
    folder: Path
    settings: Mapping[str, Any]
    metrics: Mapping[str, float]
    history: Sequence[Mapping[str, Any]]


@attrs.frozen
class Comparison:
    """Runs side by side.

    Attributes:
        runs: one record per folder, in the order given.
        settings: the dotted recipe keys whose values differ between runs (or that some runs
            lack), in recipe order.
        metrics: every metric name of any run, in order of first appearance.
    """

    runs: tuple[RunRecord, ...]
    settings: tuple[str, ...]
    metrics: tuple[str, ...]


def flatten_settings(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested recipe as dotted keys: tables are opened, arrays and values kept whole.

    Example:
        >>> flatten_settings({"train": {"epochs": 3, "early": {"patience": 2}}, "x": [1]})
        {'train.epochs': 3, 'train.early.patience': 2, 'x': [1]}
    """
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_settings(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _read_run(folder: Path, name: str) -> RunRecord:
    if not folder.is_dir():
        raise PurenetError(f"{folder}: not a run folder (no such directory)")
    recipe, metrics_file, model_file = (folder / f for f in (RECIPE_FILE, METRICS_FILE, MODEL_FILE))
    if not (recipe.is_file() or metrics_file.is_file() or model_file.is_file()):
        raise PurenetError(
            f"{folder}: not a run folder: none of {RECIPE_FILE}, {METRICS_FILE}, {MODEL_FILE}"
        )
    history = read_jsonl(metrics_file) if metrics_file.is_file() else []
    settings: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    if model_file.is_file():
        data = read_json(model_file)
        meta = data.get("meta") if isinstance(data, dict) else None
        meta = meta if isinstance(meta, dict) else {}
        stored = meta.get("metrics")
        if isinstance(stored, dict):
            metrics = {k: v for k, v in stored.items() if isinstance(v, int | float)}
        if isinstance(meta.get("recipe"), dict):
            settings = meta["recipe"]
    if recipe.is_file():
        settings = read_recipe_data(recipe)
    if not metrics and history:
        last = history[-1]
        metrics = {"epochs": float(len(history))}
        metrics.update({k: last[k] for k in HISTORY_METRICS if last.get(k) is not None})
    return RunRecord(name, folder, flatten_settings(settings), metrics, history)


def _same(values: list[Any]) -> bool:
    texts = {json.dumps(value, sort_keys=True) for value in values}
    return len(texts) == 1


def _names(folders: Sequence[Path]) -> list[str]:
    """Each folder below the common parent of all, so trials of a sweep read `trials/3`."""
    if len(folders) == 1:
        return [folders[0].resolve().name]
    resolved = [folder.resolve() for folder in folders]
    parent = Path(os.path.commonpath(resolved))
    names = [str(folder.relative_to(parent)) or folder.name for folder in resolved]
    return names if len(set(names)) == len(names) else [str(folder) for folder in folders]


def compare_runs(folders: Sequence[str | os.PathLike[str]]) -> Comparison:
    """Read run folders and find the settings that tell them apart.

    Args:
        folders: run folders (a sweep's trial folders are run folders too).

    Returns:
        A `Comparison`.

    Raises:
        PurenetError: no folders, a folder that is not a run folder, or an unreadable file
            in one (naming the file).
    """
    if not folders:
        raise PurenetError("compare: give at least one run folder")
    paths = [Path(folder) for folder in folders]
    runs = tuple(_read_run(path, name) for path, name in zip(paths, _names(paths), strict=True))
    keys: dict[str, None] = {}
    metrics: dict[str, None] = {}
    for run in runs:
        keys.update(dict.fromkeys(run.settings))
        metrics.update(dict.fromkeys(run.metrics))
    differing = tuple(
        key
        for key in keys
        if key not in IGNORED_SETTINGS
        and (
            any(key not in run.settings for run in runs)
            or not _same([run.settings[key] for run in runs])
        )
    )
    return Comparison(runs, differing, tuple(metrics))
