"""The recipe's `[train]` section: the training loop and its options."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from purenet.core.checks import COUNT, NON_NEGATIVE, POSITIVE, FieldError
from purenet.recipe.fields import one_of, satisfies
from purenet.training.reports import MONITORS, EarlyStopping
from purenet.training.rules import ReduceOnPlateau

_COUNT = satisfies(COUNT)
_NON_NEGATIVE = satisfies(NON_NEGATIVE)


@attrs.frozen
class TrainSpec:
    """`[train]`: the training loop.

    Attributes:
        epochs: passes over the training set, >= 1.
        batch_size: samples per step, >= 1, or `"full"` for full-batch gradient descent.
        seed: seeds initialization, shuffling, the validation split and augmentation.
        l2: L2 coefficient (`l2 / 2 * sum ||w||^2` added to the loss).
        early_stopping: `purenet.training.reports.EarlyStopping` (patience, min_delta, monitor); a
            `valid_*` monitor needs `[data] valid_fraction > 0`.
        checkpoint_every: save a checkpoint every this many epochs, >= 1; default: by time.
        checkpoint_seconds: without `checkpoint_every`, save a checkpoint after the first
            epoch that ends at least this many seconds (> 0) after the last one (default 60);
            a run also saves after its last epoch and on Ctrl-C or SIGTERM.
        dtype: `float32` or `float64`.
        schedule_per: advance a learning-rate schedule per `epoch` or per `batch`.
        track: parameter scalars to record, e.g. `["layers[0].w[3, 2]"]` (written to
            `tracked.jsonl` for the convergence plot).
        track_every: record the tracked scalars every `epoch` or every `step`.
        clip_norm: scale each batch's gradients down to this global norm when larger (> 0).
        class_weights: `{class = weight}` by class index (`0`) or class name (`[data]
            labels`): the loss is the mean weighted by each sample's class (classifiers).
        reduce_on_plateau: `purenet.ReduceOnPlateau` (monitor, factor, patience, min_delta,
            cooldown, min_lr): scale the learning rate down when the metric stalls.
        keep_best: true, or a metric name: `model.json` is the best epoch's model by that
            metric (true: early stopping's monitor, else `valid_loss`), and the last epoch's
            is kept as `model-last.json`.
        test_curve: score the `[data] test` set after every epoch too (`test_loss`,
            `test_accuracy` in `metrics.jsonl` and the curves; never used for a decision).
        threads: BLAS threads for the run, >= 1; default one per core that other processes
            leave free (`purenet.core.threads.free_cores`). Results differ in the last digits
            between thread counts.
    """

    epochs: int = attrs.field(validator=_COUNT)
    batch_size: int | Literal["full"] = attrs.field(default=32)
    seed: int = 0
    l2: float = attrs.field(default=0.0, validator=_NON_NEGATIVE)
    early_stopping: EarlyStopping | None = None
    checkpoint_every: int | None = attrs.field(default=None)
    dtype: str = attrs.field(default="float32", validator=one_of(("float32", "float64"), "dtype"))
    schedule_per: str = attrs.field(
        default="epoch", validator=one_of(("epoch", "batch"), "schedule clock")
    )
    track: tuple[str, ...] = ()
    track_every: str = attrs.field(
        default="epoch", validator=one_of(("epoch", "step"), "tracking interval")
    )
    clip_norm: float | None = attrs.field(default=None)
    class_weights: dict[str, float] | None = attrs.field(default=None)
    reduce_on_plateau: ReduceOnPlateau | None = None
    keep_best: bool | str | None = attrs.field(default=None)
    test_curve: bool | None = None
    threads: int | None = attrs.field(default=None)
    checkpoint_seconds: float = attrs.field(default=60.0, validator=satisfies(POSITIVE))

    @threads.validator
    @checkpoint_every.validator
    def _check_count(self, attribute: attrs.Attribute[Any], value: int | None) -> None:
        if value is not None:
            satisfies(COUNT)(self, attribute, value)

    @clip_norm.validator
    def _check_clip_norm(self, attribute: attrs.Attribute[Any], value: float | None) -> None:
        if value is not None:
            satisfies(POSITIVE)(self, attribute, value)

    @class_weights.validator
    def _check_class_weights(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        for key, weight in (value or {}).items():
            if not NON_NEGATIVE.contains(weight):
                raise FieldError(
                    f"class_weights.{key}", f"must be {NON_NEGATIVE.describe()}, found {weight!r}"
                )

    @keep_best.validator
    def _check_keep_best(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, str):
            one_of(tuple(MONITORS), "metric")(self, attribute, value)

    def keep_best_monitor(self) -> str | None:
        """The metric `keep_best` ranks epochs by, or None when it is off."""
        if self.keep_best is None or self.keep_best is False:
            return None
        if isinstance(self.keep_best, str):
            return self.keep_best
        return "valid_loss" if self.early_stopping is None else self.early_stopping.monitor

    @batch_size.validator
    def _check_batch(self, attribute: attrs.Attribute[Any], value: int | str) -> None:
        if value != "full" and (not isinstance(value, int) or value < 1):
            raise FieldError("batch_size", f'expected an integer >= 1 or "full", found {value!r}')
