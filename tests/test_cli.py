"""The `purenet` command line through typer's CliRunner: outputs, exit codes, error lines."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from test_runner import blobs, tiny_recipe, write_idx
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.modelfile.evaluation import evaluate_model
from purenet.modelfile.io import load_model
from purenet.pipeline.steps import apply_preprocess

runner = CliRunner()


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """A tiny recipe over synthetic IDX files in tmp_path/data."""
    folder = tmp_path / "data"
    folder.mkdir()
    x, y = blobs(120, 0)
    tx, ty = blobs(30, 1)
    write_idx(folder / "train-images.gz", x)
    write_idx(folder / "train-labels.gz", y)
    write_idx(folder / "test-images.gz", tx)
    write_idx(folder / "test-labels.gz", ty)
    return tiny_recipe(tmp_path)


@pytest.fixture
def trained(tiny: Path) -> Path:
    """The model file of a finished run of `tiny`."""
    result = runner.invoke(app, ["run", str(tiny), "--quiet"])
    assert result.exit_code == 0, result.output
    return tiny.parent / "run" / "model.json"


def error_line(result: object) -> str:
    """The one stderr line of a failed command."""
    stderr = result.stderr.strip()  # type: ignore[attr-defined]
    assert result.exit_code == 1, result.output  # type: ignore[attr-defined]
    assert "\n" not in stderr, stderr
    assert stderr.startswith("error: ")
    return stderr


@pytest.mark.parametrize(
    "command",
    [[], ["run"], ["evaluate"], ["predict"], ["info"], ["fetch"], ["plot"], ["show"], ["bench"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output


def test_run_end_to_end(tiny: Path) -> None:
    result = runner.invoke(app, ["run", str(tiny), "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    out = tiny.parent / "run"
    assert "test_accuracy" in result.stdout
    assert "epoch   3" in result.stderr  # progress goes to stderr, the table to stdout
    model = load_model(out / "model.json")
    assert model.meta.metrics["epochs"] == 3
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_a_fresh_run_over_an_interrupted_one_says_so_and_a_resumed_one_labels_its_time(
    tiny: Path,
) -> None:
    out = tiny.parent / "run"
    assert runner.invoke(app, ["run", str(tiny), "--quiet"]).exit_code == 0
    (out / "model.json").unlink()  # as an interrupted run leaves it: a checkpoint, no model
    fresh = runner.invoke(app, ["run", str(tiny), "--quiet"])
    assert fresh.exit_code == 0 and "holds an interrupted run" in fresh.stderr
    assert "holds an interrupted run" not in runner.invoke(app, ["run", str(tiny)]).stderr
    longer = runner.invoke(app, ["run", str(tiny), "--resume", "--set", "train.epochs=6"])
    assert longer.exit_code == 0, longer.output
    assert "training seconds (all sessions, from epoch 1; resumed at 4)" in longer.stdout


def test_run_with_a_recipe_typo_exits_1_with_the_key(tiny: Path) -> None:
    text = tiny.read_text().replace('hidden = "tanh"', 'hiden = "tanh"')
    tiny.write_text(text)
    line = error_line(runner.invoke(app, ["run", str(tiny)]))
    assert line == f"error: {tiny}: $.model.hiden: unknown key; did you mean 'hidden'?"


def test_run_with_a_bad_override_exits_1(tiny: Path) -> None:
    line = error_line(runner.invoke(app, ["run", str(tiny), "--set", "train.epochs=zero"]))
    assert "$.train.epochs: expected an integer, found string 'zero'" in line


def test_run_with_a_missing_data_file_exits_1_naming_it(tiny: Path) -> None:
    (tiny.parent / "data" / "test-labels.gz").unlink()
    line = error_line(runner.invoke(app, ["run", str(tiny), "--quiet"]))
    assert line.endswith("test-labels.gz: no such file")


def test_run_with_a_truncated_idx_file_exits_1_naming_it(tiny: Path) -> None:
    labels = tiny.parent / "data" / "train-labels.gz"
    labels.write_bytes(gzip.compress(gzip.decompress(labels.read_bytes())[:100]))
    line = error_line(runner.invoke(app, ["run", str(tiny), "--quiet"]))
    assert "train-labels.gz: header says 120 = 120 bytes, file holds 92" in line


def test_missing_files_are_one_line_errors(tmp_path: Path, trained: Path) -> None:
    missing = tmp_path / "nope"
    line = error_line(runner.invoke(app, ["run", f"{missing}.toml"]))
    assert line == f"error: {missing}.toml: no such recipe file"
    for args in (["info"], ["evaluate"], ["predict", str(trained)]):
        line = error_line(runner.invoke(app, [args[0], f"{missing}.json", *args[1:]]))
        assert line.startswith(f"error: {missing}.json: no such file"), line
    line = error_line(runner.invoke(app, ["predict", str(trained), str(tmp_path)]))
    assert line == f"error: {tmp_path}: not a regular file"


def test_a_model_with_a_wrong_weight_shape_exits_1_with_the_path(trained: Path) -> None:
    data = json.loads(trained.read_text())
    w = data["layers"][1]["w"]
    w["shape"] = [16, 4]
    w["data"] = w["data"] + [0.0] * 16
    trained.write_text(json.dumps(data))
    for command in (["info"], ["evaluate"], ["predict"]):
        args = [*command, str(trained)]
        if command == ["predict"]:
            args.append(str(trained.parent.parent / "data" / "test-images.gz"))
        line = error_line(runner.invoke(app, args))
        assert line.startswith(f"error: {trained}: $.layers[1].w: shape [16, 4]"), line


def test_predict_matches_the_library(trained: Path) -> None:
    images = trained.parent.parent / "data" / "test-images.gz"
    result = runner.invoke(app, ["predict", str(trained), str(images), "--json", "-k", "2"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)["predictions"][0]["rows"]
    model = load_model(trained)
    x = apply_preprocess(model.preprocess, blobs(30, 1)[0])
    expected = pn.predict(model.arch, model.params, x)
    assert [row[0]["class"] for row in rows] == expected.tolist()
    assert [row[0]["label"] for row in rows] == [model.labels[c] for c in expected]
    assert all(len(row) == 2 and row[0]["score"] >= row[1]["score"] for row in rows)


def test_predict_reads_npy_and_csv_rows_and_renders_a_table(trained: Path, tmp_path: Path) -> None:
    images = blobs(30, 1)[0]
    np.save(tmp_path / "x.npy", images[:3].reshape(3, 64))
    np.savetxt(tmp_path / "x.csv", images[3:5].reshape(2, 64), delimiter=",", fmt="%d")
    result = runner.invoke(
        app, ["predict", str(trained), str(tmp_path / "x.npy"), str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 0, result.output
    assert "x.npy" in result.stdout and "x.csv" in result.stdout
    shown = runner.invoke(app, ["predict", str(trained), str(tmp_path / "x.npy"), "--rows", "1"])
    assert "2 more rows" in shown.stdout


def test_predict_refuses_inputs_of_the_wrong_shape(trained: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((2, 10)))
    line = error_line(runner.invoke(app, ["predict", str(trained), str(tmp_path / "x.npy")]))
    assert "x.npy" in line and "(2, 10)" in line


def test_evaluate_defaults_to_the_recipe_test_set(trained: Path) -> None:
    # The recipe names local files: read only when asked (a model may come from anywhere).
    refused = error_line(runner.invoke(app, ["evaluate", str(trained)]))
    assert "$.meta.recipe names local files" in refused and "--recipe-files" in refused
    result = runner.invoke(app, ["evaluate", str(trained), "--json", "--recipe-files"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    tx, ty = blobs(30, 1)
    expected = evaluate_model(load_model(trained), tx, ty)
    assert report["accuracy"] == expected.accuracy
    assert report["confusion"] == expected.confusion.tolist()
    assert report["labels"] == ["a", "b", "c"]
    table = runner.invoke(app, ["evaluate", str(trained), "--recipe-files"])
    assert table.exit_code == 0 and "confusion matrix" in table.stdout


def test_evaluate_with_explicit_files(trained: Path, tmp_path: Path) -> None:
    data = trained.parent.parent / "data"
    by_idx = runner.invoke(
        app,
        [
            "evaluate",
            str(trained),
            "--images",
            str(data / "test-images.gz"),
            "--labels",
            str(data / "test-labels.gz"),
            "--json",
        ],
    )
    tx, ty = blobs(30, 1)
    table = np.hstack([ty[:, None], tx.reshape(30, 64)])
    np.savetxt(tmp_path / "t.csv", table, delimiter=",", fmt="%d")
    by_csv = runner.invoke(
        app, ["evaluate", str(trained), "--csv", str(tmp_path / "t.csv"), "--json"]
    )
    assert by_idx.exit_code == by_csv.exit_code == 0, by_idx.output + by_csv.output
    assert json.loads(by_idx.stdout)["accuracy"] == json.loads(by_csv.stdout)["accuracy"]
    line = error_line(runner.invoke(app, ["evaluate", str(trained), "--images", "x"]))
    assert line == "error: --images and --labels go together"
    line = error_line(runner.invoke(app, ["evaluate", str(trained), "--data", "mnst:test"]))
    assert "--data mnst:test: $.name: unknown data set 'mnst'; did you mean 'mnist'?" in line


def test_info_summarizes_the_model(trained: Path) -> None:
    result = runner.invoke(app, ["info", str(trained)])
    assert result.exit_code == 0, result.output
    for text in ("64 x 16", "16 x 3", "tanh", "softmax", "1,091", "scale", "flatten", "a, b, c"):
        assert text in result.stdout, text
    summary = json.loads(runner.invoke(app, ["info", str(trained), "--json"]).stdout)
    assert summary["parameters"] == 64 * 16 + 16 + 16 * 3 + 3


def test_fetch_of_an_unknown_data_set_exits_1_listing_the_known_ones() -> None:
    line = error_line(runner.invoke(app, ["fetch", "nosuch"]))
    assert line == "error: unknown data set 'nosuch'; known: fashion-mnist, microchips, mnist"


def _digit_model(path: Path) -> pn.Model:
    """A random 784-16-10 model over raw 28x28 uint8 images, saved to `path`."""
    arch = pn.Architecture((784, 16, 10))
    model = pn.Model(arch, pn.init(arch, seed=0), (pn.Scale(), pn.Flatten((28, 28))))
    pn.save_model(path, model)
    return model


def _dark_on_light_digit(path: Path, offset: int) -> None:
    """A thick dark stroke on white paper, off-centre, written as a 60x60 PNG."""
    from PIL import Image

    paper = np.full((60, 60), 250, dtype=np.uint8)
    paper[10 + offset : 40 + offset, 20 + offset : 26 + offset] = 10
    paper[10 + offset : 14 + offset, 14 + offset : 26 + offset] = 10
    Image.fromarray(paper).save(path)


def test_predict_on_pictures_matches_the_library_and_draws_the_guesses(tmp_path: Path) -> None:
    from purenet.data.images import load_images
    from purenet.modelfile.evaluation import predict_inputs

    model = _digit_model(tmp_path / "model.json")
    pictures = [tmp_path / "a.png", tmp_path / "b.png"]
    for offset, picture in enumerate(pictures):
        _dark_on_light_digit(picture, 3 * offset)
    grid = tmp_path / "guesses.png"
    result = runner.invoke(
        app,
        [
            "predict",
            str(tmp_path / "model.json"),
            *map(str, pictures),
            "--json",
            "--show",
            str(grid),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [file["rows"][0][0]["class"] for file in json.loads(result.stdout)["predictions"]]
    expected = predict_inputs(model, load_images(pictures), 1).classes[:, 0].tolist()
    assert rows == expected
    assert grid.stat().st_size > 1000


def test_predict_show_without_pictures_is_a_one_line_error(trained: Path, tmp_path: Path) -> None:
    x = np.zeros((2, 4), dtype=np.float32)
    np.save(tmp_path / "rows.npy", x)
    result = runner.invoke(
        app, ["predict", str(trained), str(tmp_path / "rows.npy"), "--show", "g.png"]
    )
    assert "--show draws picture inputs" in error_line(result)


def test_plot_draws_the_run_figures(trained: Path) -> None:
    result = runner.invoke(app, ["plot", str(trained.parent), "--only", "loss"])
    assert result.exit_code == 0, result.output
    assert (trained.parent / "loss.png").stat().st_size > 1000
    bad = runner.invoke(app, ["plot", str(trained.parent), "--only", "losss"])
    assert "unknown figure 'losss'" in error_line(bad)


def test_show_draws_a_digit_and_refuses_an_index_out_of_range(tmp_path: Path) -> None:
    images = tmp_path / "images.gz"
    write_idx(images, np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28))
    out = tmp_path / "digit.png"
    result = runner.invoke(app, ["show", str(images), "--index", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1000
    bad = runner.invoke(app, ["show", str(images), "--index", "3", "--out", str(out)])
    assert "index 3 is out of range for 3 images" in error_line(bad)


def test_the_interrupt_hint_repeats_every_option_that_shapes_the_run() -> None:
    from purenet.cli.app import _interrupt_hint, _run_options
    from purenet.run.runner import RunInterrupted

    kept = RunInterrupted(Path("runs/x"), 3, Path("runs/x/checkpoint.json"))
    options = _run_options(
        Path("runs/x"), ["train.epochs=10", "a.b=[1, 2]"], 3000, Path("data"), 2, True
    )
    hint = _interrupt_hint(Path("r.toml"), options, kept)
    assert hint.endswith(
        "continue with: purenet run r.toml --resume --out runs/x "
        "--set train.epochs=10 --set 'a.b=[1, 2]' --limit 3000 --data-dir data --threads 2 "
        "--compact"
    )
    none = RunInterrupted(Path("runs/x"), 0, None)
    assert "nothing to resume" in _interrupt_hint(Path("r.toml"), [], none)
    drawing = RunInterrupted(Path("runs/x"), 4, Path("runs/x/checkpoint.json"), model_written=True)
    assert _interrupt_hint(Path("r.toml"), options, drawing).endswith(
        "the model is written; draw them with: purenet plot runs/x"
    )


def test_error_text_is_printed_as_written(trained: Path, tmp_path: Path) -> None:
    # rich would turn ":smile:" into an emoji and "[red]" into a style.
    missing = tmp_path / "chips:smile:[red].csv"
    result = runner.invoke(app, ["evaluate", str(trained), "--csv", str(missing)])
    assert "chips:smile:[red].csv" in error_line(result)
