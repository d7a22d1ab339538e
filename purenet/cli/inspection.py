"""The commands that inspect models and runs: `info` (a model's summary) and `compare` (runs
side by side).

`purenet.cli.app` registers them; user errors go through `purenet.cli.common.user_errors`.

    purenet info runs/mnist            (or runs/mnist/model.json)
    purenet compare runs/a runs/b --out compare.png
    purenet compare runs/sweep/trials/* --no-plot
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from purenet.cli.common import printable
from purenet.cli.common import user_errors as _user_errors
from purenet.cli.render import fmt as _fmt
from purenet.cli.render import print_json as _print_json

console = Console(highlight=False, emoji=False)


def info_command(
    model_path: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A model.json file or a run folder.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Summarize a model: layers, shapes, activations, parameters, preprocessing, metrics."""
    from purenet.modelfile.io import describe_model, read_model_file
    from purenet.modelfile.summary import summary as summary_text
    from purenet.run.layout import model_path as model_path_of

    with _user_errors():
        model_path = model_path_of(model_path)
        model, version = read_model_file(model_path)
        summary, text = describe_model(model, format_version=version), summary_text(model)
    if as_json:
        _print_json(summary)
        return
    console.print(
        f"[bold]{printable(str(model_path))}[/]  purenet "
        f"{printable(str(summary['purenet_version']))}  "
        f"created {printable(str(summary['created']))}  format {summary['format_version']}"
    )
    # A file's text (label names, metadata) must not reach the terminal as control codes.
    console.print("\n".join(printable(line) for line in text.splitlines()))


# ---------------------------------------------------------------------------------------------
# compare


def _setting_text(value: Any) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else json.dumps(value)


WIDE_COMPARISON = 6
"""Up to this many runs are columns (a row per setting or metric); more are rows."""


def _comparison_table(table: Any) -> Table:
    """Settings that differ, then metrics; runs as columns when few, as rows when many."""
    keys = [*table.settings, *table.metrics]
    cells = [
        [printable(_setting_text(run.settings.get(key))) for key in table.settings]
        + [_fmt(run.metrics.get(name)) for name in table.metrics]
        for run in table.runs
    ]
    grid = Table(title=f"{len(table.runs)} runs: settings that differ, then final metrics")
    if len(table.runs) <= WIDE_COMPARISON:
        grid.add_column("")
        for run in table.runs:
            grid.add_column(printable(run.name), justify="right")
        for i, key in enumerate(keys):
            grid.add_row(printable(key), *(row[i] for row in cells))
        return grid
    grid.add_column("run")
    for i, key in enumerate(keys):
        grid.add_column(printable(key), justify="left" if i < len(table.settings) else "right")
    for run, row in zip(table.runs, cells, strict=True):
        grid.add_row(printable(run.name), *row)
    return grid


def compare_command(
    runs: Annotated[
        list[Path], typer.Argument(metavar="RUN...", help="Run folders (or sweep trial folders).")
    ],
    out: Annotated[Path, typer.Option(help="The PNG of the runs' curves on one figure.")] = Path(
        "compare.png"
    ),
    no_plot: Annotated[bool, typer.Option("--no-plot", help="Print the table only.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Runs side by side: the recipe settings that differ, the final metrics, one figure."""
    from purenet.plots.common import save_figure
    from purenet.plots.curves import plot_comparison
    from purenet.run.compare import compare_runs

    with _user_errors():
        table = compare_runs(runs)
        histories = {run.name: run.history for run in table.runs if run.history}
        if not no_plot and histories:
            save_figure(plot_comparison(histories), out)
    if as_json:
        rows = [
            {
                "run": str(run.folder),
                "settings": {key: run.settings.get(key) for key in table.settings},
                "metrics": dict(run.metrics),
            }
            for run in table.runs
        ]
        _print_json({"differing_settings": list(table.settings), "runs": rows})
        return
    console.print(_comparison_table(table))
    if not table.settings and len(table.runs) > 1:
        console.print("[dim]the runs' recipes are the same[/]")
    if not no_plot and histories:
        console.print(f"curves drawn to {escape(str(out))}")
