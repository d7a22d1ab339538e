"""Drawing a sweep folder: the metric against each swept parameter, the top trials' curves."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from purenet.core.jsonio import read_jsonl
from purenet.errors import PurenetError, require_extra
from purenet.plots.common import save_figure
from purenet.plots.sweep import plot_sweep_metric, plot_top_curves
from purenet.recipe.load import read_recipe_data, recipe_from_data
from purenet.recipe.sweep import sweep_spec
from purenet.run.layout import METRICS_FILE
from purenet.run.sweep_files import (
    RESULTS_JSONL,
    SWEEP_RECIPE_FILE,
    rank,
    swept_columns,
    trial_dir,
)

SWEEP_FIGURES = ("sweep", "top")
"""The figures of a sweep folder: `sweep.png` (the metric against each swept parameter) and
`top.png` (per-epoch curves of the best trials)."""

TOP_TRIALS = 5


def _history_key(metric: str, columns: set[str]) -> str:
    """The per-epoch column closest to a final metric: itself, or for `test_*` (evaluated once,
    after training) the validation, else training, column of the same kind."""
    kind = metric.partition("_")[2]
    for key in (metric, f"valid_{kind}", f"train_{kind}"):
        if key in columns:
            return key
    return metric


def plot_sweep(
    sweep_dir: str | os.PathLike[str], *, names: Sequence[str] | None = None, svg: bool = False
) -> list[Path]:
    """Draw the figures of a sweep folder into it, as `sweep.png` and `top.png` (and `.svg`).

    Args:
        sweep_dir: the folder `purenet sweep` wrote (`sweep.toml`, `results.jsonl`, `trials/`).
        names: figures to draw, from `SWEEP_FIGURES`; default both.
        svg: also write SVG files.

    Returns:
        The files written.

    Raises:
        PurenetError: an unknown figure name, a folder without `results.jsonl` or
            `sweep.toml`, or no finished trial to draw.
        MissingExtraError: matplotlib is not installed (names the `plot` extra).
    """
    require_extra("matplotlib", "plot")
    folder = Path(sweep_dir)
    chosen = list(SWEEP_FIGURES if names is None else names)
    unknown = [name for name in chosen if name not in SWEEP_FIGURES]
    if unknown:
        raise PurenetError(
            f"{folder}: unknown sweep figure {unknown[0]!r}; choose from {', '.join(SWEEP_FIGURES)}"
        )
    for needed in (RESULTS_JSONL, SWEEP_RECIPE_FILE):
        if not (folder / needed).is_file():
            raise PurenetError(f"{folder}: not a finished sweep folder: no {needed}")
    spec = sweep_spec(recipe_from_data(read_recipe_data(folder / SWEEP_RECIPE_FILE)))
    rows = read_jsonl(folder / RESULTS_JSONL)
    ranked = rank(rows, spec.metric, spec.goal)
    if not ranked:
        raise PurenetError(f"{folder}: nothing to draw: no finished trial has a {spec.metric}")
    params = swept_columns(rows)
    written: list[Path] = []
    if "sweep" in chosen:
        fig = plot_sweep_metric(rows, params, spec.metric, best=ranked[0]["trial"])
        written += save_figure(fig, folder / "sweep.png", svg=svg)
    if "top" in chosen:
        histories = {}
        for row in ranked[:TOP_TRIALS]:
            metrics = trial_dir(folder, row["trial"]) / METRICS_FILE
            if metrics.is_file():
                values = ", ".join(f"{p.rpartition('.')[2]}={row.get(p)}" for p in params)
                histories[f"{row['trial']}: {values}"] = read_jsonl(metrics)
        columns = {key for history in histories.values() for line in history for key in line}
        try:
            fig = plot_top_curves(histories, _history_key(spec.metric, columns))
        except ValueError as exc:
            raise PurenetError(f"{folder}: cannot draw top: {exc}") from None
        written += save_figure(fig, folder / "top.png", svg=svg)
    return written
