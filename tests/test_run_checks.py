"""A run checks its figures, output folder and test set before it trains, naming the key."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest
from test_runner import blobs, data_files, tiny_recipe, write_idx

from purenet.errors import RecipeError
from purenet.recipe.load import load_recipe
from purenet.recipe.toml import to_toml
from purenet.run.runner import run_recipe

__all__ = ["data_files"]  # a fixture, used by name


def csv_recipe(tmp_path: Path, plots: list[str]) -> Path:
    """A recipe over a CSV of flat 8x8 blobs (label first), so (n, 64) rows, not images."""
    x, y = blobs(60, 0)
    np.savetxt(tmp_path / "train.csv", np.hstack([y[:, None], x.reshape(60, 64)]), "%d", ",")
    path = tiny_recipe(
        tmp_path,
        data__train={"kind": "csv", "path": "train.csv"},
        pipeline__steps=[{"kind": "scale"}],
        output__plots=plots,
    )
    data = tomllib.loads(path.read_text())
    del data["data"]["test"]  # the figures are drawn from the training set then
    path.write_text(to_toml(data))
    return path


def untrained(recipe: Path, **kwargs: object) -> str:
    """The error of a run that must fail before its first epoch."""
    epochs: list[int] = []
    with pytest.raises(RecipeError) as caught:
        run_recipe(load_recipe(recipe), on_epoch=lambda r: epochs.append(r.epoch), **kwargs)
    assert epochs == []
    assert not (recipe.parent / "run" / "metrics.jsonl").exists()
    return str(caught.value)


def test_a_figure_that_does_not_fit_the_data_fails_before_training(tmp_path: Path) -> None:
    recipe = csv_recipe(tmp_path, ["loss", "digits"])
    assert untrained(recipe) == (
        f"{recipe}: $.output.plots[1]: cannot draw digits: the data have shape (1, 64), "
        "not (n, h, w) images"
    )
    recipe = csv_recipe(tmp_path, ["convergence"])
    assert "$.output.plots[0]: cannot draw convergence: no scalars were tracked" in untrained(
        recipe
    )
    recipe = csv_recipe(tmp_path, ["loss", "confusion", "weights"])
    assert run_recipe(load_recipe(recipe)).metrics["epochs"] == 4  # these fit: the run trains


def test_an_output_folder_inside_a_file_fails_before_training(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    recipe = tiny_recipe(tmp_path, output__dir=str(blocker / "run"))
    assert untrained(recipe) == (
        f"{recipe}: $.output.dir: {blocker / 'run'}: {blocker} is a file, not a folder"
    )
    recipe = tiny_recipe(tmp_path)
    message = untrained(recipe, out_dir=blocker)
    assert message == f"--out: {blocker}: {blocker} is a file, not a folder"


def test_a_test_set_the_model_cannot_take_fails_before_training(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    tx, ty = blobs(30, 1)
    write_idx(data_files["test_images"], tx[:, :7, :7])
    recipe = tiny_recipe(tmp_path)
    assert untrained(recipe).startswith(f"{recipe}: $.data.test")
    write_idx(data_files["test_images"], tx)
    write_idx(data_files["test_labels"], ty + 2)  # labels 2..4 for a 3-class model
    message = untrained(recipe)
    assert message.endswith(
        "labels range over [2, 4]; the model tells 3 classes apart ($.model.sizes)"
    )
