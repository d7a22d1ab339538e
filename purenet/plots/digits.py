"""Grids of digit images: which to show (first, mistakes, least confident) and how to title them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
from purenet.plots.common import MISTAKE_COLOR, RIGHT_COLOR, grid_shape, label_name, new_figure

SELECTIONS = ("first", "mistakes", "least_confident")
"""How `plot_digits` chooses the images it shows."""


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
        >>> from purenet.plots.digits import plot_digits
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
        fig = new_figure(3.0, 1.5)
        ax = fig.add_subplot()
        ax.axis("off")
        what = "mistakes" if select == "mistakes" else "images"
        ax.text(0.5, 0.5, f"no {what} among {n} images", ha="center", va="center")
        return fig
    rows, cols = grid_shape(len(chosen), columns)
    fig = new_figure(1.5 * cols, 1.7 * rows)
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
            parts.append(f"true {label_name(int(labels[index]), label_names)}")
        if predicted is not None:
            guess = f"guess {label_name(int(predicted[index]), label_names)}"
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
        >>> from purenet.plots.digits import show_digits
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
        rows, cols = grid_shape(stop - start, columns)
        fig = new_figure(1.5 * cols, 1.7 * rows)
        axes = fig.subplots(rows, cols, squeeze=False).ravel()
        for ax in axes:
            ax.axis("off")
        for ax, i in zip(axes, range(start, stop), strict=False):
            ax.imshow(pictures[i], cmap="gray_r", interpolation="nearest")
            title = f"#{i}" if labels is None else f"#{i}: {int(labels[i])}"
            ax.set_title(title, fontsize=9)
        return fig
    fig = new_figure(4.8, 4.4)
    ax = fig.add_subplot()
    shown = ax.imshow(pictures[start], cmap="gray_r", interpolation="nearest")
    fig.colorbar(shown, ax=ax, label="pixel value")
    title = f"image #{start}" + ("" if labels is None else f", label {int(labels[start])}")
    ax.set_title(title)
    return fig
