"""The model-exchange commands: `schema`, `export`, `import` and `serve`.

`purenet.cli.app` registers them; user errors go through `purenet.cli.common.user_errors`.

purenet schema model > model.schema.json
purenet export runs/mnist/model.json --onnx mnist.onnx
purenet export runs/microchips/model.json --format tutorial-json -o weights.json
purenet import mlp.onnx -o model.json
purenet import weights.json -o model.json --hidden sigmoid --output sigmoid
purenet serve runs/mnist/model.json
"""

from __future__ import annotations

import enum
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from purenet.cli.common import user_errors
from purenet.errors import PurenetError

console = Console(highlight=False, emoji=False)


class SchemaName(enum.StrEnum):
    model = "model"
    recipe = "recipe"


class ExportFormat(enum.StrEnum):
    onnx = "onnx"
    tutorial_json = "tutorial-json"


def schema_command(
    name: Annotated[SchemaName, typer.Argument(help="Which schema: model or recipe.")],
) -> None:
    """Print the JSON Schema (draft 2020-12) of model files or of recipes."""
    from purenet.exchange.schemas import model_json_schema
    from purenet.recipe.json_schema import recipe_json_schema

    schema = model_json_schema() if name is SchemaName.model else recipe_json_schema()
    sys.stdout.write(json.dumps(schema, indent=2) + "\n")


def export_command(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A model.json file.")],
    onnx: Annotated[
        Path | None, typer.Option("--onnx", help="Write an ONNX graph to this file.")
    ] = None,
    format: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="The format of -o: onnx or tutorial-json."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The file to write.")] = None,
) -> None:
    """Write a model as an ONNX graph (raw inputs -> probabilities, labels) or as the tutorials'
    weights1/bias1 JSON (preprocessing folded into the first layer)."""
    from purenet.exchange.onnx_export import export_onnx
    from purenet.exchange.tutorial import write_tutorial
    from purenet.modelfile.io import load_model

    with user_errors():
        target, kind = _export_target(onnx, format, out)
        model = load_model(model_path)
        if kind is ExportFormat.onnx:
            gap = export_onnx(target, model)
            note = f"verified in onnxruntime: largest difference {gap:.2g}"
        else:
            write_tutorial(target, model)
            note = "weightsK (fan_in, fan_out) and biasK (1, fan_out); preprocessing folded in"
    console.print(escape(f"{target}: {target.stat().st_size:,} bytes; {note}"), soft_wrap=True)


def _export_target(
    onnx: Path | None, format: ExportFormat | None, out: Path | None
) -> tuple[Path, ExportFormat]:
    if onnx is not None and out is None and format in (None, ExportFormat.onnx):
        return onnx, ExportFormat.onnx
    if onnx is None and out is not None:
        return out, format or _format_of(out)
    raise PurenetError("give --onnx OUT, or --format onnx|tutorial-json with -o OUT")


def _format_of(path: Path) -> ExportFormat:
    return ExportFormat.onnx if path.suffix.lower() == ".onnx" else ExportFormat.tutorial_json


def import_command(
    source: Annotated[Path, typer.Argument(metavar="FILE", help="An .onnx file or tutorial JSON.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The model.json to write.")],
    hidden: Annotated[
        str | None,
        typer.Option(help="Tutorial JSON: the hidden activation, or one per layer: relu,tanh."),
    ] = None,
    output: Annotated[
        str | None, typer.Option(help="Tutorial JSON: softmax, sigmoid or identity.")
    ] = None,
    loss: Annotated[
        str | None, typer.Option(help="cross_entropy or mse (default: by the output).")
    ] = None,
    labels: Annotated[
        str | None, typer.Option(help="Class names, comma-separated, e.g. rejected,accepted.")
    ] = None,
    format: Annotated[
        ExportFormat | None,
        typer.Option("--format", help="onnx or tutorial-json (default: by the suffix)."),
    ] = None,
    compact: Annotated[
        bool, typer.Option("--compact", help="Write the arrays in base64 (format version 2).")
    ] = False,
) -> None:
    """Turn a plain MLP from ONNX, or the tutorials' weights1/bias1 JSON, into a model.json."""
    from purenet.exchange.onnx_import import import_onnx
    from purenet.exchange.tutorial import read_tutorial
    from purenet.modelfile.io import describe_model, save_model

    names = [name.strip() for name in labels.split(",")] if labels else None
    with user_errors():
        if (format or _format_of(source)) is ExportFormat.onnx:
            if hidden or output:
                raise PurenetError("--hidden and --output are for tutorial JSON, not ONNX")
            model = import_onnx(source, labels=names)
        else:
            if not (hidden and output):
                raise PurenetError(
                    f"{source}: the tutorials' JSON holds no activations; give --hidden and "
                    f"--output (e.g. --hidden sigmoid --output sigmoid)"
                )
            per_layer = [name.strip() for name in hidden.split(",")]
            activations = per_layer[0] if len(per_layer) == 1 else per_layer
            model = read_tutorial(
                source, hidden=activations, output=output, loss=loss, labels=names
            )
        save_model(out, model, compact=compact)
    summary = describe_model(model)
    arch = summary["architecture"]
    steps = " -> ".join(step["text"] for step in summary["preprocess"]) or "none"
    text = (
        f"{out}: sizes {arch['sizes']}, {arch['hidden']} / {arch['output']}, "
        f"{summary['dtype']}, preprocessing: {steps}, labels: {', '.join(model.labels)}"
    )
    console.print(escape(text), soft_wrap=True)


def serve_command(
    model_path: Annotated[Path, typer.Argument(metavar="MODEL", help="A model.json file.")],
    port: Annotated[int, typer.Option(min=0, max=65535, help="The port (0: any free one).")] = 8000,
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
) -> None:
    """Show the drawing page with this model on localhost: draw a digit, see the top 3."""
    from purenet.exchange.web import make_server

    with user_errors():
        try:
            server = make_server(model_path, host=host, port=port)
        except OSError as exc:
            raise PurenetError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    address, bound = server.server_address[:2]
    console.print(
        escape(f"serving {model_path} at http://{address!s}:{bound}/  (Ctrl-C stops)"),
        soft_wrap=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
