"""`purenet bench`: the canonical training job, timed against what a user would pick instead.

The job: Fashion-MNIST's 60,000 training images (found by `load_dataset`, or a synthetic set of
the same shape when they cannot be loaded and no `data_dir` was given), a 784-256-128-10 ReLU
network with a softmax output and cross-entropy, SGD with momentum 0.9, learning rate 0.05,
batches of 128, float32.

Contenders, timed in one process, interleaved (A B C A B C ...) after one warm-up run each:

- `purenet`: `purenet.training.loop.train`, the real loop, one call per timed run;
- `numpy-reference`: the straightforward numpy loop (out-of-place expressions, a fancy-index
  gather per batch), kept here as the baseline of every ratio;
- `per-sample`: the tutorials' style, one sample at a time as column vectors, with an update
  per mini-batch, written as Nielsen's `network.py` (`backprop` returns new gradient lists,
  summed into new lists); timed on 2,000 samples and scaled to an epoch;
- `torch` (eager, `torch.nn` + `torch.optim.SGD`) and `sklearn` (`MLPClassifier.partial_fit`),
  each only when installed, with the same hyperparameters, initial weights (torch) and threads.

Figures (all seconds are wall time, `time.perf_counter`):

- seconds per epoch: median, min and max over the repeats (each repeat trains `epochs` epochs
  from the same initial weights and is divided by `epochs`);
- ratio to reference: a contender's median over numpy-reference's median;
- GEMM floor: the eight matrix products of one training step (three forward, three weight
  gradients, two back-propagated deltas) at the job's shapes, timed alone with preallocated
  outputs in every round, median step time times `n / batch_size`; a contender's floor
  fraction is floor / its median (1.0 would mean it does nothing but those products);
- peak RSS: the resident-memory high-water mark of this process while the contender ran (Linux:
  reset before each run through `/proc/self/clear_refs`; elsewhere the process peak so far).
  It includes what the bench holds for everyone (the data set as uint8 and float32, torch's
  copy of it, the libraries), so the table shows the growth instead: peak minus the resident
  memory just before the run, what the contender itself allocated;
- inference: `predict` on the 10,000 test images and `load_model` of the trained model's file.

Example:
    >>> from purenet.cli.bench import run_bench
    >>> report = run_bench(quick=True, repeats=1, contenders=("purenet", "numpy-reference"))
    >>> sorted(c.name for c in report.contenders)
    ['numpy-reference', 'purenet']
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import attrs
import numpy as np
import typer
from rich.console import Console

from purenet.cli.bench_machine import (
    blas_info,
    default_threads,
    limit_threads,
    reset_peak_rss,
    rss_mib,
)
from purenet.cli.bench_report import (
    RATIOS,
    BenchReport,
    ContenderResult,
    Ratio,
    render_bench,
)
from purenet.cli.bench_small import SmallResult, run_small, small_ratios
from purenet.cli.common import errors, user_errors
from purenet.cli.contenders import (
    BATCH_SIZE,
    CONTENDERS,
    LEARNING_RATE,
    MOMENTUM,
    PER_SAMPLE_TIMED,
    QUICK_SIZES,
    SIZES,
    Contender,
    PurenetContender,
    Timing,
    TorchContender,
    gemm_step_seconds,
    make_contenders,
    time_inference,
    version_of,
)
from purenet.core.checks import COUNT, check_all
from purenet.data.dataset import Dataset
from purenet.data.load import load_dataset
from purenet.errors import PurenetError
from purenet.nn.model import Architecture, Params, init
from purenet.pipeline.transforms import flatten, scale

# ---------------------------------------------------------------------------------------------
# data


def _synthetic(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))


def _model_input(ds: Dataset) -> Dataset:
    return Dataset(flatten(scale(ds.x, low=0.0, high=1.0)), ds.y.astype(np.int64))


def _load_job_data(
    quick: bool, data_dir: str | os.PathLike[str] | None
) -> tuple[Dataset, Dataset, str]:
    """The job's train and test sets (model input) and a description of where they came from.

    Fashion-MNIST is found by `load_dataset` (data_dir, `$PURENET_DATA_DIR`, the fetch cache,
    else a verified download). Without `data_dir`, a synthetic set of the same shape stands in
    when it cannot be had; with one, that is an error.
    """
    if quick:
        train_n, test_n, _ = QUICK_SIZES
        return (
            _model_input(_synthetic(train_n, 1)),
            _model_input(_synthetic(test_n, 2)),
            f"synthetic ({train_n} x 28 x 28 uint8, --quick)",
        )
    try:
        train = load_dataset("fashion-mnist", "train", data_dir=data_dir)
        test = load_dataset("fashion-mnist", "test", data_dir=data_dir)
    except PurenetError as error:
        if data_dir is not None:
            raise
        return (
            _model_input(_synthetic(60000, 1)),
            _model_input(_synthetic(10000, 2)),
            f"synthetic (60000 x 28 x 28 uint8; Fashion-MNIST not loaded: {error})",
        )
    return _model_input(train), _model_input(test), "fashion-mnist train"


def _ratios(
    medians: dict[str, float], floor: float, small: tuple[SmallResult, ...]
) -> tuple[Ratio, ...]:
    """The `RATIOS` of the epoch medians that ran, then the small-batch speed-ups."""
    known = {**medians, "floor": floor}
    ratios = [
        Ratio(f"{a} / {b}", known[a] / known[b]) for a, b in RATIOS if a in known and b in known
    ]
    ratios += [Ratio(name, value) for name, value in small_ratios(small).items()]
    return tuple(ratios)


def run_bench(
    *,
    threads: int | None = None,
    epochs: int = 1,
    repeats: int = 5,
    quick: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    contenders: Sequence[str] | None = None,
    small_batches: bool = True,
    on_progress: Callable[[str], None] | None = None,
) -> BenchReport:
    """Time the canonical job for every contender, interleaved, and measure the GEMM floor.

    Args:
        threads: BLAS (and torch) threads for every contender; default: the CPUs this process
            may run on. Setting it needs `threadpoolctl` (the `bench` extra).
        epochs: epochs per timed run, >= 1.
        repeats: timed runs per contender (after one warm-up run each), >= 1; use >= 5 for
            figures worth quoting.
        quick: a small synthetic job (512 training samples) for tests and smoke checks.
        data_dir: a folder to look in first for the Fashion-MNIST files (itself or its
            `fashion-mnist/`); they are found as `load_dataset` finds them (then
            `$PURENET_DATA_DIR`, the fetch cache, a download). Without `data_dir`, a synthetic
            set of the same shape stands in when they cannot be had.
        contenders: names from `CONTENDERS` (default: all; torch and sklearn are skipped with
            a reason when not installed).
        small_batches: also time the small-batch job (`purenet.cli.bench_small`).
        on_progress: called with a short message before each timed run.

    Returns:
        A `BenchReport`; `report.to_json()` is the `--json` output.

    Raises:
        PurenetError: an unknown contender, bad counts, or (with `data_dir`) no Fashion-MNIST.
        MissingExtraError: `threads` given but `threadpoolctl` is not installed.

    Example:
        >>> report = run_bench(quick=True, repeats=1, contenders=("numpy-reference",))
        >>> report.contenders[0].name
        'numpy-reference'
    """
    names = _check_request(contenders, threads, epochs, repeats)
    progress = on_progress or (lambda message: None)
    explicit = threads is not None
    threads = threads if threads is not None else default_threads()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    train, test, description = _load_job_data(quick, data_dir)
    arch = Architecture(SIZES, hidden="relu", output="softmax", loss="cross_entropy")
    params = init(arch, seed=0)
    per_sample_timed = QUICK_SIZES[2] if quick else PER_SAMPLE_TIMED
    with ExitStack() as stack:
        stack.enter_context(limit_threads(threads, explicit))
        made, skipped = make_contenders(names, arch, params, train, threads, per_sample_timed)
        for contender in made:
            if isinstance(contender, TorchContender):
                torch_threads = contender.torch.get_num_threads()
                contender.torch.set_num_threads(threads)
                stack.callback(contender.torch.set_num_threads, torch_threads)
        blas = blas_info()
        rounds = _time_rounds(made, params, train, epochs, repeats, progress)
        trained = next((c.trained for c in made if isinstance(c, PurenetContender)), params)
        progress("inference")
        inference = time_inference(arch, trained, test, repeats)
        small: tuple[SmallResult, ...] = ()
        if small_batches:
            small, small_skipped = run_small(
                train.x, train.y, threads=threads, repeats=repeats, quick=quick, progress=progress
            )
            skipped += small_skipped

    floor = Timing.of(rounds.floor)
    medians = {name: statistics.median(times) for name, times in rounds.runs.items()}
    reference = medians.get("numpy-reference")
    results = tuple(
        ContenderResult(
            name=c.name,
            seconds_per_epoch=Timing.of(rounds.runs[c.name]),
            ratio_to_reference=None if reference is None else medians[c.name] / reference,
            floor_fraction=floor.median / medians[c.name],
            peak_rss_mib=rounds.peaks[c.name],
            rss_growth_mib=rounds.growth[c.name],
            rss_scope="contender" if rounds.can_reset else "process",
            threads=threads,
            timed_samples=c.timed_samples,
            scaled_to_epoch=c.scaled_to_epoch,
            version=c.version,
        )
        for c in made
    )
    job = _describe_job(description, train, test, epochs, repeats, per_sample_timed)
    environment = {
        "threads": threads,
        "threads_controlled": explicit or version_of("threadpoolctl") is not None,
        "blas": blas,
        "cpu_count": os.cpu_count(),
        "load_average_before": None if load_before is None else list(load_before),
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "versions": {
            "python": platform.python_version(),
            "purenet": version_of("purenet"),
            "numpy": np.__version__,
            "scipy": version_of("scipy"),
            "torch": version_of("torch"),
            "scikit-learn": version_of("scikit-learn"),
            "threadpoolctl": version_of("threadpoolctl"),
        },
    }
    return BenchReport(
        job=job,
        environment=environment,
        gemm_floor=floor,
        contenders=results,
        skipped=tuple(skipped),
        inference=inference,
        small_batches=small,
        ratios=_ratios(medians, floor.median, small),
    )


def _check_request(
    contenders: Sequence[str] | None, threads: int | None, epochs: int, repeats: int
) -> tuple[str, ...]:
    """The contender names to run, once the request is known to be valid."""
    names = CONTENDERS if contenders is None else tuple(contenders)
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown or not names:
        raise PurenetError(
            f"unknown contender {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from: {', '.join(CONTENDERS)}"
        )
    counts = {"epochs": epochs, "repeats": repeats}
    if threads is not None:
        counts["threads"] = threads
    try:
        check_all(dict.fromkeys(counts, COUNT), counts)
    except (TypeError, ValueError) as error:
        raise PurenetError(str(error)) from None
    return names


@attrs.frozen
class _Rounds:
    """Raw timings: seconds per epoch of every run by contender, the floor's, memory peaks."""

    runs: dict[str, list[float]]
    floor: list[float]
    peaks: dict[str, float]
    growth: dict[str, float]
    can_reset: bool


def _time_rounds(
    made: Sequence[Contender],
    params: Params,
    train: Dataset,
    epochs: int,
    repeats: int,
    progress: Callable[[str], None],
) -> _Rounds:
    """One warm-up run each, then `repeats` interleaved rounds (floor, then each contender)."""
    steps_per_epoch = len(train) / BATCH_SIZE
    gemm_reps = max(20, math.ceil(steps_per_epoch))
    rounds = _Rounds(
        runs={c.name: [] for c in made},
        floor=[],
        peaks={c.name: 0.0 for c in made},
        growth={c.name: 0.0 for c in made},
        can_reset=reset_peak_rss(),
    )
    progress("warm-up")
    gemm_step_seconds(params, train.x, 5)
    for contender in made:
        progress(f"warm-up: {contender.name}")
        contender.run(1)
    for r in range(repeats):
        progress(f"round {r + 1}/{repeats}: GEMM floor")
        rounds.floor.append(gemm_step_seconds(params, train.x, gemm_reps) * steps_per_epoch)
        for contender in made:
            progress(f"round {r + 1}/{repeats}: {contender.name}")
            reset_peak_rss()
            before = rss_mib("VmRSS")
            rounds.runs[contender.name].append(contender.run(epochs))
            peak = rss_mib()
            rounds.peaks[contender.name] = max(rounds.peaks[contender.name], peak)
            rounds.growth[contender.name] = max(rounds.growth[contender.name], peak - before)
    return rounds


def _describe_job(
    description: str, train: Dataset, test: Dataset, epochs: int, repeats: int, timed: int
) -> dict[str, Any]:
    return {
        "data": description,
        "train_samples": len(train),
        "test_samples": len(test),
        "sizes": list(SIZES),
        "hidden": "relu",
        "output": "softmax",
        "loss": "cross_entropy",
        "optimizer": {"kind": "sgd", "learning_rate": LEARNING_RATE, "momentum": MOMENTUM},
        "batch_size": BATCH_SIZE,
        "dtype": "float32",
        "epochs": epochs,
        "repeats": repeats,
        "warmup_runs": 1,
        "per_sample_timed_samples": min(timed, len(train)),
    }


# ---------------------------------------------------------------------------------------------
# rendering and the command


def bench_command(
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="BLAS/torch threads (default: all CPUs).")
    ] = None,
    epochs: Annotated[int, typer.Option("--epochs", min=1, help="Epochs per timed run.")] = 1,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Timed runs per contender (after a warm-up).")
    ] = 5,
    quick: Annotated[
        bool, typer.Option("--quick", help="Small synthetic job, for tests and smoke checks.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder with the Fashion-MNIST files.", file_okay=False),
    ] = None,
    contender: Annotated[
        list[str] | None,
        typer.Option("--contender", "-c", help=f"Run only these ({', '.join(CONTENDERS)})."),
    ] = None,
    small: Annotated[
        bool, typer.Option("--small/--no-small", help="Also time batches of 1 and 10.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time the canonical training job against numpy, per-sample loops, JAX, torch and sklearn."""
    with user_errors(), errors.status("benchmarking") as status:
        report = run_bench(
            threads=threads,
            epochs=epochs,
            repeats=repeats,
            quick=quick,
            data_dir=data_dir,
            contenders=contender or None,
            small_batches=small,
            on_progress=lambda message: status.update(f"benchmarking: {message}"),
        )
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    else:
        Console().print(render_bench(report))
