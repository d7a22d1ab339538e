"""The `purenet` command line: thin Typer commands over the library, rendered with rich.

Each command parses its arguments, calls one library function and renders the result. Any
`PurenetError` becomes one red line on stderr and exit code 1.

    purenet run mnist [--out DIR] [--resume] [--set train.epochs=5]   (or a recipe file)
    purenet recipes
    purenet new mine --from mnist
    purenet evaluate runs/mnist/model.json [--data mnist:test | --images F --labels F | --csv F]
    purenet predict runs/mnist/model.json digits.npy [--top-k 3] [--json]
    purenet predict runs/mnist/model.json three.png seven.jpg --show guesses.png
    purenet info runs/mnist            (a run folder or its model.json)
    purenet compare runs/a runs/b [--out compare.png]
    purenet plot runs/mnist [--only loss --only confusion] [--svg]
    purenet show t10k-images-idx3-ubyte.gz --index 0 [--count 9 --labels F]
    purenet fetch mnist [--mirror URL]
    purenet bench [--threads N] [--json] [--quick]
    purenet schema model|recipe
    purenet export runs/mnist/model.json --onnx mnist.onnx   (or --format tutorial-json -o F)
    purenet import mlp.onnx -o model.json   (or weights.json --hidden sigmoid --output sigmoid)
    purenet serve runs/mnist/model.json [--port 8000]
    purenet sweep recipes/microchips-sweep.toml [--workers N] [--scheduler ADDRESS|local-cluster]
    purenet bench-sklearn [--job digits] [--epochs 3] [--repeats 3] [--json]
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from purenet.cli.bench import bench_command
from purenet.cli.common import DataDir, RecipeFiles, errors, printable, sigterm_as_interrupt
from purenet.cli.common import fail as _fail
from purenet.cli.common import user_errors as _user_errors
from purenet.cli.exchange import export_command, import_command, schema_command, serve_command
from purenet.cli.inspection import compare_command, info_command
from purenet.cli.progress import RunProgress
from purenet.cli.recipes import new_command, recipes_command
from purenet.cli.render import confusion_table, evaluation_table, per_output_table, print_columns
from purenet.cli.render import fmt as _fmt
from purenet.cli.render import print_json as _print_json
from purenet.cli.run_bench import run_bench_command
from purenet.cli.sklearn_bench import sklearn_bench_command
from purenet.cli.sweep import sweep_command
from purenet.errors import PurenetError
from purenet.plots.common import FIGURES

app = typer.Typer(
    name="purenet",
    help="Small, exact, fast neural networks: train from recipes, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# No emoji codes: a message such as "microchips:train:" must print as written.
console = Console(highlight=False, emoji=False)

"""Options several commands share, declared once."""

# Paths are not checked with typer's exists=True: a missing file is a user error like any
# other, reported by the library as one line naming the file (exit 1), not as a usage box.


def _show_version(value: bool) -> None:
    if value:
        from purenet.core.checks import package_version

        console.print(f"purenet {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Small, exact, fast neural networks: train from recipes, evaluate, predict."""


# ---------------------------------------------------------------------------------------------
# run


def _interrupt_hint(recipe: Path, options: list[str], stop: Any) -> str:
    """What Ctrl-C kept, and the exact command that continues the run: the run's own
    `options` (every one that shapes the run: --out, --set, --limit, --data-dir, --threads,
    --compact) after `--resume`."""
    if stop.model_written:
        figures = shlex.join(["purenet", "plot", str(stop.out_dir)])
        return f"interrupted while drawing figures: the model is written; draw them with: {figures}"
    if not stop.checkpoint:
        return "interrupted before the first checkpoint: nothing to resume; run again to start"
    words = ["purenet", "run", str(recipe), "--resume", *options]
    return f"interrupted: checkpoint of epoch {stop.epoch} kept; continue with: {shlex.join(words)}"


def _checkpoint_epoch(out: Path) -> int:
    """The epoch of the run folder's checkpoint, or 0 (none, or unreadable: the run says why)."""
    from purenet.run.layout import CHECKPOINT_FILE
    from purenet.training.checkpoint import read_checkpoint_epoch

    checkpoint = out / CHECKPOINT_FILE
    try:
        return read_checkpoint_epoch(checkpoint) if checkpoint.is_file() else 0
    except PurenetError:
        return 0


def _warn_if_replacing(out: Path) -> None:
    """Say so when a fresh run is about to replace an interrupted run's checkpoint."""
    from purenet.run.layout import CHECKPOINT_FILE, MODEL_FILE

    if (out / CHECKPOINT_FILE).is_file() and not (out / MODEL_FILE).exists():
        errors.print(
            f"[yellow]{escape(printable(str(out)))} holds an interrupted run: starting afresh "
            "replaces its checkpoint (--resume would continue it)[/]",
            soft_wrap=True,
        )


def _run_options(
    out: Path | None,
    overrides: list[str],
    limit: int | None,
    data_dir: Path | None,
    threads: int | None,
    compact: bool,
) -> list[str]:
    """`purenet run`'s options as words, as the user gave them (for the resume command)."""
    words = ["--out", str(out)] if out else []
    for override in overrides:
        words += ["--set", override]
    words += ["--limit", str(limit)] if limit is not None else []
    words += ["--data-dir", str(data_dir)] if data_dir is not None else []
    words += ["--threads", str(threads)] if threads is not None else []
    return words + (["--compact"] if compact else [])


@app.command()
def run(
    recipe: Annotated[
        Path,
        typer.Argument(help="Recipe file (.toml or .json) or a bundled recipe's name (mnist)."),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="Run folder (default: the recipe's output.dir).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the run folder's checkpoint.")
    ] = False,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a recipe key, e.g. --set train.epochs=5 (repeatable)."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=2, help="Use only the first N training and test rows (smoke tests)."),
    ] = None,
    data_dir: DataDir = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="BLAS threads (same as --set train.threads=N); default: one per free core.",
        ),
    ] = None,
    compact: Annotated[
        bool,
        typer.Option(
            "--compact",
            help="Write model.json with base64 arrays (same as --set output.compact=true).",
        ),
    ] = False,
) -> None:
    """Train a model from a recipe and write a run folder (model.json, metrics.jsonl, ...)."""
    from purenet.recipe.bundled import find_recipe
    from purenet.recipe.load import load_recipe
    from purenet.run.runner import RunInterrupted, output_folder, run_recipe

    options = _run_options(out, overrides or [], limit, data_dir, threads, compact)
    with _user_errors(), sigterm_as_interrupt() as terminated:
        more = [f"train.threads={threads}"] if threads is not None else []
        more += ["output.compact=true"] if compact else []
        spec = load_recipe(find_recipe(recipe), overrides=[*(overrides or ()), *more])
        bars = None if quiet else RunProgress.of(spec, errors)
        folder = output_folder(spec, out)
        if not resume:
            _warn_if_replacing(folder)
        elif bars is not None:
            bars.resumed_at(_checkpoint_epoch(folder))
        try:
            if bars is None:
                result = run_recipe(
                    spec, out_dir=out, resume=resume, limit=limit, data_dir=data_dir
                )
            else:
                with bars.progress:
                    try:
                        result = run_recipe(
                            spec,
                            out_dir=out,
                            resume=resume,
                            limit=limit,
                            data_dir=data_dir,
                            **bars.callbacks(),
                        )
                    finally:
                        bars.finish()
        except RunInterrupted as stop:
            errors.print(
                f"[yellow]{escape(_interrupt_hint(recipe, options, stop))}[/]",
                soft_wrap=True,
            )
            raise typer.Exit(143 if terminated.seen else 130) from None
    if result.started_over:
        errors.print(
            f"[yellow]no checkpoint in {printable(str(result.out_dir))} yet: "
            "--resume started the run from the beginning[/]"
        )
    table = Table(title=f"{recipe.name}: {result.out_dir}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        if name != "seconds":
            table.add_row(name, _fmt(value))
    sessions = f" (all sessions, from epoch 1; resumed at {result.resumed_from})"
    label = "training seconds" + (sessions if result.resumed_from else "")
    table.add_row(label, f"{result.metrics['seconds']:.2f}")
    table.add_row("wall seconds", f"{result.wall_seconds:.2f}")
    console.print(table)
    console.print(
        f"model written to {escape(str(result.out_dir / 'model.json'))} "
        f"({result.threads} BLAS thread{'s' if result.threads > 1 else ''})",
        soft_wrap=True,
    )


# ---------------------------------------------------------------------------------------------
# evaluate


@app.command()
def evaluate(
    model_path: Annotated[
        Path, typer.Argument(metavar="MODEL", help="A model.json file or a run folder.")
    ],
    data: Annotated[
        str | None, typer.Option(help="A named data set split, e.g. mnist:test.")
    ] = None,
    images: Annotated[Path | None, typer.Option(help="IDX images file (with --labels).")] = None,
    labels: Annotated[Path | None, typer.Option(help="IDX labels file (with --images).")] = None,
    csv: Annotated[Path | None, typer.Option(help="CSV file: a label column and features.")] = None,
    label_column: Annotated[
        str,
        typer.Option(
            help="The CSV's label column: first, last or a header name; several names "
            "separated by commas for several target columns."
        ),
    ] = "first",
    data_dir: DataDir = None,
    recipe_files: RecipeFiles = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Loss, accuracy, per-class precision/recall and the confusion matrix of a model.

    Without a data option, the test set of the recipe stored in the model is used.
    """
    from purenet.data.inputs import read_labelled
    from purenet.modelfile.evaluation import Evaluation, RegressionEvaluation, evaluate_model
    from purenet.modelfile.io import load_model
    from purenet.recipe.load import source_from_data
    from purenet.run.layout import model_path as model_path_of
    from purenet.run.prepare import load_recipe_test
    from purenet.run.sources import load_source, recipe_test_source, source_name

    chosen = sum(x is not None for x in (data, csv)) + (images is not None or labels is not None)
    if chosen > 1:
        _fail("give one of --data, --images/--labels or --csv")
    if (images is None) != (labels is None):
        _fail("--images and --labels go together")
    with _user_errors():
        model_path = model_path_of(model_path)
        model = load_model(model_path)
        if images is not None and labels is not None:
            dataset, name = read_labelled(images=images, labels=labels), str(images)
        elif csv is not None:
            columns = label_column.split(",") if "," in label_column else label_column
            dataset, name = read_labelled(csv=csv, label=columns), str(csv)
            if label_column == "first":
                errors.print(
                    f"{escape(name)}: labels from the first column (--label-column)",
                    soft_wrap=True,
                )
        elif data is not None:
            source = source_from_data(data, source=f"--data {data}")
            dataset, name = load_source(source, data_dir=data_dir), source_name(source)
        else:
            recipe_test_source(model, source=str(model_path), files=recipe_files)  # the gate
            dataset, name = load_recipe_test(model, source=str(model_path), data_dir=data_dir)
        result = evaluate_model(model, dataset.x, dataset.y, source=name)
    if as_json:
        _print_json({"model": str(model_path), "data": name, **result.to_dict()})
        return
    headline = "  ".join(
        f"{key} [bold]{value:.4f}[/]" if key != "loss" else f"loss {value:.4f}"
        for key, value in result.metrics().items()
    )
    console.print(f"[bold]{escape(name)}[/]: {result.n} samples  {headline}")
    if isinstance(result, RegressionEvaluation):
        if len(result.labels) > 1:
            console.print(per_output_table(result))
        return
    if isinstance(result, Evaluation):
        console.print(evaluation_table(result, result.confusion.sum(axis=1)))
        console.print(confusion_table(result))
    else:
        console.print(evaluation_table(result, result.support))


# ---------------------------------------------------------------------------------------------
# predict


PICTURE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"})
"""Inputs read as pictures of digits (Pillow, the `image` extra) rather than as data files."""


def _read_prediction_inputs(
    inputs: list[Path], label_column: str | None = None
) -> tuple[list[tuple[str, Any]], Any]:
    """Raw inputs per file: data files as stored (CSV files without their label column when
    `label_column` is given), pictures as MNIST-style 28x28 digits.

    Returns:
        ([(file name, raw rows)], digits): `digits` is the (n, 28, 28) uint8 stack of the
        pictures among `inputs` (None when there are none), in input order.
    """
    from purenet.data.images import load_images
    from purenet.data.inputs import read_inputs, read_labelled

    pictures = [path for path in inputs if path.suffix.lower() in PICTURE_SUFFIXES]
    digits = load_images(pictures) if pictures else None
    rows: list[tuple[str, Any]] = []
    next_picture = 0
    for path in inputs:
        if digits is not None and path.suffix.lower() in PICTURE_SUFFIXES:
            rows.append((str(path), digits[next_picture : next_picture + 1]))
            next_picture += 1
        elif label_column is not None and path.suffix.lower() == ".csv":
            rows.append((str(path), read_labelled(csv=path, label=label_column).x))
        else:
            rows.append((str(path), read_inputs(path)))
    return rows, digits


@app.command()
def predict(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A model.json file.")],
    inputs: Annotated[
        list[Path],
        typer.Argument(
            metavar="INPUT...",
            help="IDX, NPY or CSV files of raw inputs, or pictures of digits (PNG, JPEG, ...).",
        ),
    ],
    top_k: Annotated[int, typer.Option("--top-k", "-k", min=1, help="Classes per input.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    rows: Annotated[
        int, typer.Option(min=1, help="Rows shown in the table (JSON shows all).")
    ] = 50,
    show: Annotated[
        Path | None,
        typer.Option(help="Draw the picture inputs with the model's guesses into this PNG."),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option(help="CSV inputs hold labels in this column (first, last or a name)."),
    ] = None,
) -> None:
    """The most likely classes of each input row, with their probabilities.

    Pictures are turned into MNIST-style digits first (grayscale, inverted when the paper is
    light, cropped to the ink, scaled into 20x20, centred by mass in 28x28), then given the
    model's own preprocessing.
    """
    from purenet.modelfile.evaluation import predict_inputs
    from purenet.modelfile.io import load_model
    from purenet.run.layout import model_path as model_path_of

    with _user_errors():
        model = load_model(model_path_of(model_path))
        raw, digits = _read_prediction_inputs(inputs, label_column)
        if show is not None and digits is None:
            raise PurenetError("--show draws picture inputs; give PNG or JPEG files")
        if model.arch.is_regression or model.multilabel:
            print_columns(console, model, model_path, raw, as_json=as_json, rows=rows)
            return
        results = [
            (Path(name), predict_inputs(model, x_raw, top_k, source=name)) for name, x_raw in raw
        ]
        if show is not None and digits is not None:
            _show_guesses(model, digits, show)
    if as_json:
        _print_json(
            {
                "model": str(model_path),
                "predictions": [{"file": str(path), "rows": p.to_list()} for path, p in results],
            }
        )
        return
    k = min(top_k, results[0][1].classes.shape[1])
    table = Table()
    table.add_column("file")
    table.add_column("row", justify="right")
    for rank in range(1, k + 1):
        table.add_column(f"#{rank}")
        table.add_column("p", justify="right")
    shown = total = 0
    for path, prediction in results:
        for row, (names, scores) in enumerate(
            zip(prediction.names, prediction.scores, strict=True)
        ):
            total += 1
            if shown < rows:
                shown += 1
                cells = [
                    c
                    for name, s in zip(names, scores, strict=True)
                    for c in (printable(name), f"{s:.4f}")
                ]
                table.add_row(escape(path.name), str(row), *cells)
    console.print(table)
    if total > shown:
        console.print(f"[dim]{total - shown} more rows; use --rows N or --json to see them[/]")
    if show is not None:
        console.print(f"guesses drawn to {escape(str(show))}")


def _show_guesses(model: Any, digits: Any, path: Path) -> None:
    """Draw the digit pictures with the model's best guess and its probability."""
    from purenet.modelfile.evaluation import predict_inputs
    from purenet.plots.common import save_figure
    from purenet.plots.digits import plot_digits

    best = predict_inputs(model, digits, 1, source="pictures")
    figure = plot_digits(
        digits,
        predicted=best.classes[:, 0],
        confidence=best.scores[:, 0],
        label_names=model.labels,
        count=len(digits),
    )
    save_figure(figure, path)


# ---------------------------------------------------------------------------------------------
# plot and show


@app.command()
def plot(
    run_dir: Annotated[
        Path, typer.Argument(metavar="RUN_DIR", help="A folder `run` wrote (or its model.json).")
    ],
    only: Annotated[
        list[str] | None,
        typer.Option(help=f"Draw only this figure (repeatable): {', '.join(FIGURES)}."),
    ] = None,
    svg: Annotated[bool, typer.Option("--svg", help="Also write SVG files.")] = False,
    data_dir: DataDir = None,
    recipe_files: RecipeFiles = False,
) -> None:
    """Draw every figure that fits a run (curves, confusion, digits, boundary...) into it."""
    from purenet.run.layout import run_folder
    from purenet.run.plot import plot_run

    with _user_errors():
        written = plot_run(
            run_folder(run_dir),
            names=only or None,
            svg=svg,
            data_dir=data_dir,
            recipe_files=recipe_files,
        )
    for path in written:
        console.print(escape(str(path)))


@app.command()
def show(
    data: Annotated[Path, typer.Argument(help="An IDX (or NPY) file of images.")],
    index: Annotated[int, typer.Option(help="The first image to draw.")] = 0,
    count: Annotated[int, typer.Option(min=1, help="How many images to draw.")] = 1,
    labels: Annotated[
        Path | None, typer.Option(help="An IDX labels file, to title the images.")
    ] = None,
    out: Annotated[Path, typer.Option(help="The PNG to write.")] = Path("digit.png"),
    label_column: Annotated[
        str | None,
        typer.Option(help="A labelled CSV's label column (first, last or a header name)."),
    ] = None,
) -> None:
    """Draw one digit from its numbers (or a grid of several) from an image data set."""
    from purenet.data.inputs import read_inputs, read_labelled
    from purenet.plots.common import save_figure
    from purenet.plots.digits import show_digits

    with _user_errors():
        names: Any = None
        if label_column is not None:
            table = read_labelled(csv=data, label=label_column)
            images, names = table.x, table.y
        else:
            images = read_inputs(data)
            names = read_inputs(labels) if labels is not None else None
        try:
            figure = show_digits(images, labels=names, index=index, count=count)
        except ValueError as exc:
            raise PurenetError(f"{data}: {exc}") from None
        save_figure(figure, out)
    console.print(escape(str(out)))


# ---------------------------------------------------------------------------------------------
# fetch


@app.command()
def fetch(
    name: Annotated[str, typer.Argument(help="Data set: mnist, fashion-mnist or microchips.")],
    mirror: Annotated[
        str | None, typer.Option(help="Base URL to download from ({name} is replaced).")
    ] = None,
) -> None:
    """Download a data set into the cache, verified against its SHA-256 sums."""
    from purenet.data.fetch import fetch_dataset

    def on_file(file: str, status: str) -> None:
        errors.print(f"{escape(file)}: {status}")

    with _user_errors():
        folder = fetch_dataset(name, mirror=mirror, on_file=on_file)
    console.print(f"{name}: {escape(str(folder))}")


app.command("bench")(bench_command)
app.command("bench-sklearn")(sklearn_bench_command)
app.command("bench-run")(run_bench_command)
app.command("info")(info_command)
app.command("compare")(compare_command)
app.command("recipes")(recipes_command)
app.command("new")(new_command)

app.command("schema")(schema_command)
app.command("export")(export_command)
app.command("import")(import_command)
app.command("serve")(serve_command)
app.command("sweep")(sweep_command)
