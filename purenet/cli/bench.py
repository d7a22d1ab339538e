"""`purenet bench`: the canonical training job, timed against what a user would pick instead.

The job: Fashion-MNIST's 60,000 training images (or a synthetic set of the same shape when the
files are nowhere on disk), a 784-256-128-10 ReLU network with a softmax output and
cross-entropy, SGD with momentum 0.9, learning rate 0.05, batches of 128, float32.

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

import importlib
import importlib.metadata
import json
import math
import os
import platform
import resource
import statistics
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated, Any

import attrs
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from purenet.cli.contenders import (
    BATCH_SIZE,
    CONTENDERS,
    LEARNING_RATE,
    MOMENTUM,
    PER_SAMPLE_TIMED,
    QUICK_SIZES,
    SIZES,
    Timing,
    _gemm_step_seconds,
    _inference,
    _make_contenders,
    _plain,
    _Purenet,
    _Torch,
    _version,
)
from purenet.data.dataset import Dataset
from purenet.data.load import load_dataset
from purenet.errors import PurenetError, require_extra
from purenet.nn.model import Architecture, init
from purenet.pipeline.transforms import flatten, scale

FORMAT = "purenet.bench"

FORMAT_VERSION = 1

TARGETS = (
    ("purenet / numpy-reference", "purenet", "numpy-reference", "<=", 0.85),
    ("GEMM floor / purenet", "purenet", "floor", ">=", 0.75),
    ("purenet / per-sample", "purenet", "per-sample", "<=", 1 / 20),
    ("purenet / torch", "purenet", "torch", "<=", 0.65),
)
"""(name, contender, versus, comparison, bound): the speed targets of issue 8."""

_FASHION_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@attrs.frozen
class ContenderResult:
    """One contender's figures.

    Attributes:
        name: a name from `CONTENDERS`.
        seconds_per_epoch: the timing of one epoch over the repeats.
        ratio_to_reference: median over numpy-reference's median (None without it).
        floor_fraction: GEMM floor over this median.
        peak_rss_mib: peak resident memory while it ran, MiB (see `rss_scope`).
        rss_growth_mib: that peak minus the resident memory just before its run (the largest
            over its runs): what the contender itself added on top of the bench's data.
        rss_scope: `contender` (the peak was reset before its runs) or `process`.
        threads: threads it was allowed (BLAS or torch intra-op threads).
        timed_samples: samples trained in one timed run.
        scaled_to_epoch: whether the time was scaled from `timed_samples` to the full epoch.
        version: the version of the package that ran it.
    """

    name: str
    seconds_per_epoch: Timing
    ratio_to_reference: float | None
    floor_fraction: float
    peak_rss_mib: float
    rss_growth_mib: float
    rss_scope: str
    threads: int
    timed_samples: int
    scaled_to_epoch: bool
    version: str


@attrs.frozen
class TargetCheck:
    """One speed target: `value` of `name` against `bound` (`comparison` `<=` or `>=`)."""

    name: str
    value: float
    comparison: str
    bound: float
    met: bool


@attrs.frozen
class BenchReport:
    """Everything one bench run measured; `to_json()` gives plain JSON data.

    Attributes:
        job: the training job (data, sizes, optimizer, batch size, dtype, epochs, repeats).
        environment: threads, BLAS, CPU count, load average, platform and versions.
        gemm_floor: seconds per epoch of the eight matrix products alone.
        contenders: the contenders that ran, in `CONTENDERS` order.
        skipped: `(name, reason)` of requested contenders that could not run.
        inference: `predict` on the test set and `load_model` timings.
        targets: the issue's speed targets that this run can check.
    """

    job: dict[str, Any]
    environment: dict[str, Any]
    gemm_floor: Timing
    contenders: tuple[ContenderResult, ...]
    skipped: tuple[tuple[str, str], ...]
    inference: dict[str, Any]
    targets: tuple[TargetCheck, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data (dicts, lists, str, numbers, bools, None)."""
        data = _plain(attrs.asdict(self))
        data["skipped"] = [{"name": n, "reason": r} for n, r in self.skipped]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}


# ---------------------------------------------------------------------------------------------
# data


def _find_fashion(data_dir: str | os.PathLike[str] | None) -> Path | None:
    """The first folder holding all four Fashion-MNIST files, without ever downloading."""
    from purenet.data.registry import default_cache_dir

    if data_dir is not None:
        roots = [Path(data_dir)]
    else:
        env = os.environ.get("PURENET_DATA_DIR")
        roots = [Path(env)] if env else []
        roots.append(default_cache_dir())
    wanted = [name for names in _FASHION_FILES.values() for name in names]
    for root in roots:
        for folder in (root / "fashion-mnist", root):
            if all(
                (folder / f"{name}.gz").is_file() or (folder / name).is_file() for name in wanted
            ):
                return root
    return None


def _synthetic(n: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n))


def _model_input(ds: Dataset) -> Dataset:
    return Dataset(flatten(scale(ds.x, low=0.0, high=1.0)), ds.y.astype(np.int64))


def _load_job_data(
    quick: bool, data_dir: str | os.PathLike[str] | None
) -> tuple[Dataset, Dataset, str]:
    if quick:
        train_n, test_n, _ = QUICK_SIZES
        return (
            _model_input(_synthetic(train_n, 1)),
            _model_input(_synthetic(test_n, 2)),
            f"synthetic ({train_n} x 28 x 28 uint8, --quick)",
        )
    root = _find_fashion(data_dir)
    if root is None:
        if data_dir is not None:
            raise PurenetError(
                f"{data_dir}: no Fashion-MNIST files (expected train-images-idx3-ubyte[.gz], "
                "train-labels-idx1-ubyte[.gz], t10k-... in it or in its fashion-mnist folder)"
            )
        return (
            _model_input(_synthetic(60000, 1)),
            _model_input(_synthetic(10000, 2)),
            "synthetic (60000 x 28 x 28 uint8; no Fashion-MNIST files found)",
        )
    train = load_dataset("fashion-mnist", "train", data_dir=root)
    test = load_dataset("fashion-mnist", "test", data_dir=root)
    return _model_input(train), _model_input(test), f"fashion-mnist train ({root})"


# ---------------------------------------------------------------------------------------------
# memory and threads


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _rss_mib(field: str = "VmHWM") -> float:
    """`VmHWM` (peak) or `VmRSS` (current) resident memory in MiB; ru_maxrss off Linux."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # ru_maxrss is KiB on Linux and bytes on macOS.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _default_threads() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _blas_info() -> dict[str, Any]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return {"name": config.get("name"), "version": config.get("version"), "threads": None}
    for pool in threadpoolctl.threadpool_info():
        if pool.get("user_api") == "blas" and "numpy" in pool.get("filepath", ""):
            return {
                "name": pool.get("internal_api"),
                "version": pool.get("version"),
                "threads": pool.get("num_threads"),
                "architecture": pool.get("architecture"),
            }
    return {"name": None, "version": None, "threads": None}


@contextmanager
def _limit_threads(threads: int, explicit: bool) -> Iterator[None]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        if explicit:
            require_extra("threadpoolctl", "bench")
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads):
        yield


def _check_targets(medians: dict[str, float], floor: float) -> tuple[TargetCheck, ...]:
    checks = []
    for name, contender, versus, comparison, bound in TARGETS:
        if contender not in medians or (versus != "floor" and versus not in medians):
            continue
        if versus == "floor":
            value = floor / medians[contender]
        else:
            value = medians[contender] / medians[versus]
        met = value <= bound if comparison == "<=" else value >= bound
        checks.append(TargetCheck(name, value, comparison, bound, met))
    return tuple(checks)


def run_bench(
    *,
    threads: int | None = None,
    epochs: int = 1,
    repeats: int = 5,
    quick: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    contenders: Sequence[str] | None = None,
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
        data_dir: the folder with the Fashion-MNIST files (itself or its `fashion-mnist/`);
            default: `$PURENET_DATA_DIR`, then the fetch cache, then a synthetic set of the
            same shape. Nothing is downloaded.
        contenders: names from `CONTENDERS` (default: all; torch and sklearn are skipped with
            a reason when not installed).
        on_progress: called with a short message before each timed run.

    Returns:
        A `BenchReport`; `report.to_json()` is the `--json` output.

    Raises:
        PurenetError: an unknown contender, bad counts, or a `data_dir` without the files.
        MissingExtraError: `threads` given but `threadpoolctl` is not installed.

    Example:
        >>> report = run_bench(quick=True, repeats=1, contenders=("numpy-reference",))
        >>> report.contenders[0].name
        'numpy-reference'
    """
    names = CONTENDERS if contenders is None else tuple(contenders)
    unknown = [name for name in names if name not in CONTENDERS]
    if unknown or not names:
        raise PurenetError(
            f"unknown contender {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from: {', '.join(CONTENDERS)}"
        )
    for label, value in (("epochs", epochs), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise PurenetError(f"{label} must be an int >= 1, got {value!r}")
    if threads is not None and (isinstance(threads, bool) or threads < 1):
        raise PurenetError(f"threads must be an int >= 1, got {threads!r}")
    progress = on_progress or (lambda message: None)
    explicit = threads is not None
    threads = threads if threads is not None else _default_threads()
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None

    train, test, description = _load_job_data(quick, data_dir)
    arch = Architecture(SIZES, hidden="relu", output="softmax", loss="cross_entropy")
    params = init(arch, seed=0)
    per_sample_timed = QUICK_SIZES[2] if quick else PER_SAMPLE_TIMED
    steps_per_epoch = len(train) / BATCH_SIZE
    gemm_reps = max(20, math.ceil(steps_per_epoch))

    with ExitStack() as stack:
        stack.enter_context(_limit_threads(threads, explicit))
        made, skipped = _make_contenders(names, arch, params, train, threads, per_sample_timed)
        torch_threads = None
        for contender in made:
            if isinstance(contender, _Torch):
                torch_threads = contender.torch.get_num_threads()
                contender.torch.set_num_threads(threads)
                stack.callback(contender.torch.set_num_threads, torch_threads)
        blas = _blas_info()
        runs: dict[str, list[float]] = {c.name: [] for c in made}
        peaks: dict[str, float] = {c.name: 0.0 for c in made}
        growth: dict[str, float] = {c.name: 0.0 for c in made}
        can_reset = _reset_peak_rss()
        progress("warm-up")
        _gemm_step_seconds(params, train.x, 5)
        for contender in made:
            progress(f"warm-up: {contender.name}")
            contender.run(1)
        floor_runs = []
        for r in range(repeats):
            progress(f"round {r + 1}/{repeats}: GEMM floor")
            floor_runs.append(_gemm_step_seconds(params, train.x, gemm_reps) * steps_per_epoch)
            for contender in made:
                progress(f"round {r + 1}/{repeats}: {contender.name}")
                _reset_peak_rss()
                before = _rss_mib("VmRSS")
                runs[contender.name].append(contender.run(epochs))
                peak = _rss_mib()
                peaks[contender.name] = max(peaks[contender.name], peak)
                growth[contender.name] = max(growth[contender.name], peak - before)
        trained = next((c.trained for c in made if isinstance(c, _Purenet)), params)
        progress("inference")
        inference = _inference(arch, trained, test, repeats)

    floor = Timing.of(floor_runs)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    reference = medians.get("numpy-reference")
    results = tuple(
        ContenderResult(
            name=c.name,
            seconds_per_epoch=Timing.of(runs[c.name]),
            ratio_to_reference=None if reference is None else medians[c.name] / reference,
            floor_fraction=floor.median / medians[c.name],
            peak_rss_mib=peaks[c.name],
            rss_growth_mib=growth[c.name],
            rss_scope="contender" if can_reset else "process",
            threads=threads,
            timed_samples=c.timed_samples,
            scaled_to_epoch=c.scaled_to_epoch,
            version=c.version,
        )
        for c in made
    )
    job = {
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
        "per_sample_timed_samples": min(per_sample_timed, len(train)),
    }
    environment = {
        "threads": threads,
        "threads_controlled": explicit or _version("threadpoolctl") is not None,
        "blas": blas,
        "cpu_count": os.cpu_count(),
        "load_average_before": None if load_before is None else list(load_before),
        "load_average_after": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "versions": {
            "python": platform.python_version(),
            "purenet": _version("purenet"),
            "numpy": np.__version__,
            "scipy": _version("scipy"),
            "torch": _version("torch"),
            "scikit-learn": _version("scikit-learn"),
            "threadpoolctl": _version("threadpoolctl"),
        },
    }
    return BenchReport(
        job=job,
        environment=environment,
        gemm_floor=floor,
        contenders=results,
        skipped=tuple(skipped),
        inference=inference,
        targets=_check_targets(medians, floor.median),
    )


# ---------------------------------------------------------------------------------------------
# rendering and the command


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value >= 0.1 else f"{value:.4f}"


def render_bench(report: BenchReport) -> Table:
    """A rich table of the report: one row per contender plus the GEMM floor.

    Args:
        report: from `run_bench`.

    Returns:
        A `rich.table.Table`; its caption gives the data, threads, BLAS, inference and the
        speed targets.

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_bench(run_bench(quick=True, repeats=1)))  # doctest: +SKIP
    """
    job, env = report.job, report.environment
    table = Table(
        title=f"purenet bench: {job['epochs']} epoch(s) x {job['repeats']} repeats, "
        f"{job['train_samples']} samples, {'-'.join(map(str, job['sizes']))}, "
        f"batch {job['batch_size']}, {job['dtype']}",
    )
    table.add_column("contender", overflow="fold")
    for header in ("s/epoch median", "min", "max", "x reference", "floor frac.", "+RSS MiB"):
        table.add_column(header, justify="right")
    for c in report.contenders:
        t = c.seconds_per_epoch
        name = c.name + (f" (scaled from {c.timed_samples})" if c.scaled_to_epoch else "")
        table.add_row(
            name,
            _seconds(t.median),
            _seconds(t.min),
            _seconds(t.max),
            "-" if c.ratio_to_reference is None else f"{c.ratio_to_reference:.2f}",
            f"{c.floor_fraction:.2f}",
            f"{c.rss_growth_mib:.0f}",
        )
    floor = report.gemm_floor
    table.add_row(
        "GEMM floor (8 products/step)",
        _seconds(floor.median),
        _seconds(floor.min),
        _seconds(floor.max),
        "-",
        "1.00",
        "-",
    )
    blas = env["blas"]
    inference = report.inference
    lines = [
        f"data: {job['data']}; threads: {env['threads']}; BLAS: {blas.get('name')} "
        f"{blas.get('version')} ({blas.get('threads')} threads); "
        + ", ".join(f"{c.name} {c.version}" for c in report.contenders if c.name != "per-sample"),
        f"predict on {inference['predict_samples']} test samples: "
        f"{_seconds(inference['predict_seconds']['median'])} s; load_model "
        f"({inference['model_file_bytes'] / 1e6:.1f} MB): "
        f"{_seconds(inference['load_model_seconds']['median'])} s (medians)",
    ]
    if report.targets:
        lines.append(
            "targets: "
            + "; ".join(
                f"{t.name} = {t.value:.3f} ({t.comparison} {t.bound:.3g}: "
                f"{'met' if t.met else 'NOT met'})"
                for t in report.targets
            )
        )
    if report.skipped:
        lines.append("skipped: " + "; ".join(f"{n} ({r})" for n, r in report.skipped))
    table.caption = "\n".join(lines)
    return table


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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Time the canonical training job against numpy, per-sample loops, torch and sklearn."""
    errors = Console(stderr=True, highlight=False)
    try:
        with errors.status("benchmarking") as status:
            report = run_bench(
                threads=threads,
                epochs=epochs,
                repeats=repeats,
                quick=quick,
                data_dir=data_dir,
                contenders=contender or None,
                on_progress=lambda message: status.update(f"benchmarking: {message}"),
            )
    except PurenetError as error:
        errors.print(f"[bold red]error:[/] [red]{escape(str(error))}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n")
    else:
        Console().print(render_bench(report))
