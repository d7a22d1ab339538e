"""The training loop: epochs of seeded mini-batches, validation, early stopping, checkpoints.

`train` runs, for each epoch, a permutation drawn from `(seed, epoch)`, batches gathered by
index into buffers the loop owns, an optional augmentation seeded by `(seed, epoch, batch)`,
and one optimizer step per batch (`purenet.training.step.make_step`: fused when the optimizer has a
fused step). Each epoch ends with a validation pass, an `EpochReport`, the early-stopping
check, an optional checkpoint and the `on_epoch` callback.
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
from purenet.core.convert import converter
from purenet.data.dataset import Dataset, split
from purenet.errors import DivergenceError, ModelFormatError
from purenet.nn.model import Architecture, Params, check_params, evaluate
from purenet.optim.schedules import learning_rate as rate_at
from purenet.training.checkpoint import Checkpoint, TrainingState, read_checkpoint, write_checkpoint
from purenet.training.reports import (
    _MONITORS,
    Augment,
    BatchReport,
    EarlyStopping,
    EpochReport,
    Track,
    Tracked,
    TrainResult,
    locate_tracked,
)
from purenet.training.step import NonFinite, make_step


class _Batches:
    """Gathers batches by index into two buffers owned by the loop (reused every batch)."""

    def __init__(self, data: Dataset, batch_size: int, dtype: np.dtype) -> None:
        # Inputs of another dtype (uint8 images, float32 data for float64 params) are cast
        # once here, not per batch.
        self.x, self.y = data.x.astype(dtype, copy=False), data.y
        self.full = batch_size >= len(data)
        if not self.full:  # one batch of everything needs no shuffle and no gather
            self.x_buffer = np.empty((batch_size, *data.x.shape[1:]), dtype=dtype)
            self.y_buffer = np.empty((batch_size, *data.y.shape[1:]), dtype=data.y.dtype)

    def take(self, index: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if index is None:
            return self.x, self.y
        m = len(index)
        x, y = self.x_buffer[:m], self.y_buffer[:m]
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


@attrs.define
class _Best:
    """Early-stopping bookkeeping (mutable, internal)."""

    epoch: int
    value: float
    wait: int
    params: Params
    opt_state: Any


def _describe_spec(spec: Any) -> Any:
    """A JSON-ready description of a spec (optimizer, schedule), tagged with its kind."""
    if not attrs.has(type(spec)):
        return spec
    fields = {f.name: _describe_spec(getattr(spec, f.name)) for f in attrs.fields(type(spec))}
    return {"kind": spec.kind, **fields}


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _split_valid(
    data: Dataset, valid: Dataset | float | None, seed: int
) -> tuple[Dataset, Dataset | None]:
    if valid is None or isinstance(valid, Dataset):
        return data, valid
    # (seed, 0) is free: epochs count from 1 in the (seed, epoch) streams.
    return split(data, float(valid), seed=(seed, 0))


def _report_dict(report: EpochReport) -> dict[str, Any]:
    result: dict[str, Any] = converter.unstructure(report)
    return result


def _improved(monitor: str, value: float, best: _Best, min_delta: float) -> bool:
    if _MONITORS[monitor] == "min":
        return value < best.value - min_delta
    return value > best.value + min_delta


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

    Returns:
        A `TrainResult` with `params`, `opt_state`, `history`, `best_epoch`,
        `stopped_early` and `tracked`.

    Raises:
        DivergenceError: a non-finite loss or gradient; names the epoch, batch and learning
            rate, the last checkpoint written (kept on disk) and the history so far.
        ModelFormatError: `resume` is unreadable or was written by a different run.
        ValueError: invalid arguments.
    """
    _check_int("epochs", epochs, 1)
    _check_int("batch_size", batch_size, 1)
    _check_int("seed", seed, 0)
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0, got {l2}")
    if schedule_per not in ("epoch", "batch"):
        raise ValueError(f"schedule_per must be 'epoch' or 'batch', got {schedule_per!r}")
    check_params(arch, params)
    train_set, valid_set = _split_valid(data, valid, seed)
    monitor = None if early_stopping is None else early_stopping.monitor
    if monitor is not None and monitor.startswith("valid_") and valid_set is None:
        raise ValueError(f"early stopping on {monitor} needs valid data")
    n = len(train_set)
    if n == 0:
        raise ValueError("the training set is empty")
    num_batches = math.ceil(n / batch_size)
    state = optim.init(optimizer, params) if opt_state is None else opt_state
    run = {
        "architecture": converter.unstructure(arch),
        "optimizer": _describe_spec(optimizer),
        "batch_size": min(batch_size, n),
        "seed": seed,
        "l2": float(l2),
        "schedule_per": schedule_per,
        "train_size": n,
        "valid_size": None if valid_set is None else len(valid_set),
        "early_stopping": None if early_stopping is None else converter.unstructure(early_stopping),
        "track": None if track is None else converter.unstructure(track),
    }
    tracker = None if track is None else _Tracker(track, arch)
    history: list[EpochReport] = []
    best: _Best | None = None
    done, global_step = 0, 0
    last_checkpoint: Path | None = None
    if resume is not None:
        saved = read_checkpoint(resume, params=params, opt_state=state, run=run)
        params, state, done, global_step = saved.params, saved.opt_state, saved.epoch, saved.step
        history = [_restore_report(resume, i, r) for i, r in enumerate(saved.history)]
        if saved.best is not None:
            kept = saved.best.get("params") is not None
            best = _Best(
                epoch=saved.best["epoch"],
                value=saved.best["value"],
                wait=saved.best["wait"],
                params=saved.best["params"] if kept else params,
                opt_state=saved.best["opt_state"] if kept else state,
            )
        if tracker is not None and saved.tracked is not None:
            tracker.restore(saved.tracked)
        last_checkpoint = Path(resume)
    elif tracker is not None:
        tracker.record(params, 0, 0.0)

    # The fused step when the optimizer has one, else the pure functions (training.step).
    step = make_step(
        arch, optimizer, batch_size=min(batch_size, n), dtype=params[0].w.dtype, l2=float(l2)
    )
    step.start(params, state)
    batches = _Batches(train_set, batch_size, params[0].w.dtype)
    schedule = optimizer.learning_rate
    stopped = (
        early_stopping is not None and best is not None and best.wait >= early_stopping.patience
    )
    epoch = done
    while not stopped and epoch < epochs:
        epoch += 1
        started = time.perf_counter()
        order = None if batches.full else np.random.default_rng((seed, epoch)).permutation(n)
        epoch_rate = rate_at(schedule, epoch - 1)
        total_loss, correct = 0.0, 0
        for b in range(num_batches):
            index = None if order is None else order[b * batch_size : (b + 1) * batch_size]
            x, y = batches.take(index)
            if augment is not None:
                x = augment(x, seed=(seed, epoch, b))
            lr = (
                epoch_rate
                if schedule_per == "epoch"
                else rate_at(schedule, epoch - 1 + b / num_batches)
            )
            try:
                # Overflow warnings are the divergence guard's business: it raises instead.
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    loss, n_correct = step(x, y, lr)
            except NonFinite as fault:
                raise _diverged(fault, epoch, b, lr, last_checkpoint, history) from None
            total_loss += loss * len(y)
            correct += n_correct
            global_step += 1
            if tracker is not None and tracker.every_step:
                tracker.record_from(
                    step.param_value, global_step, epoch - 1 + (b + 1) / num_batches
                )
            if on_batch is not None:
                on_batch(BatchReport(epoch, b, num_batches, loss, lr))
        # Fresh immutable trees, once per epoch: validation, early stopping, checkpoints.
        params, state = step.params(), step.state()
        valid_loss = valid_accuracy = None
        if valid_set is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                valid_loss, valid_accuracy = evaluate(
                    arch, params, valid_set.x, valid_set.y, l2=l2
                )
            if not math.isfinite(valid_loss):
                bad = NonFinite(f"validation loss ({valid_loss})")
                raise _diverged(bad, epoch, num_batches - 1, lr, last_checkpoint, history)
        report = EpochReport(
            epoch=epoch,
            train_loss=total_loss / n,
            train_accuracy=correct / n,
            valid_loss=valid_loss,
            valid_accuracy=valid_accuracy,
            learning_rate=epoch_rate,
            seconds=time.perf_counter() - started,
        )
        history.append(report)
        if tracker is not None and not tracker.every_step:
            tracker.record(params, global_step, float(epoch))
        if early_stopping is not None:
            value = getattr(report, early_stopping.monitor)
            if best is None or _improved(
                early_stopping.monitor, value, best, early_stopping.min_delta
            ):
                best = _Best(epoch, value, 0, params, state)
            else:
                best.wait += 1
                stopped = best.wait >= early_stopping.patience
        if checkpoint is not None and (epoch % checkpoint.every == 0 or epoch == epochs or stopped):
            write_checkpoint(
                checkpoint.path,
                TrainingState(
                    run=run,
                    epoch=epoch,
                    step=global_step,
                    params=params,
                    opt_state=state,
                    history=[_report_dict(r) for r in history],
                    best=_best_dict(best, epoch),
                    tracked=None if tracker is None else tracker.arrays(),
                ),
            )
            last_checkpoint = checkpoint.path
        if on_epoch is not None:
            on_epoch(report)

    if best is not None:
        params, state, best_epoch = best.params, best.opt_state, best.epoch
    else:
        best_epoch = epoch
    return TrainResult(
        params=params,
        opt_state=state,
        history=tuple(history),
        best_epoch=best_epoch,
        stopped_early=stopped and epoch < epochs,
        tracked=None if tracker is None else tracker.result(),
    )


def _diverged(
    fault: NonFinite,
    epoch: int,
    batch: int,
    lr: float,
    last_checkpoint: Path | None,
    history: list[EpochReport],
) -> DivergenceError:
    saved = f"last good checkpoint: {last_checkpoint}" if last_checkpoint else "no checkpoint"
    return DivergenceError(
        f"training diverged at epoch {epoch}, batch {batch} (learning rate {lr:g}): "
        f"non-finite {fault.what}; {saved}",
        epoch=epoch,
        batch=batch,
        learning_rate=lr,
        checkpoint=last_checkpoint,
        history=tuple(history),
    )


def _best_dict(best: _Best | None, epoch: int) -> dict[str, Any] | None:
    if best is None:
        return None
    # the best params are the current ones unless an earlier epoch was better
    earlier = best.epoch != epoch
    return {
        "epoch": best.epoch,
        "value": best.value,
        "wait": best.wait,
        "params": best.params if earlier else None,
        "opt_state": best.opt_state if earlier else None,
    }


def _restore_report(path: str | os.PathLike[str], i: int, data: Any) -> EpochReport:
    try:
        report: EpochReport = converter.structure(data, EpochReport)
    except Exception as error:  # cattrs raises several types; all mean a malformed report
        raise ModelFormatError(
            f"{path}: $.history[{i}]: malformed epoch report ({error})"
        ) from None
    return report
