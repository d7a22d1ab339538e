"""Tables the CLI prints for `purenet evaluate` and for regression and multi-label
`purenet predict`: rendering only, the numbers come from `purenet.modelfile.evaluation`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def fmt(value: Any, digits: int = 4) -> str:
    """A number for a table cell: `-` for None, whole numbers without decimals."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.{digits}f}"
    return str(value)


def print_json(data: Any) -> None:
    """JSON on stdout (no NaN), indented."""
    sys.stdout.write(json.dumps(data, indent=2, allow_nan=False) + "\n")


def evaluation_table(evaluation: Any, support: Any) -> Table:
    table = Table(title="per class")
    table.add_column("class")
    table.add_column("precision", justify="right")
    table.add_column("recall", justify="right")
    table.add_column("support", justify="right")
    for name, p, r, n in zip(
        evaluation.labels, evaluation.precision, evaluation.recall, support, strict=True
    ):
        table.add_row(escape(name), fmt(p), fmt(r), str(int(n)))
    return table


def per_output_table(evaluation: Any) -> Table:
    table = Table(title="per output")
    table.add_column("output")
    for metric in ("rmse", "mae", "r2"):
        table.add_column(metric.upper() if metric != "r2" else "R^2", justify="right")
    for name, scores in zip(evaluation.labels, evaluation.per_output, strict=True):
        table.add_row(escape(name), *(fmt(scores[m]) for m in ("rmse", "mae", "r2")))
    return table


def confusion_table(evaluation: Any) -> Table:
    table = Table(title="confusion matrix (rows: true, columns: predicted)")
    table.add_column("")
    for name in evaluation.labels:
        table.add_column(escape(name), justify="right")
    for i, (name, row) in enumerate(
        zip(evaluation.labels, evaluation.confusion.tolist(), strict=True)
    ):
        cells = [
            f"[bold]{v}[/]" if i == j else (str(v) if v else "[dim]0[/]") for j, v in enumerate(row)
        ]
        table.add_row(escape(name), *cells)
    return table


def print_columns(
    console: Console,
    model: Any,
    model_path: Path,
    raw: list[tuple[str, Any]],
    *,
    as_json: bool,
    rows: int,
) -> None:
    """Print regression values (one column per output) or multi-label 0/1 labels with
    their probabilities (one column per label), per input row, as a table or JSON."""
    from purenet.modelfile.evaluation import predict_label_sets, predict_values
    from purenet.modelfile.model import output_names

    names = list(output_names(model))
    results: list[tuple[str, Any, Any]] = []
    for file, x_raw in raw:
        if model.multilabel:
            labels, probabilities = predict_label_sets(model, x_raw, source=file)
            results.append((file, labels, probabilities))
        else:
            results.append((file, predict_values(model, x_raw, source=file), None))
    if as_json:
        key = "labels" if model.multilabel else "values"
        predictions = [
            {
                "file": file,
                "columns": names,
                key: values.tolist(),
                **({"probabilities": p.tolist()} if p is not None else {}),
            }
            for file, values, p in results
        ]
        print_json({"model": str(model_path), "predictions": predictions})
        return
    table = Table()
    table.add_column("file")
    table.add_column("row", justify="right")
    for name in names:
        table.add_column(escape(name), justify="right")
    shown = total = 0
    for file, values, probabilities in results:
        for row in range(len(values)):
            total += 1
            if shown < rows:
                shown += 1
                if probabilities is None:
                    cells = [f"{v:.6g}" for v in values[row]]
                else:
                    cells = [
                        f"{'[bold]1[/]' if v else '0'} ({p:.3f})"
                        for v, p in zip(values[row], probabilities[row], strict=True)
                    ]
                table.add_row(escape(Path(file).name), str(row), *cells)
    console.print(table)
    if total > shown:
        console.print(f"[dim]{total - shown} more rows; use --rows N or --json to see them[/]")
