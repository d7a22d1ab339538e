"""What every figure shares: the list of figure names, the Agg canvas, colours and atomic saving."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from purenet.core.atomic import atomic_write
from purenet.errors import require_extra

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
    "predicted",
    "residuals",
)
"""Names of the figures `plot_run` can draw, in the order it draws them."""

DPI = 100
"""Dots per inch of every figure: a figure of size (w, h) inches saves as (100 w, 100 h) px."""

MISTAKE_COLOR = "#d62728"

RIGHT_COLOR = "#2ca02c"


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas (no pyplot, no display), laid out by constrained layout."""
    require_extra("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def label_name(label: int, label_names: Sequence[str] | None) -> str:
    """The display name of class `label`: `label_names[label]`, else the number."""
    if label_names is not None and 0 <= label < len(label_names):
        return label_names[label]
    return str(label)


def grid_shape(count: int, columns: int | None) -> tuple[int, int]:
    """(rows, columns) of a grid for `count` panels; `columns` None: about square."""
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
        >>> from purenet.plots.curves import plot_curves
        >>> from purenet.plots.common import save_figure
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
