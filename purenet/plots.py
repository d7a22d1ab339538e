"""Pictures of a training run: curves, convergence, decision boundary, digits, confusion, weights.

Each `plot_*` function takes plain data (lists, dicts, arrays, a model's arrays) and returns a
`matplotlib.figure.Figure` built with the object-oriented API on an Agg canvas: no display is
needed and no pyplot state is touched, so calls never leak into each other. `save_figure`
writes a figure as PNG (and SVG on request) atomically. `plot_run` reads a run folder and
draws every figure that fits it; `show_digits` draws digits from a data set.

Everything here needs matplotlib (the `plot` extra); it is imported inside the functions, so
`import purenet.plots` works without it and a call raises `MissingExtraError` naming the extra.

Figure names (`FIGURES`, the files `plot_run` writes as `<name>.png`):
    loss, accuracy  training curves per epoch (train and validation), learning rate on a
                    second axis; one figure each (`plot_curves` can also draw both side by side)
    convergence     the scalars tracked during training, per epoch
    boundary        decision boundary of a model on 2-column data (e.g. microchips)
    digits          the first test images with true and predicted labels, mistakes in red
    mistakes        the test images the model gets wrong, least confident first
    confusion       confusion matrix with counts and per-class recall
    weights         the first layer's weights as images, one tile per hidden unit

Example:
    >>> import numpy as np
    >>> from purenet.plots import plot_confusion, save_figure
    >>> fig = plot_confusion(np.array([0, 1, 1]), np.array([0, 1, 0]))
    >>> save_figure(fig, "confusion.png")  # doctest: +SKIP
    [PosixPath('confusion.png')]
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np

from purenet.atomic import atomic_write
from purenet.data import Dataset
from purenet.errors import DataFormatError, PurenetError, require_extra
from purenet.model import Architecture, Params, forward, labels_of
from purenet.serialize import Model

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FIGURES = (
    "loss",
    "accuracy",
    "convergence",
    "boundary",
    "digits",
    "mistakes",
    "confusion",
    "weights",
)
"""Names of the figures `plot_run` can draw, in the order it draws them."""

METRICS_FILE = "metrics.jsonl"
TRACKED_FILE = "tracked.jsonl"
MODEL_FILE = "model.json"
"""The files of a run folder that `load_run` reads (as `purenet run` writes them)."""

DPI = 100
"""Dots per inch of every figure: a figure of size (w, h) inches saves as (100 w, 100 h) px."""

SELECTIONS = ("first", "mistakes", "least_confident")
"""How `plot_digits` chooses the images it shows."""

MISTAKE_COLOR = "#d62728"
RIGHT_COLOR = "#2ca02c"


def _new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no display), laid out by constrained layout."""
    require_extra("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _grid(count: int, columns: int | None) -> tuple[int, int]:
    cols = columns if columns is not None else max(1, math.ceil(math.sqrt(count)))
    if cols < 1:
        raise ValueError(f"columns must be >= 1, found {cols}")
    return max(1, math.ceil(count / cols)), cols


# ---------------------------------------------------------------------------------------------
# Saving


def save_figure(fig: Figure, path: str | os.PathLike[str], *, svg: bool = False) -> list[Path]:
    """Write `fig` as PNG (and SVG beside it) atomically: temp file in the folder, then rename.

    Args:
        fig: a figure from this module (or any matplotlib Figure).
        path: the PNG file to write; a missing or other suffix is replaced by `.png`.
        svg: also write the same figure as `<stem>.svg`.

    Returns:
        The paths written, PNG first. The PNG is `fig.get_size_inches() * fig.dpi` pixels.

    Example:
        >>> from purenet.plots import plot_curves, save_figure
        >>> history = [{"epoch": 1, "train_loss": 0.9}, {"epoch": 2, "train_loss": 0.5}]
        >>> save_figure(plot_curves(history, metrics=("loss",)), "loss.png")  # doctest: +SKIP
        [PosixPath('loss.png')]
    """
    require_extra("matplotlib", "plot")
    from matplotlib import rc_context

    target = Path(path).with_suffix(".png")
    written = []
    for suffix in (".png", ".svg") if svg else (".png",):
        final = target.with_suffix(suffix)
        # No date and a fixed salt for SVG element ids: the same figure, the same bytes.
        metadata = {"Date": None} if suffix == ".svg" else None
        with atomic_write(final, binary=True) as handle, rc_context({"svg.hashsalt": "purenet"}):
            fig.savefig(handle, format=suffix[1:], dpi=DPI, metadata=metadata)
        written.append(final)
    return written


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


def plot_curves(history: Sequence[Any], *, metrics: Sequence[str] = ("loss", "accuracy")) -> Figure:
    """Draw train and validation curves per epoch, one panel per metric, learning rate on a
    second axis.

    Args:
        history: one row per epoch: mappings (the lines of `metrics.jsonl`) or the attrs
            reports of `train(...).history`, with `epoch` and any of `train_loss`,
            `valid_loss`, `train_accuracy`, `valid_accuracy`, `learning_rate`; missing or
            null values are left out of the lines.
        metrics: which panels to draw, from `loss` and `accuracy`.

    Returns:
        A figure 6.4 x 4.0 inches per panel (640 x 400 px each). A learning rate that
        changes gets its own axis on the right; a constant one is named in the title.

    Raises:
        ValueError: an empty history, an unknown metric, or a metric with no values.

    Example:
        >>> from purenet.plots import plot_curves
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
    fig = _new_figure(6.4 * len(metrics), 4.0)
    for ax, metric in zip(fig.subplots(1, len(metrics), squeeze=False)[0], metrics, strict=True):
        drawn = False
        for split, style in (("train", "-"), ("valid", "--")):
            values = _column(rows, f"{split}_{metric}")
            if np.isnan(values).all():
                continue
            name = "train" if split == "train" else "validation"
            ax.plot(epochs, values, style, marker=marker, markersize=3, label=f"{name} {metric}")
            drawn = True
        if not drawn:
            raise ValueError(f"the history has no train_{metric} or valid_{metric} values")
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
    series: Mapping[str, Sequence[float]],
    *,
    steps: Sequence[float] | None = None,
    xlabel: str = "epoch",
) -> Figure:
    """Draw how chosen scalars (single weights, norms) change during training.

    Args:
        series: name -> values, one value per recorded step; all of the same length.
        steps: the x value of each step (default 1, 2, ...).
        xlabel: the x axis' name.

    Returns:
        A 6.4 x 4.0 inch figure (640 x 400 px), one line per scalar.

    Raises:
        ValueError: no series, or series and steps of different lengths.

    Example:
        >>> from purenet.plots import plot_convergence
        >>> fig = plot_convergence({"w[0][0,0]": [0.1, 0.3, 0.35], "b[1][0]": [0.0, -0.2, -0.25]})
    """
    if not series:
        raise ValueError("no tracked scalars to draw")
    lengths = {name: len(values) for name, values in series.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(f"tracked scalars differ in length: {lengths}")
    count = next(iter(lengths.values()))
    x = np.arange(1, count + 1) if steps is None else np.asarray(steps, dtype=np.float64)
    if len(x) != count:
        raise ValueError(f"steps has {len(x)} values, the tracked scalars have {count}")
    fig = _new_figure(6.4, 4.0)
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


# ---------------------------------------------------------------------------------------------
# Decision boundary


def boundary_grid(
    x: np.ndarray, *, resolution: int = 200, margin: float = 0.1
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A regular grid covering 2-column data, flattened into rows for one `forward` call.

    Args:
        x: (n, 2) data points.
        resolution: grid points per axis.
        margin: extra room on each side, as a fraction of the data's range.

    Returns:
        (xs, ys, points): (resolution,) axis values and (resolution**2, 2) float64 points,
        row-major over (ys, xs), so `values.reshape(resolution, resolution)` suits `contourf`.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(f"x has shape {x.shape}; a decision boundary needs (n, 2) data")
    if resolution < 2:
        raise ValueError(f"resolution must be >= 2, found {resolution}")
    low, high = x.min(axis=0), x.max(axis=0)
    pad = margin * np.where(high > low, high - low, 1.0)
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    return xs, ys, points


def plot_decision_boundary(
    arch: Architecture,
    params: Params,
    x: np.ndarray,
    y: np.ndarray,
    *,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
    label_names: Sequence[str] | None = None,
    resolution: int = 200,
) -> Figure:
    """Draw a classifier's decision regions over 2-column data, with the data points by class.

    The whole grid goes through the network in one vectorized `forward` call. With one
    sigmoid output or two outputs, the fill is the probability of class 1 and a black line
    marks 0.5; with more classes, the fill is the predicted class.

    Args:
        arch, params: the model.
        x: (n, 2) data points in the data's own units (e.g. microchip test scores).
        y: (n,) integer labels or (n, k) targets of the points.
        transform: maps (m, 2) raw points to (m, sizes[0]) model inputs (the model's
            preprocessing); default: none, the model takes the 2 columns as they are.
        label_names: a name per class for the legend (default "class 0", ...).
        resolution: grid points per axis.

    Returns:
        A 6.4 x 5.2 inch figure (640 x 520 px).

    Raises:
        ValueError: `x` is not (n, 2), or the model's inputs do not fit (transformed) points.

    Example:
        >>> import numpy as np, purenet as pn
        >>> from purenet.plots import plot_decision_boundary
        >>> arch = pn.Architecture((2, 8, 1), hidden="tanh", output="sigmoid")
        >>> x = np.array([[0.0, 0.0], [1.0, 1.0]]); y = np.array([0, 1])
        >>> fig = plot_decision_boundary(arch, pn.init(arch, seed=0), x, y, resolution=50)
    """
    xs, ys, points = boundary_grid(x, resolution=resolution)
    inputs = points if transform is None else transform(points)
    outputs = forward(arch, params, inputs)
    classes = outputs.shape[1]
    truth = labels_of(y)
    names = list(label_names) if label_names is not None else []
    count = max(classes, 2, int(truth.max()) + 1 if len(truth) else 0)
    names += [f"class {i}" for i in range(len(names), count)]
    fig = _new_figure(6.4, 5.2)
    ax = fig.add_subplot()
    if classes <= 2:
        probability = (outputs[:, 0] if classes == 1 else outputs[:, 1]).reshape(len(ys), -1)
        filled = ax.contourf(
            xs, ys, probability, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.75
        )
        fig.colorbar(filled, ax=ax, label=f"P({names[1]})")
        boundary = ax.contour(xs, ys, probability, levels=[0.5], colors="black", linewidths=1.5)
        boundary.set_gid("p=0.5")
        colors = ["#1f4e9c", "#b2182b"]
    else:
        from matplotlib.colors import ListedColormap

        palette = [f"C{i % 10}" for i in range(classes)]
        region = outputs.argmax(axis=1).reshape(len(ys), -1)
        ax.contourf(
            xs,
            ys,
            region,
            levels=np.arange(classes + 1) - 0.5,
            cmap=ListedColormap(palette),
            alpha=0.35,
        )
        colors = palette
    for label in np.unique(truth):
        mask = truth == label
        ax.scatter(
            x[mask, 0],
            x[mask, 1],
            s=22,
            marker="o" if label == 0 else "^",
            color=colors[int(label) % len(colors)],
            edgecolors="white",
            linewidths=0.6,
            label=names[int(label)],
        )
    ax.set_xlim(xs[0], xs[-1])
    ax.set_ylim(ys[0], ys[-1])
    ax.set_xlabel("x[0]")
    ax.set_ylabel("x[1]")
    ax.set_title("decision boundary")
    ax.legend(loc="upper right", fontsize="small")
    return fig


# ---------------------------------------------------------------------------------------------
# Images


def _as_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 2:
        side = math.isqrt(images.shape[1])
        if side * side != images.shape[1]:
            raise ValueError(
                f"images have shape {images.shape}; rows of {images.shape[1]} values are not "
                "square pictures (expected (n, h, w) or (n, side*side))"
            )
        images = images.reshape(len(images), side, side)
    if images.ndim != 3:
        raise ValueError(f"images have shape {images.shape}; expected (n, h, w) or (n, h*w)")
    return images


def _name_of(label: int, label_names: Sequence[str] | None) -> str:
    if label_names is not None and 0 <= label < len(label_names):
        return label_names[label]
    return str(label)


def select_digits(
    count: int,
    *,
    labels: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    select: str = "first",
    total: int,
) -> np.ndarray:
    """Indices of the images `plot_digits` shows.

    Args:
        count: how many to show at most.
        labels, predicted: (total,) true and predicted labels (`mistakes` needs both).
        confidence: (total,) confidence of each prediction (`least_confident` needs it).
        select: `first` (the first `count`), `mistakes` (wrong predictions, least confident
            first when `confidence` is given) or `least_confident` (lowest confidence first).
        total: number of images available.

    Returns:
        (<= count,) int64 indices into the images.
    """
    if select not in SELECTIONS:
        raise ValueError(f"unknown selection {select!r}; supported: {', '.join(SELECTIONS)}")
    order = np.arange(total)
    if select == "least_confident" or (select == "mistakes" and confidence is not None):
        if confidence is None:
            raise ValueError("select='least_confident' needs the confidence of each prediction")
        order = np.argsort(np.asarray(confidence), kind="stable")
    if select == "mistakes":
        if labels is None or predicted is None:
            raise ValueError("select='mistakes' needs both labels and predicted")
        wrong = np.asarray(labels)[order] != np.asarray(predicted)[order]
        order = order[wrong]
    return order[:count].astype(np.int64)


def plot_digits(
    images: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    predicted: np.ndarray | None = None,
    confidence: np.ndarray | None = None,
    label_names: Sequence[str] | None = None,
    select: str = "first",
    count: int = 9,
    columns: int | None = None,
) -> Figure:
    """Draw a grid of images titled with their true and predicted labels, mistakes in red.

    Args:
        images: (n, h, w) or (n, h*w) pictures, any real dtype; larger values are drawn
            darker (ink on paper), each tile scaled to its own range.
        labels: (n,) true labels, or None.
        predicted: (n,) predicted labels, or None.
        confidence: (n,) probability of each prediction, shown as a percentage; needed by
            `select="least_confident"`.
        label_names: display name per label (default the label number).
        select: `first`, `mistakes` or `least_confident` (see `select_digits`).
        count: at most this many tiles (3x3 by default).
        columns: tiles per row (default a square grid).

    Returns:
        A figure of 1.5 x 1.7 inches (150 x 170 px) per tile. When the selection is empty
        (say, no mistakes), the figure says so in a single panel.

    Raises:
        ValueError: shapes that do not fit, or a selection without the data it needs.

    Example:
        >>> import numpy as np
        >>> from purenet.plots import plot_digits
        >>> images = np.random.default_rng(0).integers(0, 255, (4, 28, 28))
        >>> fig = plot_digits(images, labels=np.array([1, 2, 3, 4]),
        ...                   predicted=np.array([1, 2, 5, 4]), count=4)
    """
    pictures = _as_images(images)
    n = len(pictures)
    for name, values in (("labels", labels), ("predicted", predicted), ("confidence", confidence)):
        if values is not None and np.shape(values) != (n,):
            raise ValueError(f"{name} has shape {np.shape(values)}; expected ({n},)")
    chosen = select_digits(
        count, labels=labels, predicted=predicted, confidence=confidence, select=select, total=n
    )
    if len(chosen) == 0:
        fig = _new_figure(3.0, 1.5)
        ax = fig.add_subplot()
        ax.axis("off")
        what = "mistakes" if select == "mistakes" else "images"
        ax.text(0.5, 0.5, f"no {what} among {n} images", ha="center", va="center")
        return fig
    rows, cols = _grid(len(chosen), columns)
    fig = _new_figure(1.5 * cols, 1.7 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_frame_on(False)
    for ax, index in zip(axes, chosen, strict=False):
        ax.imshow(pictures[index], cmap="gray_r", interpolation="nearest")
        parts = []
        wrong = False
        if labels is not None:
            parts.append(f"true {_name_of(int(labels[index]), label_names)}")
        if predicted is not None:
            guess = f"guess {_name_of(int(predicted[index]), label_names)}"
            if confidence is not None:
                guess += f" {100 * float(confidence[index]):.0f}%"
            parts.append(guess)
            wrong = labels is not None and int(labels[index]) != int(predicted[index])
        if not parts:
            parts.append(f"#{index}")
        color = MISTAKE_COLOR if wrong else ("black" if labels is None else RIGHT_COLOR)
        ax.set_title("\n".join(parts), fontsize=9, color=color)
        if wrong:
            ax.set_frame_on(True)
            for spine in ax.spines.values():
                spine.set_color(MISTAKE_COLOR)
                spine.set_linewidth(3)
    return fig


def show_digits(
    images: np.ndarray,
    *,
    labels: np.ndarray | None = None,
    index: int = 0,
    count: int = 1,
    columns: int | None = None,
) -> Figure:
    """Draw `count` consecutive images of a data set from `index` on (`purenet show`).

    A single image is drawn large, with its pixel grid and a colour bar of the raw values
    (the digit "drawn from its 784 numbers"); several are drawn as a grid titled with their
    index and label.

    Args:
        images: (n, h, w) or (n, h*w) pictures, e.g. `read_idx("t10k-images-idx3-ubyte.gz")`.
        labels: (n,) labels, or None.
        index: the first image to draw (negative counts from the end).
        count: how many to draw.
        columns: tiles per row for a grid (default square).

    Returns:
        One image: a 4.8 x 4.4 inch figure (480 x 440 px); several: 1.5 x 1.7 inches per tile.

    Raises:
        ValueError: `index` out of range, `count` < 1, or shapes that do not fit.

    Example:
        >>> import numpy as np
        >>> from purenet.plots import show_digits
        >>> fig = show_digits(np.zeros((3, 28, 28), dtype=np.uint8), index=1)
    """
    pictures = _as_images(images)
    n = len(pictures)
    if not -n <= index < n:
        raise ValueError(f"index {index} is out of range for {n} images")
    if count < 1:
        raise ValueError(f"count must be >= 1, found {count}")
    start = index % n
    stop = min(n, start + count)
    if labels is not None and np.shape(labels) != (n,):
        raise ValueError(f"labels have shape {np.shape(labels)}; expected ({n},)")
    if stop - start > 1:
        rows, cols = _grid(stop - start, columns)
        fig = _new_figure(1.5 * cols, 1.7 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, i in zip(axes, range(start, stop), strict=False):
            ax.imshow(pictures[i], cmap="gray_r", interpolation="nearest")
            title = f"#{i}" if labels is None else f"#{i}: {int(labels[i])}"
            ax.set_title(title, fontsize=9)
        return fig
    fig = _new_figure(4.8, 4.4)
    ax = fig.add_subplot()
    shown = ax.imshow(pictures[start], cmap="gray_r", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="pixel value")
    title = f"image #{start}" + ("" if labels is None else f", label {int(labels[start])}")
    ax.set_title(title)
    return fig


def plot_confusion(
    truth: np.ndarray,
    predicted: np.ndarray,
    *,
    label_names: Sequence[str] | None = None,
) -> Figure:
    """Draw the confusion matrix with the count in each cell and each class's recall.

    Rows are true classes, columns predicted ones; the right-hand axis gives the recall of
    each row (its diagonal count over its total) and the title the overall accuracy.

    Args:
        truth: (n,) true integer labels.
        predicted: (n,) predicted integer labels.
        label_names: a name per class (also fixes the number of classes).

    Returns:
        A figure of about 0.55 inch per class, at least 5.2 x 4.6 inches.

    Raises:
        ValueError: different lengths, no samples or negative labels.

    Example:
        >>> import numpy as np
        >>> from purenet.plots import plot_confusion
        >>> fig = plot_confusion(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]))
    """
    truth = np.asarray(truth).astype(np.int64)
    predicted = np.asarray(predicted).astype(np.int64)
    if truth.shape != predicted.shape or truth.ndim != 1 or len(truth) == 0:
        raise ValueError(
            f"truth {truth.shape} and predicted {predicted.shape} must be equal, non-empty (n,)"
        )
    if min(truth.min(), predicted.min()) < 0:
        raise ValueError("labels must be >= 0")
    k = max(int(truth.max()), int(predicted.max())) + 1
    if label_names is not None:
        k = max(k, len(label_names))
    names = [_name_of(i, label_names) for i in range(k)]
    counts = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k)
    totals = counts.sum(axis=1)
    recall = np.divide(np.diag(counts), totals, out=np.full(k, np.nan), where=totals > 0)
    side = max(4.6, 0.55 * k + 1.4)
    fig = _new_figure(side + 0.6, side)
    ax = fig.add_subplot()
    ax.imshow(counts, cmap="Blues", interpolation="nearest")
    threshold = counts.max() / 2
    for (row, col), value in np.ndenumerate(counts):
        if value:
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    ax.set_xticks(range(k), names)
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    recall_axis = ax.secondary_yaxis("right")
    recall_axis.set_yticks(range(k), ["-" if np.isnan(r) else f"{100 * r:.1f}%" for r in recall])
    recall_axis.set_ylabel("recall")
    accuracy = np.trace(counts) / counts.sum()
    ax.set_title(f"confusion matrix: accuracy {100 * accuracy:.2f}% of {len(truth)}")
    return fig


def plot_first_layer(
    w: np.ndarray,
    *,
    image_shape: tuple[int, int] | None = None,
    count: int | None = None,
    columns: int | None = None,
) -> Figure:
    """Draw the first layer's weights as images, one tile per hidden unit.

    Each tile is one column of `w` laid out as the input image: red where the unit is
    excited by ink, blue where it is inhibited, white at zero, each tile on its own
    symmetric scale.

    Args:
        w: (inputs, hidden) first-layer weights, e.g. `params[0].w` of a 784-input model.
        image_shape: (h, w) of an input image; default square (`28x28` for 784 inputs).
        count: draw the first `count` units (default all).
        columns: tiles per row (default square).

    Returns:
        A figure of 0.8 inch per tile (plus a title).

    Raises:
        ValueError: `w` is not 2-D or its rows do not make `image_shape` images.

    Example:
        >>> import purenet as pn
        >>> from purenet.plots import plot_first_layer
        >>> params = pn.init(pn.Architecture((784, 16, 10)), seed=0)
        >>> fig = plot_first_layer(params[0].w)
    """
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 2:
        raise ValueError(f"w has shape {w.shape}; expected (inputs, hidden)")
    if image_shape is None:
        side = math.isqrt(w.shape[0])
        image_shape = (side, side)
    if image_shape[0] * image_shape[1] != w.shape[0]:
        raise ValueError(
            f"w has {w.shape[0]} inputs; they do not make {image_shape[0]}x{image_shape[1]} "
            "images (pass image_shape)"
        )
    units = w.shape[1] if count is None else min(count, w.shape[1])
    rows, cols = _grid(units, columns)
    fig = _new_figure(0.8 * cols + 0.2, 0.8 * rows + 0.5)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    tiles = w[:, :units].T.reshape(units, *image_shape)
    limits = np.abs(tiles).max(axis=(1, 2))
    for ax in axes:
        ax.axis("off")
    for ax, tile, limit in zip(axes, tiles, limits, strict=False):
        scale = limit if limit > 0 else 1.0
        ax.imshow(tile, cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    fig.suptitle(f"first-layer weights, {units} of {w.shape[1]} hidden units")
    return fig


# ---------------------------------------------------------------------------------------------
# Run folders


def read_jsonl(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a JSON-lines file (one object per line, blank lines skipped).

    Raises:
        DataFormatError: the file is unreadable, a line is not valid JSON or not an object;
            the message gives the file and line number.
    """
    import json

    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{source}: cannot read ({exc})") from None
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataFormatError(f"{source}: line {number}: not valid JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            found = type(row).__name__
            raise DataFormatError(f"{source}: line {number}: expected a JSON object, found {found}")
        rows.append(row)
    return rows


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


def _has_metric(history: Sequence[Mapping[str, Any]], metric: str) -> bool:
    return any(
        row.get(f"{split}_{metric}") is not None for row in history for split in ("train", "valid")
    )


def _image_shape(model: Model, data: Dataset | None) -> tuple[int, int] | None:
    inputs = model.arch.sizes[0]
    if data is not None and data.x.ndim == 3:
        h, w = data.x.shape[1:]
        return (h, w) if h * w == inputs else None
    side = math.isqrt(inputs)
    return (side, side) if side * side == inputs and side >= 4 else None


def _why_not(run: RunData, name: str) -> str | None:
    """None when figure `name` can be drawn from `run`, else the reason it cannot."""
    if name in ("loss", "accuracy"):
        return None if _has_metric(run.history, name) else f"no {name} values in the history"
    if name == "convergence":
        return None if run.tracked is not None else "no scalars were tracked during training"
    if run.model is None:
        return f"no {MODEL_FILE}"
    if name == "weights":
        if _image_shape(run.model, run.data) is None:
            return f"the model's {run.model.arch.sizes[0]} inputs are not a square image"
        return None
    if run.data is None:
        return "no evaluation data (the model holds no recipe naming it)"
    shape = run.data.x.shape
    if name == "boundary" and not (len(shape) == 2 and shape[1] == 2):
        return f"the data have shape {shape}, not (n, 2) points"
    if name in ("digits", "mistakes") and len(shape) != 3:
        return f"the data have shape {shape}, not (n, h, w) images"
    return None


def _predictions(model: Model, data: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(truth, predicted, confidence) of the model on raw data, in one forward pass."""
    from purenet.preprocess import apply_preprocess

    outputs = forward(model.arch, model.params, apply_preprocess(model.preprocess, data.x))
    predicted = labels_of(outputs)
    if outputs.shape[1] == 1:
        confidence = np.where(predicted == 1, outputs[:, 0], 1 - outputs[:, 0])
    else:
        confidence = outputs[np.arange(len(outputs)), predicted]
    return labels_of(data.y), predicted, confidence


def draw_run_figure(run: RunData, name: str) -> Figure:
    """Draw figure `name` (one of `FIGURES`) from the parts of a run.

    Raises:
        PurenetError: an unknown name, or a figure the run has nothing for (the reason).
    """
    if name not in FIGURES:
        raise PurenetError(f"unknown figure {name!r}; choose from {', '.join(FIGURES)}")
    reason = _why_not(run, name)
    if reason is not None:
        raise PurenetError(f"cannot draw {name}: {reason}")
    model, data = run.model, run.data
    if name in ("loss", "accuracy"):
        return plot_curves(run.history, metrics=(name,))
    if name == "convergence" and run.tracked is not None:
        series, epochs = run.tracked
        return plot_convergence(series, steps=epochs)
    # _why_not has made sure of a model, and of data for the figures below "weights".
    if model is None:
        raise PurenetError(f"cannot draw {name}: no {MODEL_FILE}")
    if name == "weights":
        return plot_first_layer(model.params[0].w, image_shape=_image_shape(model, data))
    if data is None:
        raise PurenetError(f"cannot draw {name}: no evaluation data")
    names = list(model.labels)
    if name == "boundary":
        from purenet.preprocess import apply_preprocess

        return plot_decision_boundary(
            model.arch,
            model.params,
            data.x,
            data.y,
            transform=lambda points: apply_preprocess(model.preprocess, points),
            label_names=names,
        )
    truth, predicted, confidence = _predictions(model, data)
    if name == "confusion":
        return plot_confusion(truth, predicted, label_names=names)
    return plot_digits(
        data.x,
        labels=truth,
        predicted=predicted,
        confidence=confidence,
        label_names=names,
        select="first" if name == "digits" else "mistakes",
        count=9 if name == "digits" else 16,
    )


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
        from purenet.serialize import load_model
        from purenet.sources import load_source, recipe_test_source

        model = load_model(model_file)
        if data is None and model.meta.recipe is not None:
            data = load_source(recipe_test_source(model, source=str(model_file)), data_dir=data_dir)
    return RunData(history=history, tracked=tracked, model=model, data=data)


def plot_run(
    run_dir: str | os.PathLike[str],
    *,
    names: Sequence[str] | None = None,
    svg: bool = False,
    data: Dataset | None = None,
    data_dir: str | os.PathLike[str] | None = None,
) -> list[Path]:
    """Draw the figures of a run folder into it, as `<name>.png` (and `.svg`).

    Args:
        run_dir: the folder `purenet run` wrote (see `load_run`).
        names: figures to draw, from `FIGURES`; default every figure the run has data for.
        svg: also write SVG files.
        data: raw evaluation data to use instead of the data set the recipe names.
        data_dir: a folder to look for named data sets in first.

    Returns:
        The files written, in `FIGURES` order (PNG before SVG for each figure).

    Raises:
        PurenetError: an unknown name, a named figure the run has no data for (with the
            reason), a folder that is not a run folder or has nothing to draw (with the
            reasons), or a `data_dir` that is not an existing folder.
        MissingExtraError: matplotlib is not installed (names the `plot` extra).

    Example:
        >>> from purenet.plots import plot_run
        >>> plot_run("runs/digits", names=["loss", "confusion"])  # doctest: +SKIP
        [PosixPath('runs/digits/loss.png'), PosixPath('runs/digits/confusion.png')]
    """
    from purenet.data import check_data_dir

    require_extra("matplotlib", "plot")
    if names is not None:
        unknown = [name for name in names if name not in FIGURES]
        if unknown:
            raise PurenetError(f"unknown figure {unknown[0]!r}; choose from {', '.join(FIGURES)}")
    check_data_dir(data_dir)
    run = load_run(run_dir, data=data, data_dir=data_dir)
    if names is None:
        reasons = {name: _why_not(run, name) for name in FIGURES}
        chosen = [name for name, reason in reasons.items() if reason is None]
        if not chosen:
            # Each reason once: the five model figures all say "no model.json".
            why = "; ".join(dict.fromkeys(r for r in reasons.values() if r is not None))
            raise PurenetError(f"{run_dir}: nothing to draw: {why}")
    else:
        chosen = [name for name in FIGURES if name in names]
    written = []
    for name in chosen:
        fig = draw_run_figure(run, name)
        written += save_figure(fig, Path(run_dir) / f"{name}.png", svg=svg)
    return written
