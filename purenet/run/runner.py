"""Running a recipe: load and prepare the data, train, evaluate, write the run folder.

`run_recipe` is the library function behind `purenet run`. It never prints: progress goes to
the `on_epoch` / `on_batch` callbacks. The run folder holds

    recipe.toml       the resolved recipe (absolute data paths), written first
    checkpoint.json   training state, rewritten atomically at most once a minute of training
                      (`checkpoint_seconds`) or every `checkpoint_every` epochs, after the
                      last epoch and on Ctrl-C / SIGTERM
    metrics.jsonl     one JSON object per epoch (an `EpochReport`), appended
    tracked.jsonl     tracked parameter scalars, when `[train] track` names some, appended
    model.json        the trained model with its preprocessing, labels, recipe and metrics

On Ctrl-C (`KeyboardInterrupt`) the last checkpoint stays on disk and `RunInterrupted` (a
`KeyboardInterrupt`) is raised; `run_recipe(..., resume=True)` continues from it and ends
with the same parameters as an uninterrupted run.

Example:
    >>> from purenet.recipe.load import load_recipe
    >>> from purenet.run.runner import run_recipe
    >>> result = run_recipe(load_recipe("recipes/microchips.toml"))  # doctest: +SKIP
    >>> result.metrics["train_accuracy"] > 0.8  # doctest: +SKIP
    True
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

from purenet.core.atomic import remove_stale_temps, write_text_atomic
from purenet.core.limits import check_parameters
from purenet.core.threads import free_cores, limit_threads
from purenet.errors import RecipeError
from purenet.modelfile.evaluation import AnyEvaluation, evaluate_model
from purenet.modelfile.io import save_model
from purenet.modelfile.model import Model, ModelMeta
from purenet.nn.model import Architecture, Params, init
from purenet.recipe.load import dump_recipe, read_recipe_data, recipe_from_data
from purenet.recipe.schema import Recipe
from purenet.recipe.toml import to_toml
from purenet.run.checks import check_before_training
from purenet.run.layout import (
    CHECKPOINT_FILE,
    METRICS_FILE,
    MODEL_FILE,
    MODEL_LAST_FILE,
    RECIPE_FILE,
    RUN_FILES,
    TRACKED_FILE,
)
from purenet.run.prepare import PreparedData, prepare_data
from purenet.run.sources import source_name
from purenet.training.checkpoint import Checkpoint, read_checkpoint_epoch
from purenet.training.loop import train
from purenet.training.reports import BatchReport, EpochReport, Track, TrainResult

RESUME_MAY_CHANGE = (
    "train.epochs",
    "train.threads",
    "train.checkpoint_every",
    "train.checkpoint_seconds",
)
"""The `[train]` keys a resumed run may change (with the whole `[output]` section): none of
them changes the numbers of the epochs already trained."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a run; the last checkpoint is on disk and `resume=True` continues it.

    Attributes:
        out_dir: the run folder.
        epoch: epochs completed and saved in the checkpoint (0: none yet).
        checkpoint: the checkpoint file, or None if no epoch was saved yet.
        model_written: training had ended and `model.json` was written (Ctrl-C came while
            the figures were drawn; `purenet plot` draws them).
    """

    def __init__(
        self, out_dir: Path, epoch: int, checkpoint: Path | None, *, model_written: bool = False
    ) -> None:
        saved = f"checkpoint of epoch {epoch} in {checkpoint}" if checkpoint else "no checkpoint"
        super().__init__(f"interrupted; {saved}")
        self.out_dir = out_dir
        self.epoch = epoch
        self.checkpoint = checkpoint
        self.model_written = model_written


@attrs.frozen(eq=False)
class RunResult:
    """What `run_recipe` returns.

    Attributes:
        out_dir: the run folder.
        model: the trained model (as saved in `model.json`).
        history: one `EpochReport` per epoch, including epochs before a resume.
        metrics: final metrics (`train_loss`, `train_accuracy`, `valid_*`, `test_*`, `epochs`,
            `seconds`), as stored in the model's meta.
        test: the test-set evaluation, or None without a test set.
        stopped_early: early stopping ended training before `epochs`.
        started_over: `resume` was asked for but the folder had no checkpoint yet, so the
            run started from the beginning.
        threads: the BLAS threads the run used (`train.threads`, else `free_cores()`).
        wall_seconds: the whole call's wall time: data, training, checkpoints, evaluation,
            model and figures (`metrics["seconds"]` is the epochs' time alone, summed over
            every session of a resumed run).
        resumed_from: the checkpoint's epoch this call continued from (0: from the start).
    """

    out_dir: Path
    model: Model
    history: tuple[EpochReport, ...]
    metrics: dict[str, float]
    test: AnyEvaluation | None
    stopped_early: bool
    started_over: bool = False
    threads: int = 1
    wall_seconds: float = 0.0
    resumed_from: int = 0


# ---------------------------------------------------------------------------------------------
# The run folder


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """Recipe data without the keys a resume may change (`RESUME_MAY_CHANGE`, [output])."""
    copy = json.loads(json.dumps(data))
    for key in RESUME_MAY_CHANGE:
        copy.get("train", {}).pop(key.removeprefix("train."), None)
    copy.pop("output", None)
    return copy


def _check_resumable(out: Path, recipe: Recipe) -> int | None:
    """The epoch of the folder's checkpoint, once it is sure the recipe may continue it;
    None when there is no checkpoint yet (the run starts from the beginning)."""
    checkpoint = out / CHECKPOINT_FILE
    if not checkpoint.exists():
        return None
    epoch = read_checkpoint_epoch(checkpoint)
    saved_file = out / RECIPE_FILE
    if saved_file.is_file():
        saved = recipe_from_data(read_recipe_data(saved_file), source=str(saved_file))
        before, now = _comparable(dump_recipe(saved)), _comparable(dump_recipe(recipe))
        if before != now:
            keys = sorted(
                f"{section}.{key}"
                for section in set(before) | set(now)
                for key in set(before.get(section, {})) | set(now.get(section, {}))
                if before.get(section, {}).get(key) != now.get(section, {}).get(key)
            )
            raise RecipeError(
                f"{saved_file}: the run was started with a different recipe "
                f"({', '.join(keys)} {'differs' if len(keys) == 1 else 'differ'}); only "
                f"{', '.join(RESUME_MAY_CHANGE)} and [output] may change on --resume"
            )
    if epoch > recipe.train.epochs:
        # Training would stop at once and report the longer run as if it were this one.
        raise RecipeError(
            f"{checkpoint}: the checkpoint is at epoch {epoch}, more than the "
            f"{recipe.train.epochs} epochs asked for ($.train.epochs in {recipe.where}); "
            f"resume with train.epochs >= {epoch}, or start afresh"
        )
    return epoch


def _check_size(recipe: Recipe) -> None:
    """Refuse declared layers over `PURENET_MAX_PARAMETERS` before anything is allocated."""
    try:
        check_parameters(recipe.model.sizes, f"{recipe.where}: $.model.sizes")
    except ValueError as exc:
        raise RecipeError(str(exc)) from None


def _epoch_metrics(report: EpochReport) -> dict[str, float]:
    """An epoch's train and validation scores, and its L2 penalty when the run has one."""
    scores = {
        key: float(value)
        for key, value in attrs.asdict(report).items()
        if value is not None and key.startswith(("train_", "valid_"))
    }
    return {**scores, "l2_penalty": report.l2_penalty} if report.l2_penalty else scores


def _final_metrics(result: TrainResult, test: AnyEvaluation | None) -> dict[str, float]:
    """The model's metrics: its epoch's scores (the best one when one is kept), the run's
    length and time, and the test evaluation."""
    best = result.history[result.best_epoch - 1]
    metrics: dict[str, float] = {
        "epochs": float(len(result.history)),
        "best_epoch": float(result.best_epoch),
        **_epoch_metrics(best),
        "seconds": float(sum(r.seconds for r in result.history)),
    }
    if test is not None:
        metrics.update({f"test_{name}": value for name, value in test.metrics().items()})
    return metrics


def _evaluate_test(model: Model, recipe: Recipe, prepared: PreparedData) -> AnyEvaluation | None:
    """The trained model on the raw test set, or None without one."""
    if prepared.test_raw is None:
        return None
    source = source_name(recipe.data.test)
    return evaluate_model(model, prepared.test_raw.x, prepared.test_raw.y, source=source)


def _save_last(path: Path, best: Model, result: TrainResult, *, compact: bool) -> None:
    """The last epoch's model beside the best one (`keep_best`, early stopping)."""
    last = result.history[-1]
    metrics = {
        "epochs": float(len(result.history)),
        **_epoch_metrics(last),
        "seconds": float(sum(r.seconds for r in result.history)),
    }
    meta = attrs.evolve(best.meta, metrics=metrics)
    last_model = attrs.evolve(best, params=result.last_params, meta=meta)  # type: ignore[arg-type]
    save_model(path, last_model, compact=compact)


def training_call(
    recipe: Recipe, prepared: PreparedData
) -> tuple[Architecture, Params, dict[str, Any]]:
    """What `run_recipe` gives `train` for a recipe, but its checkpoint, callbacks and resume:
    the architecture, the initial parameters and the keyword arguments. `train(arch, params,
    recipe.optimizer, prepared.train, **options)` trains the run's model (`purenet bench-run`
    times it so)."""
    spec, model_spec = recipe.train, recipe.model
    arch = model_spec.architecture()
    params = init(arch, seed=spec.seed, scheme=model_spec.init, dtype=spec.dtype)
    track = Track(spec.track, spec.track_every) if spec.track else None  # type: ignore[arg-type]
    options = {
        "epochs": spec.epochs,
        "batch_size": len(prepared.train) if spec.batch_size == "full" else int(spec.batch_size),
        "seed": spec.seed,
        "l2": spec.l2,
        "valid": prepared.valid,
        "augment": prepared.augment,
        "early_stopping": spec.early_stopping,
        "track": track,
        "schedule_per": spec.schedule_per,
        "keep_best": spec.keep_best_monitor(),
        "reduce_on_plateau": spec.reduce_on_plateau,
        "clip_norm": spec.clip_norm,
        "class_weights": _class_weights(recipe, prepared.labels),
        "test": prepared.test if spec.test_curve else None,
    }
    return arch, params, options


def output_folder(recipe: Recipe, out_dir: str | os.PathLike[str] | None = None) -> Path:
    """The run folder: `out_dir` when given, else `[output] dir`, else `runs/run`."""
    return Path(out_dir if out_dir is not None else recipe.output.dir or "runs/run")


def run_checkpoint(recipe: Recipe, out: Path) -> Checkpoint:
    """The checkpoint of a run folder: `checkpoint.json` by the recipe's rule, its history in
    `metrics.jsonl` and its tracked values in `tracked.jsonl`."""
    return Checkpoint(
        out / CHECKPOINT_FILE,
        every=recipe.train.checkpoint_every,
        seconds=recipe.train.checkpoint_seconds,
        history=out / METRICS_FILE,
        tracked=out / TRACKED_FILE,
    )


def _class_weights(recipe: Recipe, labels: tuple[str, ...]) -> dict[int, float] | None:
    """`[train] class_weights` by class index, its keys read as indices or class names."""
    weights = recipe.train.class_weights
    if weights is None:
        return None
    indices: dict[int, float] = {}
    for key, weight in weights.items():
        if key in labels:
            indices[labels.index(key)] = weight
        elif key.isdigit() and int(key) < len(labels):
            indices[int(key)] = weight
        else:
            raise RecipeError(
                f"{recipe.where}: $.train.class_weights.{key}: not a class; classes are "
                f"0..{len(labels) - 1} or their names: {', '.join(labels)}"
            )
    return indices


def _start_folder(out: Path, recipe: Recipe, *, fresh: bool) -> dict[str, Any]:
    """Make the run folder ready to train into; returns the recipe as data.

    Called once the data fit the recipe, so a recipe that fails leaves the folder as it was.
    A `fresh` run removes an earlier run's files (its figures, tracked values or model must
    not outlive it); a resumed one keeps them (`train` cuts the metrics and tracked lines
    back to those its checkpoint marks). Temp files left by a killed atomic write are
    removed either way.
    """
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out, (RECIPE_FILE, *RUN_FILES))
    if fresh:
        for name in RUN_FILES:
            (out / name).unlink(missing_ok=True)
    recipe_data = dump_recipe(recipe)
    write_text_atomic(out / RECIPE_FILE, to_toml(recipe_data))
    return recipe_data


def run_recipe(
    recipe: Recipe,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    resume: bool = False,
    limit: int | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    on_epoch: Callable[[EpochReport], None] | None = None,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> RunResult:
    """Run a recipe end to end and write its run folder.

    Args:
        recipe: the recipe (from `load_recipe`).
        out_dir: the run folder; default `recipe.output.dir`, else `runs/run`. A fresh run
            replaces the files of an earlier run in that folder: once the data are loaded
            and fit the recipe, it removes `RUN_FILES` (checkpoint, metrics, tracked values,
            model, the figures of `purenet.plots.FIGURES` as .png and .svg); other files in
            the folder are left alone.
        resume: continue from the folder's checkpoint, or start from the beginning when
            it has none yet (`RunResult.started_over`) (the recipe may change only
            `train.epochs`, and not below the checkpoint's epoch); the result equals an
            uninterrupted run's.
        limit: use only the first `limit` training and test rows (for smoke tests).
        data_dir: a folder to look for named data sets in first.
        on_epoch: called with each `EpochReport` after its checkpoint and metrics line are
            written.
        on_batch: called with a `BatchReport` after each optimizer step.

    Returns:
        A `RunResult`.

    Raises:
        RecipeError: the recipe does not fit its data, declares more parameters than
            `PURENET_MAX_PARAMETERS` (checked before anything is allocated), or `resume` with
            a changed recipe or
            fewer epochs than the checkpoint holds.
        PurenetError: unreadable data, an unreadable checkpoint, a diverged run
            (`DivergenceError`, the last good checkpoint kept).
        RunInterrupted: Ctrl-C; the last checkpoint is kept for `resume=True`.

    Example:
        >>> from purenet.recipe.load import load_recipe
        >>> result = run_recipe(load_recipe("recipes/mnist.toml"), limit=1000)  # doctest: +SKIP
        >>> sorted(p.name for p in result.out_dir.iterdir())  # doctest: +SKIP
        ['checkpoint.json', 'metrics.jsonl', 'model.json', 'recipe.toml']
    """
    if limit is not None and limit < 2:
        raise ValueError(f"limit must be >= 2, found {limit}")
    started = time.perf_counter()
    threads = recipe.train.threads if recipe.train.threads is not None else free_cores()
    with limit_threads(threads, explicit=recipe.train.threads is not None):
        result = _run(recipe, out_dir, resume, limit, data_dir, on_epoch, on_batch)
    return attrs.evolve(result, threads=threads, wall_seconds=time.perf_counter() - started)


def _run(
    recipe: Recipe,
    out_dir: str | os.PathLike[str] | None,
    resume: bool,
    limit: int | None,
    data_dir: str | os.PathLike[str] | None,
    on_epoch: Callable[[EpochReport], None] | None,
    on_batch: Callable[[BatchReport], None] | None,
) -> RunResult:
    """`run_recipe` inside its BLAS thread limit."""
    _check_size(recipe)
    out = output_folder(recipe, out_dir)
    resumed_epoch = _check_resumable(out, recipe) if resume else None
    started_over = resume and resumed_epoch is None
    prepared = prepare_data(recipe, limit=limit, data_dir=data_dir)
    key = "--out" if out_dir is not None else f"{recipe.where}: $.output.dir"
    check_before_training(recipe, prepared, out, key=key)
    recipe_data = _start_folder(out, recipe, fresh=resumed_epoch is None)

    spec = recipe.train
    arch, params, options = training_call(recipe, prepared)
    checkpoint_path = out / CHECKPOINT_FILE
    try:
        result = train(
            arch,
            params,
            recipe.optimizer,
            prepared.train,
            checkpoint=run_checkpoint(recipe, out),
            on_epoch=on_epoch,
            on_batch=on_batch,
            resume=checkpoint_path if resumed_epoch is not None else None,
            **options,
        )
    except KeyboardInterrupt:
        kept = checkpoint_path if checkpoint_path.is_file() else None
        # The checkpoint may be newer than the last metrics line: it names the epoch.
        epoch = read_checkpoint_epoch(kept) if kept is not None else 0
        raise RunInterrupted(out, epoch, kept) from None
    except ValueError as exc:
        raise RecipeError(f"{recipe.where}: $.train: {exc}") from None

    # Model's fields convert with tuple(), which mypy cannot see through.
    model = Model(
        arch,
        result.params,  # type: ignore[arg-type]
        prepared.preprocess,  # type: ignore[arg-type]
        prepared.labels,  # type: ignore[arg-type]
        targets=prepared.targets,
        multilabel=prepared.multilabel,
    )
    test = _evaluate_test(model, recipe, prepared)
    metrics = _final_metrics(result, test)
    model = attrs.evolve(model, meta=ModelMeta(recipe=recipe_data, metrics=metrics))
    save_model(out / MODEL_FILE, model, compact=recipe.output.compact)
    if spec.keep_best_monitor() is not None or spec.early_stopping is not None:
        _save_last(out / MODEL_LAST_FILE, model, result, compact=recipe.output.compact)
    if recipe.output.plots:
        from purenet.run.plot import plot_run

        try:
            plot_run(out, names=recipe.output.plots, data_dir=data_dir, recipe_files=True)
        except KeyboardInterrupt:
            epochs = len(result.history)
            raise RunInterrupted(out, epochs, checkpoint_path, model_written=True) from None
    return RunResult(
        out,
        model,
        result.history,
        metrics,
        test,
        result.stopped_early,
        started_over,
        resumed_from=resumed_epoch or 0,
    )
