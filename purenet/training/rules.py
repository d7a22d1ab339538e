"""Training rules beside the optimizer: gradient clipping, sample and class weights, and
reduce-on-plateau, each a spec and pure functions (the loop and its checkpoints hold the state).

- `clip_by_global_norm(grads, max_norm)` scales every gradient by `max_norm / norm` when the
  global norm `sqrt(sum ||g||^2)` over all leaves exceeds `max_norm` (Optax's and PyTorch's
  `clip_grad_norm_` rule), so the direction is kept and the length bounded.
- `class_sample_weights(y, class_weights)` gives each sample its class' weight, for the
  weighted mean loss (`purenet.loss(..., sample_weight=)`).
- `ReduceOnPlateau` multiplies the learning rate by `factor` after `patience` epochs without
  an improvement of the monitored metric (Keras' `ReduceLROnPlateau`); it scales whatever the
  optimizer's rate or schedule gives, and `next_plateau` is its pure epoch-end update.

Example:
    >>> import numpy as np, purenet as pn
    >>> grads = (pn.Dense(np.array([[3.0]]), np.array([4.0])),)
    >>> clipped, norm = clip_by_global_norm(grads, 1.0)
    >>> norm, float(clipped[0].w[0, 0]), float(clipped[0].b[0])
    (5.0, 0.6, 0.8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs
import numpy as np

from purenet.core.checks import NON_NEGATIVE, SEED, Interval, OneOf
from purenet.core.tree import tree_leaves, tree_map
from purenet.data.dataset import Dataset, split
from purenet.nn.losses import check_sample_weight
from purenet.nn.model import Architecture, Params, labels_of
from purenet.training.reports import MONITORS, EarlyStopping, KeepBest, improves

Array = np.ndarray


def global_norm(grads: Params) -> float:
    """`sqrt(sum ||g||^2)` over every leaf of `grads`, accumulated in float64."""
    return math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in tree_leaves(grads)))


def clip_by_global_norm(grads: Params, max_norm: float) -> tuple[Params, float]:
    """Scale `grads` so their global norm is at most `max_norm`.

    Args:
        grads: a gradient tree (e.g. from `purenet.grad`), any float dtype.
        max_norm: the largest global norm allowed, > 0.

    Returns:
        (clipped, norm): `grads` times `max_norm / norm` when `norm > max_norm`, else `grads`
        itself; `norm` is the global norm before clipping (a float).

    Raises:
        ValueError: `max_norm` is not a finite number > 0.
    """
    Interval(low=0, closed="neither").check("clip_norm", max_norm)
    norm = global_norm(grads)
    if not norm > max_norm:  # also leaves a NaN norm alone: the divergence guard reports it
        return grads, norm
    scale = max_norm / norm
    return tree_map(lambda g: g * g.dtype.type(scale), grads), norm


def class_sample_weights(y: Array, class_weights: Mapping[int, float], n_classes: int) -> Array:
    """Each sample's weight from its class: `class_weights[label]`, 1.0 for unlisted classes.

    Args:
        y: (n,) integer labels or (n, k) one-hot or soft targets (their argmax is the class).
        class_weights: `{class index: weight >= 0}`.
        n_classes: the number of classes (the model's outputs; 2 for one sigmoid unit).

    Returns:
        (n,) float64 weights.

    Raises:
        ValueError: a class outside [0, n_classes) or a negative or non-finite weight.
    """
    table = np.ones(n_classes)
    for label, weight in class_weights.items():
        SEED.check("class_weights key", label)
        if label >= n_classes:
            raise ValueError(f"class_weights: class {label} outside [0, {n_classes})")
        table[label] = NON_NEGATIVE.check(f"class_weights[{label}]", weight)
    labels = labels_of(y)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels must lie in [0, {n_classes}) to take class weights")
    return table[labels]


@attrs.frozen
class ReduceOnPlateau:
    """Scale the learning rate by `factor` when a metric stops improving.

    After each epoch the monitored metric is compared with the best so far (an improvement is
    a change by more than `min_delta` in the metric's good direction). After `patience`
    epochs without one, the rate's scale is multiplied by `factor`, but not below what makes
    the rate `min_lr` at that epoch; then `cooldown` epochs pass before waiting starts again.
    The scale multiplies the optimizer's rate or schedule from the next epoch on.

    Args:
        monitor: the metric (`valid_loss`, `valid_accuracy`, `train_loss`, ... see
            `EarlyStopping`).
        factor: the multiplier in (0, 1).
        patience: epochs without improvement before a reduction, >= 1.
        min_delta: the smallest change that counts as an improvement, >= 0.
        cooldown: epochs after a reduction during which no waiting is counted, >= 0.
        min_lr: the lowest rate a reduction may set, >= 0.
    """

    monitor: str = attrs.field(default="valid_loss", validator=OneOf(tuple(MONITORS)).validator())
    factor: float = attrs.field(
        default=0.1, converter=float, validator=Interval(0, 1, closed="neither").validator()
    )
    patience: int = attrs.field(default=10, validator=Interval(low=1, integer=True).validator())
    min_delta: float = attrs.field(default=0.0, converter=float, validator=NON_NEGATIVE.validator())
    cooldown: int = attrs.field(default=0, validator=SEED.validator())
    min_lr: float = attrs.field(default=0.0, converter=float, validator=NON_NEGATIVE.validator())


@attrs.frozen
class Plateau:
    """The reduce-on-plateau state after an epoch (stored in checkpoints).

    Attributes:
        scale: what multiplies the optimizer's rate from the next epoch on (1.0 at first).
        best: the best monitored value so far, or None before the first epoch.
        wait: epochs since the best without improvement (outside cooldown).
        cooldown: epochs of cooldown left.
        reductions: how many times the rate was reduced.
    """

    scale: float = 1.0
    best: float | None = None
    wait: int = 0
    cooldown: int = 0
    reductions: int = 0


def next_plateau(spec: ReduceOnPlateau, state: Plateau, value: float, rate: float) -> Plateau:
    """The state after an epoch whose monitored metric was `value`.

    Args:
        spec: the rule.
        state: the state before the epoch's end.
        value: the epoch's monitored metric.
        rate: the learning rate the epoch ran at (the scale already applied).

    Returns:
        The new `Plateau`; its `scale` is reduced when patience ran out and `rate` is above
        `min_lr`.

    Example:
        >>> spec = ReduceOnPlateau(monitor="train_loss", factor=0.5, patience=1)
        >>> state = next_plateau(spec, Plateau(), 1.0, 0.1)
        >>> next_plateau(spec, state, 1.0, 0.1).scale
        0.5
    """
    # A cooldown epoch never counts as waiting (PyTorch's reading; Keras' counts the last one).
    cooldown = max(state.cooldown - 1, 0)
    if state.best is None or improves(spec.monitor, spec.min_delta, value, state.best):
        return attrs.evolve(state, best=value, wait=0, cooldown=cooldown)
    if state.cooldown > 0:
        return attrs.evolve(state, wait=0, cooldown=cooldown)
    wait = state.wait + 1
    if wait < spec.patience or rate <= spec.min_lr:
        return attrs.evolve(state, wait=wait, cooldown=cooldown)
    new_rate = max(rate * spec.factor, spec.min_lr)
    return Plateau(
        scale=state.scale * new_rate / rate,
        best=state.best,
        wait=0,
        cooldown=spec.cooldown,
        reductions=state.reductions + 1,
    )


def train_weights(
    arch: Architecture,
    data: Dataset,
    valid: Dataset | float | None,
    seed: int,
    sample_weight: np.ndarray | None,
    class_weights: Mapping[int, float] | None,
) -> np.ndarray | None:
    """The training samples' weights: sample weights times class weights, or None."""
    if sample_weight is None and class_weights is None:
        return None
    n = len(data)
    weights = np.ones(n) if sample_weight is None else check_sample_weight(sample_weight, n)
    if class_weights is not None:
        if arch.is_regression:
            raise ValueError("class_weights need a classifier; a regression model has no classes")
        n_classes = max(arch.sizes[-1], 2)
        weights = weights * class_sample_weights(data.y, class_weights, n_classes)
    if valid is not None and not isinstance(valid, Dataset):
        # The same seeded split as the data's (a plain split depends on n and the seed only).
        weights = split(Dataset(weights, weights), float(valid), seed=(seed, 0))[0].x
    if not weights.sum() > 0:
        raise ValueError("the training weights sum to 0: at least one must be > 0")
    return weights


def best_rule(
    early_stopping: EarlyStopping | None, keep_best: KeepBest | str | None
) -> KeepBest | None:
    """`keep_best` as a `KeepBest`; it must agree with early stopping's monitor."""
    if isinstance(keep_best, str):
        keep_best = KeepBest(monitor=keep_best)
    if keep_best is not None and early_stopping is not None:
        if keep_best.monitor != early_stopping.monitor:
            raise ValueError(
                f"keep_best monitors {keep_best.monitor} but early_stopping monitors "
                f"{early_stopping.monitor}; early stopping already keeps its best epoch"
            )
        return None
    return keep_best


def split_valid(
    data: Dataset, valid: Dataset | float | None, seed: int
) -> tuple[Dataset, Dataset | None]:
    """`(train, valid)`: `valid` as given, or a fraction of `data` split off with `(seed, 0)`."""
    if valid is None or isinstance(valid, Dataset):
        return data, valid
    # (seed, 0) is free: epochs count from 1 in the (seed, epoch) streams.
    return split(data, float(valid), seed=(seed, 0))
