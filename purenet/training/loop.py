"""The training loop: epochs of seeded mini-batches, validation, early stopping, checkpoints.

`train` runs, for each epoch, a permutation drawn from `(seed, epoch)`, batches gathered by
index into buffers the loop owns, an optional augmentation seeded by `(seed, epoch, batch)`,
and one optimizer step per batch (`purenet.training.select.make_step`: compiled kernels with
the `fast` extra, else the fused numpy step, else the pure functions). Each epoch ends with a
validation pass, an `EpochReport`, the early-stopping check, an optional checkpoint and the
`on_epoch` callback.
It prints nothing. The same arguments give bit-identical parameters and history (except the
`seconds` of each report); a run resumed from a checkpoint ends bit-identical to one that was
never interrupted.

Learning-rate schedules run on an epoch clock (see `purenet.optim.schedules`): with
`schedule_per="epoch"` (default) step `batch` of epoch `e` (1-based) uses
`learning_rate(schedule, e - 1)`, with `schedule_per="batch"` it uses
`learning_rate(schedule, e - 1 + batch / num_batches)`.

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
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs
import numpy as np

from purenet import optim
from purenet.core.checks import COUNT, NON_NEGATIVE, SEED, Constraint, OneOf, check_all
from purenet.core.convert import converter
from purenet.data.dataset import Dataset, split
from purenet.errors import DivergenceError, ModelFormatError
from purenet.nn.model import Architecture, Params, check_params, evaluate
from purenet.optim.schedules import learning_rate as rate_at
from purenet.training.checkpoint import Checkpoint, TrainingState, read_checkpoint, write_checkpoint
from purenet.training.reports import (
    Augment,
    BatchReport,
    Best,
    EarlyStopping,
    EpochReport,
    Track,
    Tracked,
    TrainResult,
    locate_tracked,
    next_best,
)
from purenet.training.select import make_step
from purenet.training.step import NonFinite, TrainStep

TRAIN_CONSTRAINTS: dict[str, Constraint] = {
    "epochs": COUNT,
    "batch_size": COUNT,
    "seed": SEED,
    "l2": NON_NEGATIVE,
    "schedule_per": OneOf(("epoch", "batch")),
}
"""The rules of `train`'s scalar arguments (`purenet.core.checks`)."""


class _Batches:
    """Gathers batches by index into two buffers owned by the loop (reused every batch)."""

    def __init__(
        self, data: Dataset, batch_size: int, dtype: np.dtype, gather: Callable[..., None] | None
    ) -> None:
        # Inputs of another dtype (uint8 images, float32 data for float64 params) are cast
        # once here, not per batch.
        self.x, self.y = data.x.astype(dtype, copy=False), data.y
        self.full = batch_size >= len(data)
        self.gather = gather
        if not self.full:  # one batch of everything needs no shuffle and no gather
            self.x_buffer = np.empty((batch_size, *data.x.shape[1:]), dtype=dtype)
            self.y_buffer = np.empty((batch_size, *data.y.shape[1:]), dtype=data.y.dtype)

    def take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if index is None:
            return self.x, self.y
        m = len(index)
        x, y = self.x_buffer[:m], self.y_buffer[:m]
        if self.gather is not None:  # the kernel's row copies: the same bytes, one call
            self.gather(self.x, index, x)
            self.gather(self.y, index, y)
            return x, y
        # mode="clip" skips numpy's bounds-checked buffering (3x slower); indices are valid.
        np.take(self.x, index, axis=0, out=x, mode="clip")
        np.take(self.y, index, axis=0, out=y, mode="clip")
        return x, y


class _Tracker:
    """Reads the tracked scalars out of a params tree and keeps the rows."""

    def __init__(self, spec: Track, arch: Architecture) -> None:
        self.spec = spec
        self.every_step = spec.every == "step"
        self.where = [locate_tracked(path, arch) for path in spec.paths]
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.rows: list[tuple[float, ...]] = []

    def record(self, params: Params, step: int, epoch: float) -> None:
        self.record_from(lambda i, f, j: float(getattr(params[i], f)[j]), step, epoch)

    def record_from(
        self, read: Callable[[int, str, tuple[int, ...]], float], step: int, epoch: float
    ) -> None:
        """Record the tracked scalars given by `read(layer, field, index)`."""
        self.steps.append(step)
        self.epochs.append(epoch)
        self.rows.append(tuple(read(i, f, j) for i, f, j in self.where))

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "steps": np.array(self.steps, dtype=np.int64),
            "epochs": np.array(self.epochs, dtype=np.float64),
            "values": np.array(self.rows, dtype=np.float64).reshape(-1, len(self.where)),
        }

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        values = arrays["values"]
        if values.ndim != 2 or values.shape[1] != len(self.where):
            raise ModelFormatError(f"$.tracked.values: shape {values.shape} does not fit track")
        self.steps = arrays["steps"].tolist()
        self.epochs = arrays["epochs"].tolist()
        self.rows = [tuple(row) for row in values.tolist()]

    def result(self) -> Tracked:
        arrays = self.arrays()
        return Tracked(self.spec.paths, arrays["steps"], arrays["epochs"], arrays["values"])


@attrs.frozen
class _Job:
    """What a call of `train` fixed: the settings every step reads (internal)."""

    arch: Architecture
    optimizer: optim.Optimizer
    train_set: Dataset
    valid_set: Dataset | None
    epochs: int
    batch_size: int
    seed: int
    l2: float
    schedule_per: str
    augment: Augment | None
    early_stopping: EarlyStopping | None
    checkpoint: Checkpoint | None
    on_epoch: Callable[[EpochReport], None] | None
    on_batch: Callable[[BatchReport], None] | None

    @property
    def num_batches(self) -> int:
        return math.ceil(len(self.train_set) / self.batch_size)

    def describe(self, track: Track | None) -> dict[str, Any]:
        """The settings a resumed run must share with the run that wrote its checkpoint."""
        n = len(self.train_set)
        spec = self.early_stopping
        return {
            "architecture": converter.unstructure(self.arch),
            "optimizer": _describe_spec(self.optimizer),
            "batch_size": min(self.batch_size, n),
            "seed": self.seed,
            "l2": self.l2,
            "schedule_per": self.schedule_per,
            "train_size": n,
            "valid_size": None if self.valid_set is None else len(self.valid_set),
            "early_stopping": None if spec is None else converter.unstructure(spec),
            "track": None if track is None else converter.unstructure(track),
        }


@attrs.define
class _State:
    """Where a run is (internal, mutable): the one record the loop's steps update.

    `params` and `opt_state` are the trees at the end of epoch `epoch` (refreshed from the
    step at each epoch's end); `best` is the early-stopping state.
    """

    params: Params
    opt_state: Any
    epoch: int = 0
    step: int = 0
    history: list[EpochReport] = attrs.Factory(list)
    best: Best | None = None
    stopped: bool = False
    last_checkpoint: Path | None = None
    tracker: _Tracker | None = None
    lr: float = 0.0


def _describe_spec(spec: Any) -> Any:
    """A JSON-ready description of a spec (optimizer, schedule), tagged with its kind."""
    if not attrs.has(type(spec)):
        return spec
    fields = {f.name: _describe_spec(getattr(spec, f.name)) for f in attrs.fields(type(spec))}
    return {"kind": spec.kind, **fields}


def _split_valid(
    data: Dataset, valid: Dataset | float | None, seed: int
) -> tuple[Dataset, Dataset | None]:
    if valid is None or isinstance(valid, Dataset):
        return data, valid
    # (seed, 0) is free: epochs count from 1 in the (seed, epoch) streams.
    return split(data, float(valid), seed=(seed, 0))


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
    augment: Augment | None = None,
    early_stopping: EarlyStopping | None = None,
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
        arch: the architecture.
        params: the starting parameters (with `resume`: a template of the right shapes).
        optimizer: an optimizer spec; its learning rate may be a schedule.
        data: training `Dataset`: `x` (n, sizes[0]) model input (gathered into batches of
            the parameters' dtype), `y` (n,) integer labels or (n, sizes[-1]) targets.
        epochs: the epoch to stop after (counting epochs of a resumed run), >= 1.
        batch_size: samples per step: 1 is per-sample SGD, >= n is full-batch descent (no
            shuffle, no copy). The last batch of an epoch may be shorter.
        seed: an int >= 0; epoch `e` (from 1) shuffles with `(seed, e)`, batch `b` (from 0)
            augments with `(seed, e, b)`, a `valid` fraction is split off with `(seed, 0)`.
        l2: L2 coefficient on the weights (see `purenet.loss`), >= 0.
        valid: a validation `Dataset`, or a fraction of `data` to split off, or None.
        augment: `augment(x_batch, *, seed) -> x_batch`, called on each batch before its
            step; `x_batch` is a loop-owned buffer, valid only during the call.
        early_stopping: an `EarlyStopping` spec, or None.
        checkpoint: a `Checkpoint` (path, every) to save to, or None.
        on_epoch: called with each `EpochReport` (after its checkpoint is written).
        on_batch: called with a `BatchReport` after each step.
        track: a `Track` spec of parameter scalars to record, or None.
        schedule_per: `"epoch"` or `"batch"`: the schedule clock (see the module docstring).
        opt_state: optimizer state to continue from (e.g. a previous result's); default
            `optim.init(optimizer, params)`.
        resume: a checkpoint file to continue from: its params, optimizer state, counters,
            history, early-stopping and tracking state replace the starting ones. The other
            arguments must match the run that wrote it (except `epochs`, the callbacks,
            `augment` and `checkpoint`).
        kernels: the numba kernels (the `fast` extra): None (default) when installed and
            supported, False never (the numpy step, bit-identical to the pure functions), True
            required (see `purenet.training.select.make_step`).

    Returns:
        A `TrainResult` with `params`, `opt_state`, `history`, `best_epoch`,
        `stopped_early` and `tracked`.

    Raises:
        DivergenceError: a non-finite loss or gradient; names the epoch, batch and learning
            rate, the last checkpoint written (kept on disk) and the history so far.
        ModelFormatError: `resume` is unreadable or was written by a different run.
        ValueError: invalid arguments (`TypeError`: a count that is not an integer).
    """
    check_all(TRAIN_CONSTRAINTS, locals())
    check_params(arch, params)
    train_set, valid_set = _split_valid(data, valid, seed)
    monitor = None if early_stopping is None else early_stopping.monitor
    if monitor is not None and monitor.startswith("valid_") and valid_set is None:
        raise ValueError(f"early stopping on {monitor} needs valid data")
    if len(train_set) == 0:
        raise ValueError("the training set is empty")
    job = _Job(
        arch, optimizer, train_set, valid_set, epochs, batch_size, seed, float(l2), schedule_per,
        augment, early_stopping, checkpoint, on_epoch, on_batch,
    )  # fmt: skip
    state = _start(job, params, opt_state, track, resume)
    # The fused step when the optimizer has one, else the pure functions (training.step).
    n = len(train_set)
    step = make_step(
        arch,
        optimizer,
        batch_size=min(batch_size, n),
        dtype=params[0].w.dtype,
        l2=job.l2,
        kernels=kernels,
    )
    step.start(state.params, state.opt_state)
    batches = _Batches(train_set, batch_size, params[0].w.dtype, _gather(step))
    run = job.describe(track)
    while not state.stopped and state.epoch < epochs:
        state.epoch += 1
        started = time.perf_counter()
        loss, correct, rate = _run_epoch(job, state, step, batches)
        _end_epoch(job, state, step, run, (loss, correct, rate), time.perf_counter() - started)
    best = state.best
    return TrainResult(
        params=state.params if best is None else best.params,
        opt_state=state.opt_state if best is None else best.opt_state,
        history=tuple(state.history),
        best_epoch=state.epoch if best is None else best.epoch,
        stopped_early=state.stopped and state.epoch < epochs,
        tracked=None if state.tracker is None else state.tracker.result(),
    )


def _gather(step: TrainStep) -> Callable[..., None] | None:
    """The kernel gather when the step runs kernels (numba is then installed), else None."""
    if not step.uses_kernels:
        return None
    from purenet.training import kernels

    gather: Callable[..., None] = kernels.gather
    return gather


def _start(
    job: _Job,
    params: Params,
    opt_state: Any,
    track: Track | None,
    resume: str | os.PathLike[str] | None,
) -> _State:
    """The state a run starts from: the given trees, or a checkpoint's (`resume`)."""
    opt_state = optim.init(job.optimizer, params) if opt_state is None else opt_state
    tracker = None if track is None else _Tracker(track, job.arch)
    if resume is None:
        if tracker is not None:
            tracker.record(params, 0, 0.0)
        return _State(params, opt_state, tracker=tracker)
    saved = read_checkpoint(resume, params=params, opt_state=opt_state, run=job.describe(track))
    if tracker is not None and saved.tracked is not None:
        tracker.restore(saved.tracked)
    spec = job.early_stopping
    return _State(
        saved.params,
        saved.opt_state,
        epoch=saved.epoch,
        step=saved.step,
        history=list(saved.history),
        best=saved.best,
        stopped=spec is not None and saved.best is not None and saved.best.stops(spec),
        last_checkpoint=Path(resume),
        tracker=tracker,
    )


def _run_epoch(
    job: _Job, state: _State, step: TrainStep, batches: _Batches
) -> tuple[float, int, float]:
    """One epoch of steps: (summed loss times batch sizes, samples right, the epoch's rate)."""
    n, epoch, batch_size, num_batches = (
        len(job.train_set),
        state.epoch,
        job.batch_size,
        job.num_batches,
    )
    order = None if batches.full else np.random.default_rng((job.seed, epoch)).permutation(n)
    schedule = job.optimizer.learning_rate
    epoch_rate = rate_at(schedule, epoch - 1)
    tracker = state.tracker
    total_loss, correct = 0.0, 0
    for b in range(num_batches):
        index = None if order is None else order[b * batch_size : (b + 1) * batch_size]
        x, y = batches.take(index)
        if job.augment is not None:
            x = job.augment(x, seed=(job.seed, epoch, b))
        lr = (
            epoch_rate
            if job.schedule_per == "epoch"
            else rate_at(schedule, epoch - 1 + b / num_batches)
        )
        state.lr = lr
        try:
            # Overflow warnings are the divergence guard's business: it raises instead.
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, n_correct = step(x, y, lr)
        except NonFinite as fault:
            raise _diverged(fault, epoch, b, lr, state) from None
        total_loss += loss * len(y)
        correct += n_correct
        state.step += 1
        if tracker is not None and tracker.every_step:
            tracker.record_from(step.param_value, state.step, epoch - 1 + (b + 1) / num_batches)
        if job.on_batch is not None:
            job.on_batch(BatchReport(epoch, b, num_batches, loss, lr))
    return total_loss, correct, epoch_rate


def _end_epoch(
    job: _Job,
    state: _State,
    step: TrainStep,
    run: dict[str, Any],
    totals: tuple[float, int, float],
    seconds: float,
) -> None:
    """Validate, report, update early stopping, checkpoint and call back, for `state.epoch`.

    `totals` is what `_run_epoch` returned: summed loss, samples right and the epoch's rate.
    """
    total_loss, correct, epoch_rate = totals
    # Fresh immutable trees, once per epoch: validation, early stopping, checkpoints.
    state.params, state.opt_state = step.params(), step.state()
    epoch, n = state.epoch, len(job.train_set)
    valid_loss = valid_accuracy = None
    if job.valid_set is not None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            valid_loss, valid_accuracy = evaluate(
                job.arch, state.params, job.valid_set.x, job.valid_set.y, l2=job.l2
            )
        if not math.isfinite(valid_loss):
            bad = NonFinite(f"validation loss ({valid_loss})")
            raise _diverged(bad, epoch, job.num_batches - 1, state.lr, state)
    report = EpochReport(
        epoch=epoch,
        train_loss=total_loss / n,
        train_accuracy=correct / n,
        valid_loss=valid_loss,
        valid_accuracy=valid_accuracy,
        learning_rate=epoch_rate,
        seconds=seconds,
    )
    state.history.append(report)
    if state.tracker is not None and not state.tracker.every_step:
        state.tracker.record(state.params, state.step, float(epoch))
    spec = job.early_stopping
    if spec is not None:
        state.best = next_best(state.best, spec, report, state.params, state.opt_state)
        state.stopped = state.best.stops(spec)
    every = job.checkpoint
    if every is not None and (epoch % every.every == 0 or epoch == job.epochs or state.stopped):
        write_checkpoint(
            every.path,
            TrainingState(
                run=run,
                epoch=epoch,
                step=state.step,
                params=state.params,
                opt_state=state.opt_state,
                history=tuple(state.history),
                best=state.best,
                tracked=None if state.tracker is None else state.tracker.arrays(),
            ),
        )
        state.last_checkpoint = every.path
    if job.on_epoch is not None:
        job.on_epoch(report)


def _diverged(
    fault: NonFinite, epoch: int, batch: int, lr: float, state: _State
) -> DivergenceError:
    last = state.last_checkpoint
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
