"""`purenet bench-sklearn`: purenet's `MLPClassifier.fit` against scikit-learn's, side by side.

Two jobs, each fitted by both estimators with the same hyperparameters, in one process,
interleaved (purenet, scikit-learn, then scikit-learn, purenet, ...) after one untimed warm-up
fit each, with `random_state` = the repeat's index for both:

- `fashion-mnist`: the canonical job: the 60,000 training images scaled to [0, 1] (float32,
  784 features), hidden layers (256, 128) with ReLU, softmax, `solver="sgd"`, `momentum=0.9`
  without Nesterov, `learning_rate_init=0.05`, `batch_size=128`, `alpha=0`, exactly `epochs`
  iterations (`n_iter_no_change` is set out of reach); scored on the 10,000 test images.
  `--quick` takes the first 6,000 training images instead.
- `digits`: scikit-learn's bundled 8x8 digits (1,797 samples, 64 features), a stratified 75/25
  split (seed 0), standardized on the training part; scikit-learn's defaults on both sides
  (hidden (100,), ReLU, Adam at 1e-3, `batch_size="auto"`, `alpha=1e-4`, at most 200
  iterations, stopping by `tol=1e-4` / `n_iter_no_change=10`), float32 on both sides.

Reported per job and library: the median fit time over the repeats (wall time,
`time.perf_counter`), the mean test accuracy and iteration count, and the ratio of
scikit-learn's median time to purenet's (above 1: purenet is faster).

Example:
    >>> rows = run_sklearn_bench(jobs=("digits",), repeats=1)
    >>> sorted({row.library for row in rows})
    ['purenet', 'scikit-learn']
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import attrs
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from purenet.cli.common import errors, fail, user_errors
from purenet.core.threads import limit_threads
from purenet.data.load import load_dataset
from purenet.errors import require_extra
from purenet.pipeline.transforms import flatten, scale

JOBS = ("fashion-mnist", "digits")
"""The jobs, in the order they run."""

FASHION = {
    "hidden_layer_sizes": (256, 128),
    "activation": "relu",
    "solver": "sgd",
    "momentum": 0.9,
    "nesterovs_momentum": False,
    "learning_rate_init": 0.05,
    "batch_size": 128,
    "alpha": 0.0,
    "n_iter_no_change": 10**9,
}
"""The canonical job's hyperparameters, as both estimators name them (plus `max_iter`)."""

QUICK_TRAIN = 6000
"""Training images of the `--quick` Fashion-MNIST job."""


@attrs.frozen
class BenchRow:
    """One library on one job.

    Attributes:
        job: `fashion-mnist` or `digits`.
        library: `purenet` or `scikit-learn`.
        seconds: median fit time over the repeats.
        times: every repeat's fit time, in order.
        accuracy: mean test accuracy over the repeats.
        iterations: mean `n_iter_` over the repeats.
        ratio: scikit-learn's median over purenet's (the same on both rows of a job).
    """

    job: str
    library: str
    seconds: float
    times: tuple[float, ...]
    accuracy: float
    iterations: float
    ratio: float


Job = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]


def _fashion(epochs: int, quick: bool, data_dir: Path | None) -> Job:
    train = load_dataset("fashion-mnist", "train", data_dir=data_dir)
    test = load_dataset("fashion-mnist", "test", data_dir=data_dir)
    n = QUICK_TRAIN if quick else len(train)
    x_train = flatten(scale(train.x[:n], low=0.0, high=1.0))
    x_test = flatten(scale(test.x, low=0.0, high=1.0))
    return x_train, train.y[:n], x_test, test.y, {**FASHION, "max_iter": epochs}


def _digits() -> Job:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(x_train)
    return (
        scaler.transform(x_train).astype(np.float32),
        y_train,
        scaler.transform(x_test).astype(np.float32),
        y_test,
        {},
    )


def run_sklearn_bench(
    *,
    jobs: Sequence[str] = JOBS,
    epochs: int = 3,
    repeats: int = 3,
    quick: bool = False,
    data_dir: Path | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Fit both libraries' `MLPClassifier` on each job, interleaved, and measure.

    Args:
        jobs: names from `JOBS`.
        epochs: iterations of the Fashion-MNIST job.
        repeats: timed fits per library and job (after one warm-up fit each).
        quick: a 6,000-image Fashion-MNIST training set.
        data_dir: where the Fashion-MNIST files are (default: `PURENET_DATA_DIR`, the cache).
        on_progress: called with a short message before each fit.

    Returns:
        Two `BenchRow`s per job (purenet first).

    Raises:
        MissingExtraError: scikit-learn is not installed.
        DataFormatError, PurenetError: the Fashion-MNIST files are missing or malformed.
        ValueError: an unknown job.
    """
    unknown = sorted(set(jobs) - set(JOBS))
    if unknown:
        raise ValueError(f"unknown job {unknown[0]!r}; jobs: {', '.join(JOBS)}")
    require_extra("sklearn", "sklearn")
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier as Theirs

    from purenet.sklearn import MLPClassifier as Ours

    rows: list[BenchRow] = []
    for job in jobs:
        x_train, y_train, x_test, y_test, settings = (
            _fashion(epochs, quick, data_dir) if job == "fashion-mnist" else _digits()
        )
        makers = {"purenet": Ours, "scikit-learn": Theirs}
        results: dict[str, list[tuple[float, float, int]]] = {name: [] for name in makers}
        order = list(makers)
        for repeat in range(-1, repeats):  # repeat -1 is the untimed warm-up
            for name in order:
                if on_progress is not None:
                    run = "warm-up" if repeat < 0 else f"{repeat + 1}/{repeats}"
                    on_progress(f"{job}: {name} {run}")
                estimator = makers[name](**settings, random_state=max(repeat, 0))
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    started = time.perf_counter()
                    estimator.fit(x_train, y_train)
                    seconds = time.perf_counter() - started
                if repeat >= 0:
                    score = float(estimator.score(x_test, y_test))
                    results[name].append((seconds, score, int(estimator.n_iter_)))
            order.reverse()
        medians = {name: statistics.median(r[0] for r in runs) for name, runs in results.items()}
        ratio = medians["scikit-learn"] / medians["purenet"]
        for name, runs in results.items():
            rows.append(
                BenchRow(
                    job=job,
                    library=name,
                    seconds=medians[name],
                    times=tuple(r[0] for r in runs),
                    accuracy=statistics.fmean(r[1] for r in runs),
                    iterations=statistics.fmean(r[2] for r in runs),
                    ratio=ratio,
                )
            )
    return rows


def render_sklearn_bench(rows: Sequence[BenchRow]) -> Table:
    """The rows as a rich table."""
    table = Table(title="MLPClassifier.fit: purenet vs scikit-learn (same hyperparameters)")
    for column in ("job", "library", "fit s (median)", "test accuracy", "iterations", "speed-up"):
        table.add_column(column, justify="left" if column in ("job", "library") else "right")
    for row in rows:
        table.add_row(
            row.job,
            row.library,
            f"{row.seconds:.2f}",
            f"{row.accuracy:.4f}",
            f"{row.iterations:.1f}",
            f"{row.ratio:.2f}x" if row.library == "purenet" else "1.00x",
        )
    return table


def sklearn_bench_command(
    job: Annotated[
        list[str] | None, typer.Option("--job", "-j", help=f"Run only these ({', '.join(JOBS)}).")
    ] = None,
    epochs: Annotated[
        int, typer.Option("--epochs", min=1, help="Iterations of the Fashion-MNIST job.")
    ] = 3,
    repeats: Annotated[
        int, typer.Option("--repeats", min=1, help="Timed fits per library (after a warm-up).")
    ] = 3,
    quick: Annotated[
        bool, typer.Option("--quick", help="6,000 Fashion-MNIST training images, not 60,000.")
    ] = False,
    data_dir: Annotated[
        Path | None,
        typer.Option("--data-dir", help="Folder with the Fashion-MNIST files.", file_okay=False),
    ] = None,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="BLAS threads (default: all CPUs).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Time purenet's MLPClassifier.fit against scikit-learn's on Fashion-MNIST and digits."""
    with user_errors(), ExitStack() as stack:
        if threads is not None:
            stack.enter_context(limit_threads(threads, explicit=True))
        status = stack.enter_context(errors.status("benchmarking"))
        try:
            rows = run_sklearn_bench(
                jobs=job or JOBS,
                epochs=epochs,
                repeats=repeats,
                quick=quick,
                data_dir=data_dir,
                on_progress=lambda message: status.update(f"benchmarking: {escape(message)}"),
            )
        except ValueError as error:  # an unknown --job
            fail(str(error))
    if as_json:
        data = [attrs.asdict(row) for row in rows]
        sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")
    else:
        Console().print(render_sklearn_bench(rows))
