"""The `purenet bench` report: its records, its JSON form and its table."""

from __future__ import annotations

from typing import Any

import attrs
from rich import box
from rich.table import Table

from purenet.cli.bench_small import SmallResult
from purenet.cli.contenders import Timing, plain_data

FORMAT = "purenet.bench"

FORMAT_VERSION = 2
"""2: `ratios` (name, value) replace version 1's pass/fail `targets`; `small_batches` added."""

RATIOS = (
    ("purenet", "jax-scan"),
    ("purenet", "jax-jit"),
    ("purenet", "numpy-reference"),
    ("purenet", "purenet-numpy"),
    ("floor", "purenet"),
    ("purenet", "per-sample"),
    ("purenet", "torch"),
    ("purenet", "torch-compile"),
    ("purenet", "sklearn"),
)
"""(a, b): the epoch ratios `a / b` the report gives when both ran (`floor`: the GEMM floor)."""


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
class Ratio:
    """A ratio of two medians, `name` = `"a / b"` (seconds over seconds; < 1: a is faster)."""

    name: str
    value: float


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
        small_batches: the small-batch job's per-step timings (`bench_small`).
        ratios: epoch ratios (`RATIOS`) and small-batch speed-ups, as measured.
    """

    job: dict[str, Any]
    environment: dict[str, Any]
    gemm_floor: Timing
    contenders: tuple[ContenderResult, ...]
    skipped: tuple[tuple[str, str], ...]
    inference: dict[str, Any]
    small_batches: tuple[SmallResult, ...]
    ratios: tuple[Ratio, ...]

    def to_json(self) -> dict[str, Any]:
        """The report as JSON data (dicts, lists, str, numbers, bools, None)."""
        data = plain_data(attrs.asdict(self))
        data["skipped"] = [{"name": n, "reason": r} for n, r in self.skipped]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}


def _seconds(value: float) -> str:
    return f"{value:.3f}" if value >= 0.1 else f"{value:.4f}"


def render_bench(report: BenchReport) -> Table:
    """Rich tables of the report: the epoch job (one row per contender plus the GEMM floor)
    and the small-batch job; 80 columns wide at most.

    Args:
        report: from `run_bench`.

    Returns:
        A `rich.table.Table` grid holding both; captions give the data, threads, BLAS,
        inference and the ratios.

    Example:
        >>> from rich.console import Console
        >>> Console().print(render_bench(run_bench(quick=True, repeats=1)))  # doctest: +SKIP
    """
    grid = Table.grid()
    grid.add_row(_epoch_table(report))
    if report.small_batches:
        grid.add_row(_small_table(report))
    return grid


def _epoch_table(report: BenchReport) -> Table:
    job, env = report.job, report.environment
    table = Table(
        title=f"{job['epochs']} epoch(s) x {job['repeats']}, {job['train_samples']} samples, "
        f"{'-'.join(map(str, job['sizes']))}, batch {job['batch_size']}, {job['dtype']}",
        box=box.SIMPLE_HEAD,
        width=80,
    )
    table.add_column("contender", overflow="fold")
    for header in ("s/epoch", "min", "max", "x ref", "floor", "+MiB"):
        table.add_column(header, justify="right")
    for c in report.contenders:
        t = c.seconds_per_epoch
        table.add_row(
            c.name + ("*" if c.scaled_to_epoch else ""),
            _seconds(t.median),
            _seconds(t.min),
            _seconds(t.max),
            "-" if c.ratio_to_reference is None else f"{c.ratio_to_reference:.2f}",
            f"{c.floor_fraction:.2f}",
            f"{c.rss_growth_mib:.0f}",
        )
    floor = report.gemm_floor
    table.add_row(
        "GEMM floor", _seconds(floor.median), _seconds(floor.min), _seconds(floor.max),
        "-", "1.00", "-",
    )  # fmt: skip
    blas = env["blas"]
    inference = report.inference
    scaled = [c for c in report.contenders if c.scaled_to_epoch]
    lines = [
        f"data: {job['data']}; threads: {env['threads']}; BLAS: {blas.get('name')} "
        f"{blas.get('version')} ({blas.get('threads')} threads)",
        f"predict {inference['predict_samples']} samples: "
        f"{_seconds(inference['predict_seconds']['median'])} s; load_model "
        f"({inference['model_file_bytes'] / 1e6:.1f} MB): "
        f"{_seconds(inference['load_model_seconds']['median'])} s (medians)",
    ]
    lines += [f"* scaled from {c.timed_samples} samples" for c in scaled[:1]]
    epoch_ratios = [r for r in report.ratios if "batch" not in r.name]
    if epoch_ratios:
        lines.append("ratios: " + "; ".join(f"{r.name} {r.value:.2f}" for r in epoch_ratios))
    if report.skipped:
        lines.append("skipped: " + "; ".join(f"{n} ({r})" for n, r in report.skipped))
    table.caption = "\n".join(lines)
    return table


def _small_table(report: BenchReport) -> Table:
    table = Table(
        title="small batches: 784-200-10 sigmoid/MSE, SGD 0.1, float32 (per step)",
        box=box.SIMPLE_HEAD,
        width=80,
    )
    table.add_column("batch", justify="right")
    table.add_column("contender")
    for header in ("us/step", "min", "max", "x purenet"):
        table.add_column(header, justify="right")
    purenet = {r.batch_size: r.seconds_per_step.median for r in report.small_batches
               if r.name == "purenet"}  # fmt: skip
    for r in report.small_batches:
        t = r.seconds_per_step
        base = purenet.get(r.batch_size)
        table.add_row(
            str(r.batch_size), r.name, f"{t.median * 1e6:.1f}", f"{t.min * 1e6:.1f}",
            f"{t.max * 1e6:.1f}", "-" if base is None else f"{t.median / base:.2f}",
        )  # fmt: skip
    steps = sorted({(r.batch_size, r.steps) for r in report.small_batches})
    table.caption = "steps timed: " + ", ".join(f"{n} at batch {b}" for b, n in steps)
    return table
