"""Pictures of a sweep: the ranking metric against each swept parameter, and the curves of the
top trials.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
from purenet.plots.common import grid_shape, new_figure

BEST_COLOR = "#d62728"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _draw_parameter(
    ax: Axes, xs: list[Any], ys: np.ndarray, best: int | None, path: str, metric: str
) -> None:
    if all(_is_number(x) for x in xs):
        positions = np.array(xs, dtype=np.float64)
        if positions.min() > 0 and positions.max() / positions.min() >= 10:
            ax.set_xscale("log")
    else:
        # Arrays, tables, strings: one slot per distinct value, in order of appearance.
        labels = list(dict.fromkeys(json.dumps(x, separators=(",", ":")) for x in xs))
        positions = np.array(
            [labels.index(json.dumps(x, separators=(",", ":"))) for x in xs], dtype=np.float64
        )
        ax.set_xticks(range(len(labels)), labels, rotation=20 if len(labels) > 3 else 0)
    ax.scatter(positions, ys, alpha=0.7, label="trial")
    if best is not None:
        ax.scatter(
            positions[best], ys[best], color=BEST_COLOR, marker="*", s=160, label="best", zorder=3
        )
    ax.set_xlabel(path)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)


def plot_sweep_metric(
    rows: Sequence[Mapping[str, Any]],
    params: Sequence[str],
    metric: str,
    *,
    best: str | None = None,
) -> Figure:
    """Draw the metric of every finished trial against each swept parameter, one panel each.

    Args:
        rows: results rows (`results.jsonl`): `trial`, `status`, the swept values by path
            and the metrics; rows whose status is not `ok` or that lack the metric are left
            out.
        params: the swept paths, one panel each (numbers on a linear or, across a decade or
            more, log axis; other values one slot per distinct value).
        metric: the metric on the y axis.
        best: the id of the best trial, drawn as a star.

    Returns:
        A figure 4.5 x 3.5 inches per panel.

    Raises:
        ValueError: no params, or no finished trial with the metric.

    Example:
        >>> rows = [{"trial": "a", "status": "ok", "lr": 0.1, "valid_accuracy": 0.8},
        ...         {"trial": "b", "status": "ok", "lr": 1.0, "valid_accuracy": 0.9}]
        >>> len(plot_sweep_metric(rows, ["lr"], "valid_accuracy", best="b").axes)
        1
    """
    done = [r for r in rows if r.get("status") == "ok" and _is_number(r.get(metric))]
    if not params:
        raise ValueError("no swept parameters to draw against")
    if not done:
        raise ValueError(f"no finished trial has a {metric}")
    ys = np.array([float(r[metric]) for r in done])
    best_index = next((i for i, r in enumerate(done) if r["trial"] == best), None)
    n_rows, n_cols = grid_shape(len(params), min(3, len(params)))
    fig = new_figure(4.5 * n_cols, 3.5 * n_rows)
    axes = fig.subplots(n_rows, n_cols, squeeze=False).ravel()
    for ax, path in zip(axes, params, strict=False):
        _draw_parameter(ax, [r.get(path) for r in done], ys, best_index, path, metric)
    for ax in axes[len(params) :]:
        ax.set_visible(False)
    left_out = len(rows) - len(done)
    note = f" ({left_out} trial(s) without a result left out)" if left_out else ""
    fig.suptitle(f"{metric} of {len(done)} trials{note}")
    return fig


def plot_top_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]], key: str) -> Figure:
    """Draw one per-epoch curve of `key` for each of a few trials (the best first).

    Args:
        histories: a label (trial id and values) -> its `metrics.jsonl` rows, best first.
        key: the per-epoch column to draw, e.g. `valid_accuracy` or `train_loss`.

    Returns:
        A 7.0 x 4.5 inch figure.

    Raises:
        ValueError: no history has any value of `key`.

    Example:
        >>> fig = plot_top_curves({"a": [{"epoch": 1, "valid_loss": 0.5},
        ...                              {"epoch": 2, "valid_loss": 0.4}]}, "valid_loss")
        >>> fig.axes[0].get_ylabel()
        'valid_loss'
    """
    fig = new_figure(7.0, 4.5)
    ax = fig.subplots()
    drawn = 0
    for rank, (label, rows) in enumerate(histories.items()):
        points = [(r.get("epoch"), r.get(key)) for r in rows]
        points = [(e, v) for e, v in points if _is_number(e) and _is_number(v)]
        if not points:
            continue
        epochs, values = zip(*points, strict=True)
        ax.plot(epochs, values, linewidth=2.2 if rank == 0 else 1.2, label=label)
        drawn += 1
    if not drawn:
        raise ValueError(f"no trial history has {key} values")
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    ax.set_title(f"{key} of the top {drawn} trial(s), best in bold")
    return fig
