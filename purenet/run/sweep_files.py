"""A sweep folder: its layout, the trial records, the results table and the best trial's copy.

    sweep.toml        the sweep recipe as resolved (data paths absolute)
    trials/<id>/      one ordinary run folder per trial (recipe.toml, metrics.jsonl,
                      checkpoint.json, model.json), plus trial.json, written last
    results.csv       one row per trial: swept values, metrics, epochs, seconds, status, error
    results.jsonl     the same rows as JSON lines (arrays stay arrays)
    best/             a copy of the best finished trial's folder

`trial.json` is the trial's "done" marker: it is written atomically after every other file of
the trial, so a trial folder without it (a killed sweep, a worker that died) is not finished.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from purenet.core.atomic import atomic_write, write_text_atomic
from purenet.core.jsonio import read_json, write_json_atomic
from purenet.errors import PurenetError
from purenet.recipe.space import SWEEP_METRICS
from purenet.recipe.sweep import Trial

SWEEP_RECIPE_FILE = "sweep.toml"
TRIALS_DIR = "trials"
TRIAL_FILE = "trial.json"
RESULTS_CSV = "results.csv"
RESULTS_JSONL = "results.jsonl"
BEST_DIR = "best"

FINISHED = ("ok", "diverged")
"""Statuses of a finished trial: trained to the end, or stopped by a non-finite loss (the
learning rate's fault, and the same again on a re-run). A `failed` trial (an error of its
worker or its data) runs again when the sweep is re-run."""

STAT_COLUMNS = ("epochs", "best_epoch", "seconds")

_COLUMNS_BEFORE = ("trial", "index", "status")

_COLUMNS_AFTER = (*SWEEP_METRICS, *STAT_COLUMNS, "wall_seconds", "worker", "error")


def is_sweep_dir(folder: str | os.PathLike[str]) -> bool:
    """Whether a folder is a sweep folder (it holds `results.jsonl` or `sweep.toml`)."""
    path = Path(folder)
    return (path / RESULTS_JSONL).is_file() or (path / SWEEP_RECIPE_FILE).is_file()


def trial_dir(sweep_dir: Path, trial_id: str) -> Path:
    """The run folder of a trial."""
    return sweep_dir / TRIALS_DIR / trial_id


def read_record(sweep_dir: Path, trial_id: str) -> dict[str, Any] | None:
    """A trial's record (`trial.json`), or None when there is none or it is unreadable."""
    file = trial_dir(sweep_dir, trial_id) / TRIAL_FILE
    if not file.is_file():
        return None
    try:
        record = read_json(file, error=PurenetError)
    except PurenetError:
        return None
    if not isinstance(record, dict) or record.get("id") != trial_id:
        return None
    return record


def is_finished(record: Mapping[str, Any] | None) -> bool:
    """Whether a record read back by `read_record` is a finished trial."""
    return record is not None and record.get("status") in FINISHED


def write_trial(sweep_dir: Path, trial: Trial, outcome: Mapping[str, Any]) -> dict[str, Any]:
    """Write a trial's files and then its record, the done marker, each atomically.

    Args:
        sweep_dir: the sweep folder.
        trial: the trial.
        outcome: what `purenet.run.sweep.run_trial` returned (plain data: status, metrics,
            error, files as name -> bytes, worker, wall_seconds).

    Returns:
        The record written to `trial.json`.
    """
    folder = trial_dir(sweep_dir, trial.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRIAL_FILE).unlink(missing_ok=True)
    for name, content in outcome.get("files", {}).items():
        with atomic_write(folder / Path(name).name, binary=True) as handle:
            handle.write(content)
    record = {
        "id": trial.id,
        "index": trial.index,
        "status": outcome["status"],
        "values": trial.values,
        "metrics": outcome.get("metrics", {}),
        "error": outcome.get("error"),
        "wall_seconds": outcome.get("wall_seconds"),
        "worker": outcome.get("worker"),
    }
    write_json_atomic(folder / TRIAL_FILE, record)
    return record


# ---------------------------------------------------------------------------------------------
# Results


def result_row(record: Mapping[str, Any]) -> dict[str, Any]:
    """One flat row of the results table from a trial record: trial, index, status, the swept
    values by path, the metrics, epochs, seconds, wall_seconds, worker, error."""
    row: dict[str, Any] = {"trial": record["id"], "index": record["index"]}
    row["status"] = record["status"]
    row.update(record.get("values", {}))
    metrics = record.get("metrics") or {}
    for name in (*SWEEP_METRICS, *STAT_COLUMNS):
        if name in metrics:
            row[name] = metrics[name]
    for name in ("wall_seconds", "worker", "error"):
        row[name] = record.get(name)
    return row


def rank(rows: Sequence[Mapping[str, Any]], metric: str, goal: str) -> list[Mapping[str, Any]]:
    """The `ok` rows with a finite `metric`, best first.

    Ties (common for accuracies on small validation sets) go to the lower loss of the same
    split (`valid_loss` for `valid_accuracy`), then to the earlier trial.
    """

    def number(row: Mapping[str, Any], name: str) -> float | None:
        value = row.get(name)
        if isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        return None

    sign = -1.0 if goal == "max" else 1.0
    tie = metric.replace("accuracy", "loss")

    def key(row: Mapping[str, Any]) -> tuple[float, float, int]:
        loss = number(row, tie) if tie != metric else None
        return (
            sign * (number(row, metric) or 0.0),
            math.inf if loss is None else loss,
            row["index"],
        )

    scored = [r for r in rows if r["status"] == "ok" and number(r, metric) is not None]
    return sorted(scored, key=key)


def swept_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The swept paths among the columns of results rows, in order of appearance."""
    fixed = {*_COLUMNS_BEFORE, *_COLUMNS_AFTER}
    return list(dict.fromkeys(k for row in rows for k in row if k not in fixed))


def by_configuration(
    rows: Sequence[Mapping[str, Any]], metric: str, goal: str
) -> list[dict[str, Any]]:
    """The metric of each configuration over its seeds, best mean first.

    Args:
        rows: results rows; those whose status is not `ok` or that lack the metric are left
            out.
        metric, goal: the ranking metric and `max` / `min`.

    Returns:
        One dict per configuration: its swept values except `train.seed`, then `mean`, `std`
        (population standard deviation) and `n` (finished seeds).

    Example:
        >>> rows = [{"trial": t, "index": i, "status": "ok", "lr": lr, "train.seed": s,
        ...          "valid_loss": v} for i, (t, lr, s, v) in enumerate(
        ...     [("a", 0.1, 0, 0.5), ("b", 0.1, 1, 0.7), ("c", 1.0, 0, 0.4), ("d", 1.0, 1, 0.4)])]
        >>> configs = by_configuration(rows, "valid_loss", "min")
        >>> [(c["lr"], round(c["mean"], 3), c["n"]) for c in configs]
        [(1.0, 0.4, 2), (0.1, 0.6, 2)]
    """
    groups: dict[str, tuple[dict[str, Any], list[float]]] = {}
    for row in rank(rows, metric, goal):
        values = {p: row[p] for p in swept_columns([row]) if p != "train.seed"}
        key = json.dumps(values, sort_keys=True)
        groups.setdefault(key, (values, []))[1].append(float(row[metric]))
    summary = [
        {**values, "mean": float(np.mean(scores)), "std": float(np.std(scores)), "n": len(scores)}
        for values, scores in groups.values()
    ]
    return sorted(summary, key=lambda c: -c["mean"] if goal == "max" else c["mean"])


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, list | dict | bool) else value


def write_results(sweep_dir: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write `results.csv` and `results.jsonl` (rows in trial order), each atomically."""
    ordered = sorted(rows, key=lambda r: r["index"])
    present = [c for c in _COLUMNS_AFTER if any(c in r for r in ordered)]
    columns = [*_COLUMNS_BEFORE, *swept_columns(ordered), *present]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    for row in ordered:
        writer.writerow([_csv_cell(row.get(c)) for c in columns])
    write_text_atomic(sweep_dir / RESULTS_CSV, text.getvalue())
    lines = "".join(json.dumps(dict(row), allow_nan=False) + "\n" for row in ordered)
    write_text_atomic(sweep_dir / RESULTS_JSONL, lines)


def copy_best(sweep_dir: Path, trial_id: str | None) -> Path | None:
    """Make `best/` a copy of a trial's folder (or remove it when there is no best trial).

    The copy is built beside it and swapped in with renames, so `best/` is never half a copy.
    """
    best = sweep_dir / BEST_DIR
    staging, old = sweep_dir / f".{BEST_DIR}.new", sweep_dir / f".{BEST_DIR}.old"
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    if trial_id is None:
        shutil.rmtree(best, ignore_errors=True)
        return None
    shutil.copytree(trial_dir(sweep_dir, trial_id), staging)
    if best.exists():
        best.rename(old)
    staging.rename(best)
    shutil.rmtree(old, ignore_errors=True)
    return best
