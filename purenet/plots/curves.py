"""Training curves (loss, accuracy, learning rate per epoch) and tracked-parameter convergence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from purenet.plots.common import new_figure
from purenet.training.reports import Tracked

# ---------------------------------------------------------------------------------------------
# Training curves and convergence


def _row(report: Any) -> Mapping[str, Any]:
    if isinstance(report, Mapping):
        return report
    if attrs.has(type(report)):
        return attrs.asdict(report, recurse=False)
    raise ValueError(f"a history row must be a mapping or an attrs record, found {report!r}")


def _column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """The values of `key` in each row as float64, NaN where missing or null."""
    values = [row.get(key) for row in rows]
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _best_epoch(rows: Sequence[Mapping[str, Any]], epochs: np.ndarray) -> float | None:
    """The epoch of the lowest validation loss (else training loss), None without losses."""
    for key in ("valid_loss", "train_loss"):
        values = _column(rows, key)
        if not np.isnan(values).all():
            return float(epochs[int(np.nanargmin(values))])
    return None


def plot_curves(
    history: Sequence[Any],
    *,
    metrics: Sequence[str] = ("loss", "accuracy"),
    best_epoch: float | None = None,
) -> Figure:
    """Draw train and validation curves per epoch, one panel per metric, learning rate on a
    second axis.

    Args:
        history: one row per epoch: mappings (the lines of `metrics.jsonl`) or the attrs
            reports of `train(...).history`, with `epoch` and any of `train_loss`,
            `valid_loss`, `test_loss`, `train_accuracy`, `valid_accuracy`, `test_accuracy`,
            `learning_rate`; missing or null values are left out of the lines (a test curve
            is drawn dash-dotted).
        metrics: which panels to draw, from `loss` and `accuracy`.
        best_epoch: the epoch marked on every panel with a dotted line (e.g. the one early
            stopping kept); default: the epoch of the lowest validation loss, else of the
            lowest training loss.

    Returns:
        A figure 6.4 x 4.0 inches per panel (640 x 400 px each), with ticks on whole epochs.
        A learning rate that changes gets its own axis on the right; a constant one is named
        in the title.

    Raises:
        ValueError: an empty history, an unknown metric, or a metric with no values.

    Example:
        >>> from purenet.plots.curves import plot_curves
        >>> fig = plot_curves([{"epoch": 1, "train_loss": 0.9, "train_accuracy": 0.7},
        ...                    {"epoch": 2, "train_loss": 0.5, "train_accuracy": 0.8}])
        >>> len(fig.axes)  # two panels, no learning rate recorded
        2
    """
    rows = [_row(report) for report in history]
    if not rows:
        raise ValueError("the history is empty: no epoch to draw")
    for metric in metrics:
        if metric not in ("loss", "accuracy"):
            raise ValueError(f"unknown metric {metric!r}; supported: loss, accuracy")
    epochs = _column(rows, "epoch")
    if np.isnan(epochs).any():
        epochs = np.arange(1, len(rows) + 1, dtype=np.float64)
    learning_rate = _column(rows, "learning_rate")
    known_rates = learning_rate[~np.isnan(learning_rate)]
    # A constant rate gets a word in the title, not an axis of its own.
    constant = len(known_rates) > 0 and bool((known_rates == known_rates[0]).all())
    # Markers help read a few epochs and smear thousands into a thick line.
    marker = "o" if len(rows) <= 50 else None
    best = _best_epoch(rows, epochs) if best_epoch is None else float(best_epoch)
    fig = new_figure(6.4 * len(metrics), 4.0)
    from matplotlib.ticker import MaxNLocator

    for ax, metric in zip(fig.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True):
        drawn = False
        for split, style in (("train", "-"), ("valid", "--"), ("test", "-.")):
            values = _column(rows, f"{split}_{metric}")
            if np.isnan(values).all():
                continue
            name = "validation" if split == "valid" else split
            ax.plot(epochs, values, style, marker=marker, markersize=3, label=f"{name} {metric}")
            drawn = True
        if not drawn:
            raise ValueError(f"the history has no train_{metric} or valid_{metric} values")
        if best is not None:
            ax.axvline(best, linestyle=":", color="0.3", label=f"best epoch {best:g}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if len(known_rates) and not constant:
            rate_axis = ax.twinx()
            (line,) = rate_axis.plot(epochs, learning_rate, ":", color="0.4", label="learning rate")
            rate_axis.set_ylabel("learning rate")
            handles.append(line)
            labels.append("learning rate")
        ax.legend(handles, labels, loc="best", fontsize="small")
        title = f"{metric} per epoch"
        if constant:
            title += f" (learning rate {known_rates[0]:g})"
        ax.set_title(title)
    return fig


def plot_convergence(
    series: Mapping[str, Sequence[float]] | Tracked,
    *,
    steps: Sequence[float] | None = None,
    xlabel: str = "epoch",
) -> Figure:
    """Draw how chosen scalars (single weights, norms) change during training.

    Args:
        series: name -> values, one value per recorded step, all of the same length; or the
            `Tracked` record of `train(..., track=...).tracked` (its epochs are the steps).
        steps: the x value of each step (default 1, 2, ..., or the tracked epochs).
        xlabel: the x axis' name.

    Returns:
        A 6.4 x 4.0 inch figure (640 x 400 px), one line per scalar.

    Raises:
        ValueError: no series, or series and steps of different lengths.

    Example:
        >>> from purenet.plots.curves import plot_convergence
        >>> fig = plot_convergence({"w[0][0,0]": [0.1, 0.3, 0.35], "b[1][0]": [0.0, -0.2, -0.25]})
    """
    if isinstance(series, Tracked):
        steps = series.epochs.tolist() if steps is None else steps
        series = {path: series.values[:, i].tolist() for i, path in enumerate(series.paths)}
    if not series:
        raise ValueError("no tracked scalars to draw")
    lengths = {name: len(values) for name, values in series.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"tracked scalars differ in length: {lengths}")
    count = next(iter(lengths.values()))
    x = np.arange(1, count + 1) if steps is None else np.asarray(steps, dtype=np.float64)
    if len(x) != count:
        raise ValueError(f"steps has {len(x)} values, the tracked scalars have {count}")
    fig = new_figure(6.4, 4.0)
    ax = fig.add_subplot()
    for name, values in series.items():
        marker = "o" if count <= 50 else None
        ax.plot(x, np.asarray(values, dtype=np.float64), marker=marker, markersize=3, label=name)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("value")
    ax.set_title("convergence of tracked parameters")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="best", ncols=1 + len(series) // 8)
    return fig


def plot_comparison(
    histories: Mapping[str, Sequence[Any]], *, metrics: Sequence[str] = ("loss", "accuracy")
) -> Figure:
    """Draw the curves of several runs on one figure: a colour per run, one panel per metric.

    Training curves are solid, validation curves dashed in the same colour.

    Args:
        histories: run name -> its history (rows as for `plot_curves`).
        metrics: which panels to draw, from `loss` and `accuracy`; a panel no run has values
            for is left out.

    Returns:
        A figure 6.4 x 4.4 inches per panel, ticks on whole epochs.

    Raises:
        ValueError: no runs, an unknown metric, or no run with values of any metric.

    Example:
        >>> from purenet.plots.curves import plot_comparison
        >>> fig = plot_comparison({"lr 0.1": [{"epoch": 1, "train_loss": 0.9}],
        ...                        "lr 0.5": [{"epoch": 1, "train_loss": 0.7}]})
        >>> len(fig.axes)
        1
    """
    if not histories:
        raise ValueError("no runs to compare")
    for metric in metrics:
        if metric not in ("loss", "accuracy"):
            raise ValueError(f"unknown metric {metric!r}; supported: loss, accuracy")
    tables = {name: [_row(report) for report in rows] for name, rows in histories.items()}
    panels = [
        metric
        for metric in metrics
        if any(
            not np.isnan(_column(rows, f"{split}_{metric}")).all()
            for rows in tables.values()
            for split in ("train", "valid")
        )
    ]
    if not panels:
        raise ValueError(f"no run has values for {', '.join(metrics)}")
    fig = new_figure(6.4 * len(panels), 4.4)
    from matplotlib.ticker import MaxNLocator

    for ax, metric in zip(fig.subplots(1, len(panels), squeeze=False)[0], panels, strict=True):
        for index, (name, rows) in enumerate(tables.items()):
            epochs = _column(rows, "epoch") if rows else np.zeros(0)
            for split, style in (("train", "-"), ("valid", "--")):
                values = _column(rows, f"{split}_{metric}")
                if len(values) and not np.isnan(values).all():
                    label = f"{name} ({'train' if split == 'train' else 'validation'})"
                    ax.plot(epochs, values, style, color=f"C{index % 10}", label=label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.set_title(f"{metric} per epoch, {len(tables)} runs")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="x-small", loc="best", ncols=1 + len(tables) // 8)
    return fig
