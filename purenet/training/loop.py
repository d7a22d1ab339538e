"""The training loop: epochs of seeded mini-batches, validation, early stopping, checkpoints.

`train` runs, for each epoch, a permutation drawn from `(seed, epoch)`, batches gathered by
index into buffers the loop owns, an optional augmentation seeded by `(seed, epoch, batch)`,
and one optimizer step per batch (`purenet.training.select.make_step`: compiled kernels with
the `fast` extra, else the fused numpy step; `purenet.training.option_step.OptionStep`, the pure
functions, for dropout, sample weights, gradient clipping and models the fused steps do not
compute). Each epoch ends with validation and test passes, an `EpochReport`, the keep-best,
early-stopping and reduce-on-plateau rules, an optional checkpoint and the `on_epoch` callback.
It prints nothing. The same arguments give bit-identical parameters and history (except the
`seconds` of each report); a run resumed from a checkpoint ends bit-identical to one that was
never interrupted.

Learning-rate schedules run on an epoch clock (see `purenet.optim.schedules`): with
`schedule_per="epoch"` (default) step `batch` of epoch `e` (1-based) uses
`learning_rate(schedule, e - 1)`, with `schedule_per="batch"` it uses
`learning_rate(schedule, e - 1 + batch / num_batches)`; reduce-on-plateau multiplies either by
its scale.

Example:
    >>> import numpy as np, purenet as pn
    >>> from purenet import optim
    >>> from purenet.data import Dataset
    >>> from purenet.train import train
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 2)).astype(np.float32)
    >>> data = Dataset(x, (x[:, 0] + x[:, 1] > 0).astype(np.int64))
    >>> arch = pn.Architecture((2, 8, 2))
    >>> result = train(arch, pn.init(arch, seed=0), optim.SGD(0.1, momentum=0.9), data,
    ...                epochs=5, batch_size=20, seed=0, valid=0.2)
    >>> len(result.history), result.history[-1].valid_accuracy > 0.8
    (5, True)
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, cast

import attrs
import numpy as np

from purenet import optim
from purenet.core.checks import (
    COUNT,
    NON_NEGATIVE,
    POSITIVE,
    SEED,
    Constraint,
    OneOf,
    check_all,
)
from purenet.data.dataset import Dataset
from purenet.errors import DivergenceError, ModelFormatError
from purenet.nn.model import Architecture, Params, check_params
from purenet.optim.schedules import learning_rate as rate_at
from purenet.training.checkpoint import Checkpoint, read_checkpoint
from purenet.training.job import Job
from purenet.training.logs import RunLogs
from purenet.training.option_step import OptionStep
from purenet.training.reports import (
    Augment,
    BatchReport,
    Best,
    EarlyStopping,
    EpochReport,
    KeepBest,
    Track,
    TrainResult,
    next_best,
)
from purenet.training.rules import (
    Plateau,
    ReduceOnPlateau,
    best_rule,
    next_plateau,
    split_valid,
    train_weights,
)
from purenet.training.scoring import check_monitor, epoch_scores
from purenet.training.select import make_step
from purenet.training.step import FastStep, NonFinite, supports
from purenet.training.tracking import Tracker

TRAIN_CONSTRAINTS: dict[str, Constraint] = {
    "epochs": COUNT,
    "batch_size": COUNT,
    "seed": SEED,
    "l2": NON_NEGATIVE,
    "schedule_per": OneOf(("epoch", "batch")),
}
"""The rules of `train`'s scalar arguments (`purenet.core.checks`)."""


DROPOUT_STREAM = 0x64726F70
"""The last entry of dropout's seed `(seed, epoch, batch, DROPOUT_STREAM)` ("drop" in ASCII):
a stream apart from the augmentation's `(seed, epoch, batch)` and the `(seed, epoch, batch, j)`
a recipe derives from it for its j-th augmentation."""


class _Batches:
    """Gathers batches by index into two buffers owned by the loop (reused every batch)."""

    def __init__(
        self, data: Dataset, batch_size: int, dtype: np.dtype, gather: Callable[..., None] | None
    ) -> None:
        # Inputs of another dtype (uint8 images, float32 data for float64 params) are cast
        # once here, not per batch.
        self.x, self.y = np.ascontiguousarray(data.x, dtype=dtype), data.y
        self.full = batch_size >= len(data)
        self.gather = gather
        if not self.full:  # one batch of everything needs no shuffle and no gather
            self.x_buffer = np.empty((batch_size, *data.x.shape[1:]), dtype=dtype)
            self.y_buffer = np.empty((batch_size, *data.y.shape[1:]), dtype=data.y.dtype)

    def take(self, index: np.ndarray | None, ahead: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows `index` (None: all); the kernel gather prefetches rows `ahead` (the next)."""
        if index is None:
            return self.x, self.y
        m = len(index)
        x, y = self.x_buffer[:m], self.y_buffer[:m]
        if self.gather is not None:  # the kernel's row copies: the same bytes, one call
            self.gather(self.x, index, x, ahead)
            self.gather(self.y.reshape(len(self.y), -1), index, y.reshape(m, -1), index[:0])
            return x, y
        # mode="clip" skips numpy's bounds-checked buffering (3x slower); indices are valid.
        np.take(self.x, index, axis=0, out=x, mode="clip")
        np.take(self.y, index, axis=0, out=y, mode="clip")
        return x, y


STEPS_PER_CALL = 512
"""Steps per `run_steps` call; after it `on_batch` is called for each, in order. Ctrl-C is
seen between calls (compiled code does not look): at batch 1 on 784-200-10, every ~25 ms."""


def _run_steps(
    job: Job, state: _State, step: Any, batches: _Batches, order: np.ndarray, rate: float
) -> tuple[float, float, int, float]:
    """`_run_epoch` for a step that runs many steps per call (`SmallStep.run_steps`): the same
    steps, totals and reports (`on_batch` gets each step's, after the call that ran it)."""
    n, batch_size, num_batches = len(job.train_set), job.batch_size, job.num_batches
    losses, corrects = np.empty(STEPS_PER_CALL), np.empty(STEPS_PER_CALL, np.int64)
    total_loss, correct, state.lr = 0.0, 0, rate
    for first in range(0, num_batches, STEPS_PER_CALL):
        count = min(STEPS_PER_CALL, num_batches - first)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # as _run_epoch
            done, fault = step.run_steps(
                batches.x, batches.y, order, first, rate, losses[:count], corrects[:count]
            )
        correct, state.step = correct + int(corrects[:done].sum()), state.step + done
        for b, loss in zip(range(first, first + done), losses[:done].tolist(), strict=True):
            # as _run_epoch: the same float sums, one step after the other
            total_loss += (loss - step.penalty) * (min(n, (b + 1) * batch_size) - b * batch_size)
            if job.on_batch is not None:
                job.on_batch(BatchReport(state.epoch, b, num_batches, loss, rate))
        if fault is not None:
            raise _diverged(job, NonFinite(fault), state.epoch, first + done, rate, state)
    return total_loss, 0.0, correct, rate


@attrs.define
class _State:
    """Where a run is (internal, mutable): the one record the loop's steps update.

    `params` and `opt_state` are the trees at the end of epoch `epoch` (refreshed from the
    step at each epoch's end); `best` is the keep-best / early-stopping state, `plateau` the
    reduce-on-plateau state; `logs` are the checkpoint's logs and writes (`RunLogs`).
    """

    params: Params
    opt_state: Any
    epoch: int = 0
    step: int = 0
    history: list[EpochReport] = attrs.Factory(list)
    best: Best | None = None
    plateau: Plateau | None = None
    stopped: bool = False
    tracker: Tracker | None = None
    lr: float = 0.0
    logs: RunLogs = attrs.Factory(RunLogs)

    @property
    def scale(self) -> float:
        return 1.0 if self.plateau is None else self.plateau.scale


def train(
    arch: Architecture,
    params: Params,
    optimizer: optim.Optimizer,
    data: Dataset,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    l2: float = 0.0,
    valid: Dataset | float | None = None,
    test: Dataset | None = None,
    augment: Augment | None = None,
    early_stopping: EarlyStopping | None = None,
    keep_best: KeepBest | str | None = None,
    reduce_on_plateau: ReduceOnPlateau | None = None,
    clip_norm: float | None = None,
    sample_weight: np.ndarray | None = None,
    class_weights: Mapping[int, float] | None = None,
    checkpoint: Checkpoint | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
    track: Track | None = None,
    schedule_per: Literal["epoch", "batch"] = "epoch",
    opt_state: Any = None,
    resume: str | os.PathLike[str] | None = None,
    kernels: bool | None = None,
) -> TrainResult:
    """Train `params` on `data` with `optimizer` for `epochs` epochs of mini-batches.

    The inputs are never modified; the only side effects are the checkpoint file and the
    callbacks.

    Args:
        arch: the architecture. With dropout, batch `b` of epoch `e` drops units drawn from
            `(seed, e, b, DROPOUT_STREAM)` (augmentation has `(seed, e, b)`: independent
            streams).
        params: the starting parameters (with `resume`: a template of the right shapes).
        optimizer: an optimizer spec; its learning rate may be a schedule.
        data: training `Dataset`: `x` (n, sizes[0]) model input (gathered into batches of
            the parameters' dtype), `y` (n,) integer labels or (n, sizes[-1]) targets.
        epochs: the epoch to stop after (counting epochs of a resumed run), >= 1.
        batch_size: samples per step: 1 is per-sample SGD, >= n is full-batch descent (no
            shuffle, no copy). The last batch of an epoch may be shorter.
        seed: an int >= 0; epoch `e` (from 1) shuffles with `(seed, e)`, batch `b` (from 0)
            augments with `(seed, e, b)`, a `valid` fraction is split off with `(seed, 0)`.
        l2: L2 coefficient on the weights (see `purenet.loss`), >= 0; its penalty is
            reported apart from the losses (`EpochReport.l2_penalty`).
        valid: a validation `Dataset`, or a fraction of `data` to split off, or None.
        test: a test `Dataset` scored after every epoch (`test_loss`, `test_accuracy`...),
            for the curves only: never monitored, never used for a decision.
        augment: `augment(x_batch, *, seed) -> x_batch`, called on each batch before its
            step; `x_batch` is a loop-owned buffer, valid only during the call.
        early_stopping: an `EarlyStopping` spec, or None.
        keep_best: a metric name or `KeepBest`: return the params of the best epoch by it
            (without stopping early); `TrainResult.last_params` keeps the last ones.
        reduce_on_plateau: a `ReduceOnPlateau` rule scaling the optimizer's rate, or None.
        clip_norm: scale each batch's gradients (L2 term included) down to this global
            norm when it is larger (`clip_by_global_norm`), or None.
        sample_weight: (n,) weights >= 0 of `data`'s samples: each batch's loss is their
            weighted mean, or None.
        class_weights: `{class: weight}` multiplying each sample's weight by its class's
            (classifiers only; unlisted classes weigh 1), or None.
        checkpoint: a `Checkpoint` (path, every) to save to, or None.
        on_epoch: called with each `EpochReport` (after its checkpoint is written).
        on_batch: called with a `BatchReport` after each step.
        track: a `Track` spec of parameter scalars to record, or None.
        schedule_per: `"epoch"` or `"batch"`: the schedule clock (see the module docstring).
        opt_state: optimizer state to continue from (e.g. a previous result's); default
            `optim.init(optimizer, params)`.
        resume: a checkpoint file to continue from: its params, optimizer state, counters,
            history, best-epoch, plateau and tracking state replace the starting ones. The
            other arguments must match the run that wrote it (except `epochs`, the
            callbacks, `augment` and `checkpoint`).
        kernels: the numba kernels (the `fast` extra): None (default) when installed and
            supported, False never (the numpy step, bit-identical to the pure functions), True
            required (see `purenet.training.select.make_step`; the options that take the pure
            step refuse it).

    Returns:
        A `TrainResult` with `params`, `opt_state`, `history`, `best_epoch`,
        `stopped_early`, `tracked` and `last_params`.

    Raises:
        DivergenceError: a non-finite loss or gradient; names the epoch, batch and learning
            rate, the last checkpoint written (kept on disk) and the history so far.
        ModelFormatError: `resume` is unreadable or was written by a different run.
        ValueError: invalid arguments (`TypeError`: a count that is not an integer), or a
            monitored metric the run never reports.
    """
    check_all(TRAIN_CONSTRAINTS, locals())
    if clip_norm is not None:
        clip_norm = POSITIVE.check("clip_norm", clip_norm)
    check_params(arch, params)
    train_set, valid_set = split_valid(data, valid, seed)
    if len(train_set) == 0:
        raise ValueError("the training set is empty")
    if test is not None and not isinstance(test, Dataset):
        raise TypeError(f"test must be a Dataset or None, found {type(test).__name__}")
    keep = best_rule(early_stopping, keep_best)
    for where, rule in (("early_stopping", early_stopping), ("keep_best", keep),
                        ("reduce_on_plateau", reduce_on_plateau)):  # fmt: skip
        if rule is not None:
            check_monitor(where, rule.monitor, arch, valid_set is not None)
    weights = train_weights(arch, data, valid, seed, sample_weight, class_weights)
    job = Job(
        arch, optimizer, train_set, valid_set, test, weights, epochs, batch_size, seed,
        float(l2), clip_norm, schedule_per, augment, early_stopping, keep,
        reduce_on_plateau, checkpoint, on_epoch, on_batch,
    )  # fmt: skip
    run = job.describe(track)
    state = _start(job, params, opt_state, track, resume)
    try:
        step = _make_step(job, params[0].w.dtype, kernels)
        step.start(state.params, state.opt_state)
        batches = _Batches(train_set, batch_size, params[0].w.dtype, _gather(step))
        while not state.stopped and state.epoch < epochs:
            state.epoch += 1
            started = time.perf_counter()
            totals = _run_epoch(job, state, step, batches)
            _end_epoch(job, state, step, run, totals, time.perf_counter() - started)
    except KeyboardInterrupt:
        state.logs.save_on_interrupt()  # the last completed epoch, unless a checkpoint has it
        raise
    finally:
        state.logs.close()
    best = state.best
    return TrainResult(
        params=state.params if best is None else best.params,
        opt_state=state.opt_state if best is None else best.opt_state,
        history=tuple(state.history),
        best_epoch=state.epoch if best is None else best.epoch,
        stopped_early=state.stopped and state.epoch < epochs,
        tracked=None if state.tracker is None else state.tracker.result(),
        last_params=state.params,
    )


def _make_step(job: Job, dtype: np.dtype, kernels: bool | None) -> FastStep | OptionStep:
    """The fused (or compiled) step when it computes this run, else `OptionStep`."""
    arch, optimizer = job.arch, job.optimizer
    options = job.dropout or job.weights is not None or job.clip_norm is not None
    if options and kernels:
        raise ValueError(
            "kernels=True, but dropout, sample or class weights and gradient clipping take "
            "the pure-function step (kernels=None picks it)"
        )
    if options or (not supports(arch, optimizer) and not kernels):
        return OptionStep(arch, optimizer, l2=job.l2, clip_norm=job.clip_norm)
    batch_size = min(job.batch_size, len(job.train_set))
    step = make_step(
        arch, optimizer, batch_size=batch_size, dtype=dtype, l2=job.l2, kernels=kernels
    )
    # supports() holds (or kernels=True, which refuses the rest): a fused or compiled step.
    return cast(FastStep, step)


def _gather(step: FastStep | OptionStep) -> Callable[..., None] | None:
    """The kernel gather when the step runs kernels (numba is then installed), else None."""
    if not step.uses_kernels:
        return None
    from purenet.training import kernels

    gather: Callable[..., None] = kernels.gather
    return gather


def _start(
    job: Job,
    params: Params,
    opt_state: Any,
    track: Track | None,
    resume: str | os.PathLike[str] | None,
) -> _State:
    """The state a run starts from: the given trees, or a checkpoint's (`resume`)."""
    opt_state = optim.init(job.optimizer, params) if opt_state is None else opt_state
    tracker = None if track is None else Tracker(track, job.arch)
    plateau = None if job.plateau is None else Plateau()
    if resume is None:
        if tracker is not None:
            tracker.record(params, 0, 0.0)
        logs = RunLogs.start(job.checkpoint, tracker)
        return _State(params, opt_state, plateau=plateau, tracker=tracker, logs=logs)
    saved = read_checkpoint(resume, params=params, opt_state=opt_state, run=job.describe(track))
    if plateau is not None and saved.plateau is None:
        raise ModelFormatError(f"{resume}: $.plateau: missing (reduce_on_plateau is set)")
    logs, history = RunLogs.resume(resume, saved, job.checkpoint, tracker)
    return _State(
        saved.params,
        saved.opt_state,
        epoch=saved.epoch,
        step=saved.step,
        history=list(history),
        best=saved.best,
        plateau=saved.plateau if plateau is not None else None,
        stopped=saved.best is not None and saved.best.stops(job.early_stopping),
        tracker=tracker,
        logs=logs,
    )


def _run_epoch(
    job: Job, state: _State, step: FastStep | OptionStep, batches: _Batches
) -> tuple[float, float, int, float]:
    """One epoch of steps: (summed data loss and L2 penalty times batch weights, samples
    right, the epoch's rate).

    A batch's weight is its sample count, or the sum of its sample weights.
    """
    n, epoch, batch_size, num_batches = (
        len(job.train_set),
        state.epoch,
        job.batch_size,
        job.num_batches,
    )
    order = None if batches.full else np.random.default_rng((job.seed, epoch)).permutation(n)
    schedule, scale = job.optimizer.learning_rate, state.scale
    epoch_rate = rate_at(schedule, epoch - 1) * scale
    tracker = state.tracker
    plain = job.augment is None and job.schedule_per == "epoch"
    if plain and order is not None and not (tracker is not None and tracker.every_step):
        if isinstance(step, FastStep) and step.runs_steps and cast(Any, step).accepts(batches.y):
            return _run_steps(job, state, cast(Any, step), batches, order, epoch_rate)
    total_loss, total_penalty, correct = 0.0, 0.0, 0
    for b in range(num_batches):
        index = None if order is None else order[b * batch_size : (b + 1) * batch_size]
        ahead = None if order is None else order[(b + 1) * batch_size :][:batch_size]
        x, y = batches.take(index, ahead)
        if job.augment is not None:
            x = job.augment(x, seed=(job.seed, epoch, b))
        lr = (
            epoch_rate
            if job.schedule_per == "epoch"
            else rate_at(schedule, epoch - 1 + b / num_batches) * scale
        )
        state.lr = lr
        weight = None
        if job.weights is not None:
            weight = job.weights if index is None else job.weights[index]
        try:
            # Overflow warnings are the divergence guard's business: it raises instead.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if isinstance(step, OptionStep):
                    seed = (job.seed, epoch, b, DROPOUT_STREAM) if job.dropout else None
                    loss, n_correct = step(x, y, lr, seed=seed, weight=weight)
                else:
                    loss, n_correct = step(x, y, lr)
        except NonFinite as fault:
            raise _diverged(job, fault, epoch, b, lr, state) from None
        mass = len(y) if weight is None else float(weight.sum())
        total_loss += (loss - step.penalty) * mass
        total_penalty += step.penalty * mass
        correct += n_correct
        state.step += 1
        if tracker is not None and tracker.every_step:
            tracker.record_from(step.param_value, state.step, epoch - 1 + (b + 1) / num_batches)
        if job.on_batch is not None:
            job.on_batch(BatchReport(epoch, b, num_batches, loss, lr))
    return total_loss, total_penalty, correct, epoch_rate


def _end_epoch(
    job: Job,
    state: _State,
    step: FastStep | OptionStep,
    run: dict[str, Any],
    totals: tuple[float, float, int, float],
    seconds: float,
) -> None:
    """Score, report, apply the epoch-end rules, checkpoint and call back, for `state.epoch`.

    `totals` is what `_run_epoch` returned: summed data loss and L2 penalty (times batch
    weights), samples right and the epoch's rate.
    """
    total_loss, total_penalty, correct, epoch_rate = totals
    # Fresh immutable trees, once per epoch: scores, best epoch, checkpoints.
    state.params, state.opt_state = step.params(), step.state()
    epoch, n, arch = state.epoch, len(job.train_set), job.arch
    started = time.perf_counter()
    sets = {"valid": job.valid_set, "test": job.test_set}
    if arch.is_regression:
        sets["train"] = job.train_set
    scores = epoch_scores(arch, state.params, sets)
    valid_loss = scores.get("valid_loss")
    if valid_loss is not None and not math.isfinite(valid_loss):
        bad = NonFinite(f"validation loss ({valid_loss})")
        raise _diverged(job, bad, epoch, job.num_batches - 1, state.lr, state)
    mass = n if job.weights is None else float(job.weights.sum())
    report = EpochReport(
        epoch=epoch,
        train_loss=total_loss / mass,
        train_accuracy=None if arch.is_regression else correct / n,
        valid_loss=valid_loss,
        valid_accuracy=scores.get("valid_accuracy"),
        learning_rate=epoch_rate,
        seconds=seconds + time.perf_counter() - started,
        l2_penalty=total_penalty / mass,
        **{key: value for key, value in scores.items() if key not in _SET_APART},
    )
    state.history.append(report)
    if state.tracker is not None and not state.tracker.every_step:
        state.tracker.record(state.params, state.step, float(epoch))
    _apply_rules(job, state, report)
    final = state.epoch == job.epochs or state.stopped
    state.logs.record(report, state.tracker, run, state.step, state.params, state.opt_state,
                      state.best, state.plateau, final=final)  # fmt: skip
    if job.on_epoch is not None:
        job.on_epoch(report)


_SET_APART = ("valid_loss", "valid_accuracy", "train_loss")
"""Scores `EpochReport` takes as leading fields, or not at all: `train_loss` is the mean over
the epoch's steps, not the final params' loss on the training set."""


def _apply_rules(job: Job, state: _State, report: EpochReport) -> None:
    """Update the best epoch, early stopping and the plateau scale after `report`."""
    spec = job.best_spec
    if spec is not None:
        state.best = next_best(state.best, spec, report, state.params, state.opt_state)
        state.stopped = state.best.stops(job.early_stopping)
    if job.plateau is not None and state.plateau is not None:
        value = getattr(report, job.plateau.monitor)
        state.plateau = next_plateau(job.plateau, state.plateau, value, report.learning_rate)


def _diverged(
    job: Job, fault: NonFinite, epoch: int, batch: int, lr: float, state: _State
) -> DivergenceError:
    """The error of a diverged run, once the last good epoch is checkpointed."""
    state.logs.save()
    last = state.logs.last_saved
    saved = f"last good checkpoint: {last}" if last else "no checkpoint"
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch} (learning rate {lr:g}): "
        f"non-finite {fault.what}; {saved}",
        epoch=epoch,
        batch=batch,
        learning_rate=lr,
        checkpoint=last,
        history=tuple(state.history),
    )
