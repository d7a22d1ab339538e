"""`purenet bench-run RECIPE`: what a run's bookkeeping costs beside its training.

A recipe's training call (`purenet.run.runner.training_call`: the model, data and options
`purenet run` trains with) runs in four variants, interleaved, after one untimed warm-up of each:

- `bare`: `train` alone;
- `checkpoint`: with the run folder's checkpoint and its logs (`metrics.jsonl`, `tracked.jsonl`)
  in a temporary folder, by the recipe's rule (a minute, or `checkpoint_every`);
- `progress`: with `purenet run`'s progress display (`purenet.cli.progress.RunProgress`) drawing
  to a terminal that is not shown;
- `both`: as `purenet run` trains.

Each is timed in CPU time (`time.process_time`: other processes on the machine do not count)
and in wall time (`time.perf_counter`: waits for the disk, fsync included, count); the least of
each over the repeats is reported, with the differences to `bare` and the wall difference as a
share of the whole `run_recipe` (the least `wall_seconds` of two runs, reported beside).

Example:
    >>> rows = bookkeeping_rows(load_recipe("microchips"), repeats=1)  # doctest: +SKIP
    >>> [row.variant for row in rows]  # doctest: +SKIP
    ['bare', 'checkpoint', 'progress', 'both']
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any

import attrs
import typer
from rich.console import Console
from rich.table import Table

from purenet.cli.common import DataDir, errors, user_errors
from purenet.cli.progress import RunProgress
from purenet.recipe.schema import Recipe
from purenet.run.prepare import prepare_data
from purenet.run.runner import run_checkpoint, run_recipe, training_call
from purenet.training.loop import train

VARIANTS = ("bare", "checkpoint", "progress", "both")
"""The ways the training call runs, in the order they are timed."""


@attrs.frozen
class BookkeepingRow:
    """One variant of the training call.

    Attributes:
        variant: one of `VARIANTS`.
        seconds: the least CPU time over the repeats.
        added: `seconds` minus the bare call's.
        wall: the least wall time over the repeats.
        wall_added: `wall` minus the bare call's.
        run_wall: the whole run's wall time (`run_recipe`, data to last file).
        share: `wall_added` over `run_wall`.
    """

    variant: str
    seconds: float
    added: float
    wall: float
    wall_added: float
    run_wall: float
    share: float


def bookkeeping_rows(
    recipe: Recipe,
    *,
    repeats: int = 7,
    limit: int | None = None,
    data_dir: str | Path | None = None,
) -> list[BookkeepingRow]:
    """Time the recipe's training call bare, with its checkpoint and logs, with the progress
    display, and with both (see the module docstring); one row per variant."""
    walls = []
    for _ in range(2):  # the second run finds the data and compiled kernels cached
        with tempfile.TemporaryDirectory() as folder:
            run = run_recipe(recipe, out_dir=folder, limit=limit, data_dir=data_dir)
            walls.append(run.wall_seconds)
    wall = min(walls)
    prepared = prepare_data(recipe, limit=limit, data_dir=data_dir)
    cpu: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    walls_of: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for round_ in range(repeats + 1):  # round 0 warms up (kernels compiled or loaded)
        for variant in VARIANTS:
            seconds, elapsed = _timed(recipe, prepared, variant)
            if round_:
                cpu[variant].append(seconds)
                walls_of[variant].append(elapsed)
    bare, bare_wall = min(cpu["bare"]), min(walls_of["bare"])
    rows = []
    for variant in VARIANTS:
        seconds, elapsed = min(cpu[variant]), min(walls_of[variant])
        added = elapsed - bare_wall
        rows.append(
            BookkeepingRow(variant, seconds, seconds - bare, elapsed, added, wall, added / wall)
        )
    return rows


def _timed(recipe: Recipe, prepared: Any, variant: str) -> tuple[float, float]:
    """CPU and wall seconds of one training call in `variant`."""
    arch, params, options = training_call(recipe, prepared)
    screen = Console(file=io.StringIO(), force_terminal=True, width=100)
    bars = RunProgress.of(recipe, screen)
    with tempfile.TemporaryDirectory() as folder, ExitStack() as stack:
        if variant in ("checkpoint", "both"):
            options["checkpoint"] = run_checkpoint(recipe, Path(folder))
        if variant in ("progress", "both"):
            stack.enter_context(bars.progress)
            options.update(bars.callbacks())
        started, clock = time.process_time(), time.perf_counter()
        train(arch, params, recipe.optimizer, prepared.train, **options)
        seconds, elapsed = time.process_time() - started, time.perf_counter() - clock
    return seconds, elapsed


def run_bench_command(
    recipe: Annotated[
        Path, typer.Argument(help="Recipe file or a bundled recipe's name (microchips).")
    ],
    repeats: Annotated[int, typer.Option(min=1, help="Timed rounds (after a warm-up).")] = 7,
    limit: Annotated[
        int | None, typer.Option(min=2, help="Use only the first N training and test rows.")
    ] = None,
    data_dir: DataDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rows as JSON.")] = False,
) -> None:
    """Time a recipe's training with and without checkpoints, logs and progress display."""
    from purenet.recipe.bundled import find_recipe
    from purenet.recipe.load import load_recipe

    with user_errors(), errors.status("benchmarking"):
        spec = load_recipe(find_recipe(recipe))
        rows = bookkeeping_rows(spec, repeats=repeats, limit=limit, data_dir=data_dir)
    if as_json:
        print(json.dumps([attrs.asdict(row) for row in rows], indent=2))
        return
    run_wall = rows[0].run_wall
    table = Table(
        title=f"{recipe}: train() with its bookkeeping, least of {repeats}",
        caption=f"of the run: added wall time over the whole run's {run_wall:.3f} s",
    )
    for name in ("variant", "CPU s", "added ms", "wall s", "added ms ", "of the run"):
        table.add_column(name, justify="left" if name == "variant" else "right")
    for row in rows:
        table.add_row(
            row.variant,
            f"{row.seconds:.3f}",
            f"{1000 * row.added:.1f}",
            f"{row.wall:.3f}",
            f"{1000 * row.wall_added:.1f}",
            f"{100 * row.share:.1f}%",
        )
    Console(highlight=False).print(table)
