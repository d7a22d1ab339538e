"""Everyday use of the command line: version, run folders for model files, hints, summaries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from test_cli import error_line, runner, tiny, trained
from test_runner import blobs

from purenet.cli.app import app
from purenet.core.checks import package_version
from purenet.run.compare import compare_runs

__all__ = ["tiny", "trained"]  # fixtures, used by name


def test_version_prints_the_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"purenet {package_version()}\n"


def test_info_and_evaluate_take_a_run_folder_like_its_model_file(trained: Path) -> None:
    for command in (["info", "--json"], ["evaluate", "--json", "--recipe-files"]):
        by_file = runner.invoke(app, [command[0], str(trained), *command[1:]])
        by_folder = runner.invoke(app, [command[0], str(trained.parent), *command[1:]])
        assert by_file.exit_code == by_folder.exit_code == 0, by_file.output + by_folder.output
        assert json.loads(by_file.stdout) == json.loads(by_folder.stdout)
    empty = trained.parent.parent / "empty"
    empty.mkdir()
    line = error_line(runner.invoke(app, ["info", str(empty)]))
    assert line == f"error: {empty}: a folder without model.json; give a model file or a run folder"


def test_plot_takes_a_model_file_like_its_run_folder(trained: Path) -> None:
    result = runner.invoke(app, ["plot", str(trained), "--only", "loss"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(trained.parent / "loss.png")


def test_evaluate_csv_names_the_label_column_it_defaults_to(trained: Path, tmp_path: Path) -> None:
    tx, ty = blobs(30, 1)
    np.savetxt(tmp_path / "t.csv", np.hstack([ty[:, None], tx.reshape(30, 64)]), delimiter=",")
    result = runner.invoke(app, ["evaluate", str(trained), "--csv", str(tmp_path / "t.csv")])
    assert result.exit_code == 0, result.output
    assert "labels from the first column (--label-column)" in result.stderr
    named = runner.invoke(
        app,
        ["evaluate", str(trained), "--csv", str(tmp_path / "t.csv"), "--label-column", "first"],
    )
    assert named.exit_code == 0 and named.stdout == result.stdout


def test_compare_shows_the_settings_that_differ_and_the_metrics(
    tiny: Path, tmp_path: Path
) -> None:
    sweep = tmp_path / "sweep" / "trials"
    for trial, rate in (("0", "0.5"), ("1", "0.1")):
        result = runner.invoke(
            app,
            ["run", str(tiny), "-q", "--out", str(sweep / trial), "--set",
             f"optimizer.learning_rate={rate}"],
        )
        assert result.exit_code == 0, result.output
    folders = [str(sweep / "0"), str(sweep / "1")]
    out = tmp_path / "cmp.png"
    report = runner.invoke(app, ["compare", *folders, "--out", str(out), "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    # Only the learning rate differs (output.dir always does and is left out).
    assert data["differing_settings"] == ["optimizer.learning_rate"]
    assert [run["settings"] for run in data["runs"]] == [
        {"optimizer.learning_rate": 0.5},
        {"optimizer.learning_rate": 0.1},
    ]
    for folder, run in zip(folders, data["runs"], strict=True):
        stored = json.loads((Path(folder) / "model.json").read_text())["meta"]["metrics"]
        assert run["metrics"] == stored
    assert out.stat().st_size > 1000
    table = runner.invoke(app, ["compare", *folders, "--no-plot"])
    assert table.exit_code == 0, table.output
    assert "optimizer.learning_rate" in table.stdout and "test_accuracy" in table.stdout
    # Trials are named below the folders' common parent.
    assert [run.name for run in compare_runs(folders).runs] == ["0", "1"]
    line = error_line(runner.invoke(app, ["compare", folders[0], str(tmp_path / "nope")]))
    assert line == f"error: {tmp_path / 'nope'}: not a run folder (no such directory)"
