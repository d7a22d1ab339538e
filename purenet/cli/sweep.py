"""`purenet sweep RECIPE`: every trial of a recipe's `[sweep]` section, with progress and a table.

    purenet sweep recipes/microchips-sweep.toml                    # local pool, all cores
    purenet sweep recipes/mnist-sweep.toml --workers 2 --threads 1
    purenet sweep recipes/mnist-sweep.toml --scheduler local-cluster
    purenet sweep recipes/mnist-sweep.toml --scheduler tcp://10.0.0.5:8786

Re-running the same command skips the finished trials. The library does the work
(`purenet.run.sweep.run_sweep`); this module parses, shows progress and renders the results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from purenet.cli.common import errors, user_errors

if TYPE_CHECKING:
    from purenet.run.sweep import SweepResult


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | dict):
        return json.dumps(value, separators=(",", ":"))
    return "-" if value is None else str(value)


def _short(path: str) -> str:
    """`optimizer.learning_rate` -> `learning_rate`: the table's column names."""
    return path.rpartition(".")[2] if not path.rpartition(".")[2].isdigit() else path


def trial_line(row: Mapping[str, Any], swept: list[str], metric: str) -> str:
    """One line of markup for a finished trial: status, id, swept values, metric, time."""
    values = "  ".join(f"{_short(p)}={_value(row.get(p))}" for p in swept)
    seconds = f"{row['wall_seconds']:.1f}s" if row.get("wall_seconds") is not None else ""
    if row["status"] == "ok":
        return f"[green]ok[/]       {row['trial']}  {escape(values)}  {metric} " + (
            f"{_value(row.get(metric))}  {seconds}"
        )
    color = "yellow" if row["status"] == "diverged" else "red"
    return (
        f"[{color}]{row['status']:<8}[/] {row['trial']}  {escape(values)}  "
        f"[{color}]{escape(str(row.get('error')))}[/]"
    )


def results_table(result: SweepResult, swept: list[str], top: int) -> Table:
    """The ranked trials (best first, at most `top`), then the count of the others."""
    table = Table(title=f"{result.metric} ({result.goal}), best first: {result.out_dir}")
    table.add_column("#", justify="right")
    table.add_column("trial", no_wrap=True)
    for path in swept:
        table.add_column(_short(path), justify="right", overflow="fold")
    # The ranking metric and the loss that breaks its ties; every metric is in results.csv.
    tie = result.metric.replace("accuracy", "loss")
    metrics = [m for m in dict.fromkeys((result.metric, tie)) if any(m in r for r in result.rows)]
    for name in metrics:
        bold = "bold" if name == result.metric else None
        table.add_column(name, justify="right", style=bold, overflow="fold")
    table.add_column("epochs", justify="right")
    for rank, row in enumerate(result.ranked[:top], start=1):
        table.add_row(
            str(rank),
            row["trial"],
            *(_value(row.get(p)) for p in swept),
            *(_value(row.get(m)) for m in metrics),
            _value(row.get("epochs")),
        )
    return table


def configurations_table(result: SweepResult, swept: list[str], top: int) -> Table:
    """The configurations by their mean metric over the seeds, best first."""
    from purenet.run.sweep_files import by_configuration

    table = Table(title=f"{result.metric} by configuration, mean over seeds")
    for path in swept:
        table.add_column(_short(path), justify="right", overflow="fold")
    for name in ("mean", "std", "seeds"):
        table.add_column(name, justify="right", style="bold" if name == "mean" else None)
    for config in by_configuration(result.rows, result.metric, result.goal)[:top]:
        cells = [_value(config.get(p)) for p in swept]
        table.add_row(*cells, f"{config['mean']:.4f}", f"{config['std']:.4f}", str(config["n"]))
    return table


def sweep_command(
    recipe: Annotated[Path, typer.Argument(help="A recipe with a sweep section.")],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            min=1,
            help="Worker processes (default: the local cores; a cluster address brings its own).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            help="Run on Dask: a scheduler address (tcp://host:8786) or 'local-cluster' "
            "(needs the dask extra). Default: a local process pool."
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1, help="BLAS threads per trial (default: cores / workers; on a cluster: as is)."
        ),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Sweep folder (default: the recipe's output.dir).")
    ] = None,
    overrides: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe key, e.g. --set train.epochs=5."),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=2, help="Use only the first N training and test rows of every trial."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Folder to look for named data sets in first.")
    ] = None,
    top: Annotated[int, typer.Option(min=1, help="Rows of the results table.")] = 10,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train every trial of a recipe's sweep section (each an ordinary run), rank them, keep the
    best."""
    from purenet.recipe.bundled import find_recipe
    from purenet.recipe.load import load_recipe
    from purenet.run.sweep import SweepPlan, run_sweep

    console = Console(highlight=False, emoji=False)
    progress = Progress(
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=errors,
        disable=quiet,
    )
    task = progress.add_task("trials", total=None)
    swept: list[str] = []
    metric = ""

    def on_start(plan: SweepPlan) -> None:
        swept.extend(dict.fromkeys(p for t in plan.trials for p in t.values))
        workers_text = "its workers" if plan.workers is None else f"{plan.workers} workers"
        threads_text = "BLAS threads as the workers have them"
        if plan.threads is not None:
            threads_text = f"{plan.threads} BLAS thread(s) each"
        errors.print(
            f"{len(plan.trials)} trials, {len(plan.trials) - len(plan.todo)} finished already; "
            f"running {len(plan.todo)} on {escape(plan.where)} "
            f"({workers_text}, {threads_text}) into {escape(str(plan.out_dir))}",
            soft_wrap=True,
        )
        progress.update(task, total=len(plan.todo))
        # Started here, not before: a recipe refused before any trial shows no empty bar.
        progress.start()

    def on_trial(row: Mapping[str, Any]) -> None:
        progress.advance(task)
        if not quiet:
            progress.console.print(trial_line(row, swept, metric), soft_wrap=True)

    try:
        with user_errors():
            spec = load_recipe(find_recipe(recipe), overrides=overrides or ())
            metric = spec.sweep.metric if spec.sweep is not None else ""
            try:
                result = run_sweep(
                    spec,
                    out_dir=out,
                    workers=workers,
                    scheduler=scheduler,
                    threads=threads,
                    limit=limit,
                    data_dir=data_dir,
                    on_start=on_start,
                    on_trial=on_trial,
                )
            finally:
                progress.stop()
    except KeyboardInterrupt:
        errors.print(
            "[yellow]interrupted: finished trials are recorded; run the same command again "
            "to run the rest[/]"
        )
        raise typer.Exit(130) from None
    console.print(results_table(result, swept, top))
    if spec.sweep is not None and len(spec.sweep.seeds) > 1:
        console.print(configurations_table(result, [p for p in swept if p != "train.seed"], top))
    unfinished = [r for r in result.rows if r["status"] != "ok"]
    if unfinished:
        console.print(
            f"{len(unfinished)} trial(s) without a result: "
            + ", ".join(f"{r['trial']} ({r['status']})" for r in unfinished)
        )
    console.print(f"results: {escape(str(result.out_dir / 'results.csv'))}")
    if result.best is not None:
        console.print(f"best model: {escape(str(result.out_dir / 'best' / 'model.json'))}")
