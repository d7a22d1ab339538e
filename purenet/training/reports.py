"""What training reports and accepts: per-epoch and per-batch reports, early stopping, tracked
parameters, the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

import attrs
import numpy as np

from purenet.core.checks import COUNT, NON_NEGATIVE, OneOf
from purenet.core.tree import readonly, tree_repr
from purenet.nn.model import Architecture, Params

Augment = Callable[..., np.ndarray]
"""`augment(x_batch, *, seed) -> x_batch`; `seed` is the tuple `(seed, epoch, batch)`."""


@attrs.frozen
class EpochReport:
    """Metrics of one epoch, as passed to `on_epoch` and kept in the history.

    Every loss here is the data loss alone (the mean loss over samples, weighted when the
    run has sample or class weights); the L2 penalty is reported apart, as `l2_penalty`, so
    the objective the optimizer saw is `train_loss + l2_penalty`. Classifiers report
    accuracies; regression models (identity output) report RMSE, MAE and R^2 instead (their
    accuracies are None).

    Attributes:
        epoch: 1-based epoch number.
        train_loss: mean over the epoch's samples of the data loss each batch had before its
            step (with its dropout).
        train_accuracy: fraction of the epoch's samples classified right by that same forward
            pass (no second pass over the data); None for regression.
        valid_loss: data loss of the epoch's final params on the validation set, or None
            without one.
        valid_accuracy: their accuracy on the validation set, or None.
        learning_rate: the rate at the epoch's first step (reduce-on-plateau's scale
            included).
        seconds: wall time of the epoch's steps and evaluations.
        l2_penalty: the mean over the epoch's samples of the penalty `l2 / 2 * sum ||w||^2`
            each batch's step included (0.0 without l2): `train_loss + l2_penalty` is the
            objective the optimizer saw.
        train_rmse, train_mae, train_r2: regression only: the epoch's final params on the
            training set (one more forward pass over it, without augmentation or dropout).
        valid_rmse, valid_mae, valid_r2: regression only: on the validation set.
        test_loss, test_accuracy, test_rmse, test_mae, test_r2: on the test set given to
            `train` (reported only: never monitored, never used for a decision).
    """

    epoch: int
    train_loss: float
    train_accuracy: float | None
    valid_loss: float | None
    valid_accuracy: float | None
    learning_rate: float
    seconds: float
    l2_penalty: float = 0.0
    train_rmse: float | None = None
    train_mae: float | None = None
    train_r2: float | None = None
    valid_rmse: float | None = None
    valid_mae: float | None = None
    valid_r2: float | None = None
    test_loss: float | None = None
    test_accuracy: float | None = None
    test_rmse: float | None = None
    test_mae: float | None = None
    test_r2: float | None = None


@attrs.frozen
class BatchReport:
    """Progress of one optimizer step, as passed to `on_batch` (floats only, nothing shared).

    Attributes:
        epoch: 1-based epoch number.
        batch: 0-based batch index within the epoch.
        batches: batches per epoch.
        loss: the batch's loss before the step.
        learning_rate: the rate used by the step.
    """

    epoch: int
    batch: int
    batches: int
    loss: float
    learning_rate: float


MONITORS: dict[str, Literal["min", "max"]] = {
    "valid_loss": "min",
    "valid_accuracy": "max",
    "valid_rmse": "min",
    "valid_mae": "min",
    "valid_r2": "max",
    "train_loss": "min",
    "train_accuracy": "max",
    "train_rmse": "min",
    "train_mae": "min",
    "train_r2": "max",
}
"""The metrics a rule may monitor, each with its good direction (test metrics never are)."""


def improves(monitor: str, min_delta: float, value: float, best: float) -> bool:
    """True when `value` of `monitor` beats `best` by more than `min_delta` in its direction."""
    if MONITORS[monitor] == "min":
        return value < best - min_delta
    return value > best + min_delta


@attrs.frozen
class EarlyStopping:
    """Stop when a metric has not improved for `patience` epochs; return the best params.

    An epoch improves on the best so far when its metric is lower (losses, errors) or higher
    (accuracies, R^2) by more than `min_delta`. With early stopping, `train` returns the params
    and optimizer state of the best epoch, whether or not it stopped early.

    Args:
        patience: epochs without improvement before stopping, >= 1.
        min_delta: the smallest change that counts as an improvement, >= 0.
        monitor: `valid_loss` (default), `valid_accuracy`, `train_loss`, `train_accuracy`,
            or for regression `valid_rmse`, `valid_mae`, `valid_r2` (and `train_` ones).
    """

    patience: int = attrs.field(default=5, validator=COUNT.validator())
    min_delta: float = attrs.field(default=0.0, converter=float, validator=NON_NEGATIVE.validator())
    monitor: str = attrs.field(default="valid_loss", validator=OneOf(tuple(MONITORS)).validator())

    def improves(self, value: float, best: float) -> bool:
        """True when the metric `value` beats the `best` so far by more than `min_delta`."""
        return improves(self.monitor, self.min_delta, value, best)


@attrs.frozen
class KeepBest:
    """Return the params of the best epoch by a metric, without stopping early.

    Args:
        monitor: the metric (see `EarlyStopping`).
        min_delta: the smallest change that counts as an improvement, >= 0.
    """

    monitor: str = attrs.field(default="valid_loss", validator=OneOf(tuple(MONITORS)).validator())
    min_delta: float = attrs.field(default=0.0, converter=float, validator=NON_NEGATIVE.validator())

    def improves(self, value: float, best: float) -> bool:
        """True when the metric `value` beats the `best` so far by more than `min_delta`."""
        return improves(self.monitor, self.min_delta, value, best)


@attrs.frozen(eq=False)
class Best:
    """Early-stopping (or keep-best) state: the best epoch so far and what `train` returns.

    Attributes:
        epoch: the best epoch (1-based).
        value: its monitored metric.
        wait: epochs since it without improvement.
        params: its parameters.
        opt_state: its optimizer state.
    """

    epoch: int
    value: float
    wait: int
    params: Params
    opt_state: Any

    def stops(self, spec: EarlyStopping | None) -> bool:
        """True when `spec`'s patience has run out (never without early stopping)."""
        return spec is not None and self.wait >= spec.patience


def next_best(
    best: Best | None,
    spec: EarlyStopping | KeepBest,
    report: EpochReport,
    params: Params,
    opt_state: Any,
) -> Best:
    """The best-epoch state after the epoch of `report` ended with `params`, `opt_state`."""
    value = getattr(report, spec.monitor)
    if best is None or spec.improves(value, best.value):
        return Best(report.epoch, value, 0, params, opt_state)
    return attrs.evolve(best, wait=best.wait + 1)


_TRACK_PATH = re.compile(r"^(?:layers)?\[(\d+)\]\.([A-Za-z_]\w*)\[(\d+(?:\s*,\s*\d+)*)\]$")


@attrs.frozen
class Track:
    """Which parameter scalars to record during training, and how often.

    Args:
        paths: scalars as `layers[i].field[j, k]` (or `[i].field[j, k]`), e.g.
            `("layers[0].w[3, 2]", "layers[1].b[0]")`.
        every: `"epoch"` records after each epoch, `"step"` after each optimizer step; both
            also record the starting values.
    """

    paths: tuple[str, ...] = attrs.field(converter=tuple)
    every: Literal["epoch", "step"] = attrs.field(
        default="epoch", validator=OneOf(("epoch", "step")).validator()
    )

    def __attrs_post_init__(self) -> None:
        if not self.paths:
            raise ValueError("Track.paths is empty")
        for path in self.paths:
            if not _TRACK_PATH.match(path):
                raise ValueError(f"Track: cannot parse {path!r}; expected e.g. 'layers[0].w[3, 2]'")


@attrs.frozen(eq=False)
class Tracked:
    """Recorded parameter values: one row per record, one column per tracked path.

    Attributes:
        paths: the tracked paths, in column order.
        steps: (n,) int64, optimizer steps taken when each row was recorded (0: start).
        epochs: (n,) float64, training progress in epochs at each row.
        values: (n, len(paths)) float64, the parameter values.
    """

    paths: tuple[str, ...]
    steps: np.ndarray = attrs.field(converter=readonly)
    epochs: np.ndarray = attrs.field(converter=readonly)
    values: np.ndarray = attrs.field(converter=readonly)

    def __repr__(self) -> str:
        return tree_repr(self)


@attrs.frozen(eq=False)
class TrainResult:
    """What `train` returns.

    Attributes:
        params: the trained parameters (of `best_epoch` with early stopping or keep-best,
            else the last).
        opt_state: the optimizer state that goes with `params` (to continue training).
        history: one `EpochReport` per epoch run, in order.
        best_epoch: the epoch whose params are returned.
        stopped_early: early stopping ended the run before `epochs`.
        tracked: the tracked parameter values, or None without `track`.
        last_params: the parameters after the last epoch run (`params` itself when no best
            epoch is kept).
    """

    params: Params
    opt_state: Any
    history: tuple[EpochReport, ...]
    best_epoch: int
    stopped_early: bool
    tracked: Tracked | None
    last_params: Params

    def __repr__(self) -> str:
        return tree_repr(self)


def locate_tracked(path: str, arch: Architecture) -> tuple[int, str, tuple[int, ...]]:
    """Parse a tracked-scalar path and check that it names a parameter of `arch`.

    Args:
        path: `layers[i].w[r, c]` or `layers[i].b[c]` (the `layers` prefix is optional).
        arch: the architecture whose parameters are tracked.

    Returns:
        `(layer, field, index)`, e.g. `(0, "w", (3, 2))`.

    Raises:
        ValueError: a path that does not parse, or names no parameter of `arch`.

    Example:
        >>> locate_tracked("layers[1].b[0]", Architecture((4, 3, 2)))
        (1, 'b', (0,))
    """
    match = _TRACK_PATH.match(path)
    if match is None:
        raise ValueError(f"track: cannot parse {path!r}; write e.g. 'layers[0].w[3, 2]'")
    layer, field = int(match[1]), match[2]
    index = tuple(int(i) for i in match[3].split(","))
    if layer >= len(arch.layer_shapes):
        raise ValueError(f"track {path!r}: there are {len(arch.layer_shapes)} layers")
    fan_in, fan_out = arch.layer_shapes[layer]
    shapes = {"w": (fan_in, fan_out), "b": (fan_out,)}
    if field not in shapes:
        raise ValueError(f"track {path!r}: no field {field!r}; fields: w, b")
    shape = shapes[field]
    if len(index) != len(shape) or any(not 0 <= i < n for i, n in zip(index, shape, strict=True)):
        raise ValueError(f"track {path!r}: index {index} outside shape {shape}")
    return layer, field, index
