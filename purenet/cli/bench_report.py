"""The `purenet bench` report: its records, its JSON form and its table."""

from __future__ import annotations

from typing import Any

import attrs
from rich.table import Table

from purenet.cli.contenders import Timing, plain_data

FORMAT = "purenet.bench"

FORMAT_VERSION = 1

TARGETS = (
    ("purenet / numpy-reference", "purenet", "numpy-reference", "<=", 0.85),
    ("GEMM floor / purenet", "purenet", "floor", ">=", 0.75),
    ("purenet / per-sample", "purenet", "per-sample", "<=", 1 / 20),
    ("purenet / torch", "purenet", "torch", "<=", 0.65),
)
"""(name, contender, versus, comparison, bound): the speed targets of issue 8."""


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
        data = plain_data(attrs.asdict(self))
        data["skipped"] = [{"name": n, "reason": r} for n, r in self.skipped]
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}


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
