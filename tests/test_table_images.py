"""Images from tables: a CSV of flat 8x8 images declared as images by the `image` step."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import runner
from test_runner import blobs, tiny_recipe, write_idx

from purenet.cli.app import app
from purenet.errors import RecipeError
from purenet.modelfile.io import load_model
from purenet.pipeline.steps import Flatten, Scale
from purenet.recipe.load import load_recipe
from purenet.recipe.schema import ImageShape
from purenet.run.runner import run_recipe

IMAGE_STEPS = [{"kind": "image", "shape": [8, 8]}, {"kind": "scale"}, {"kind": "flatten"}]


def csv_images(tmp_path: Path) -> Path:
    """train.csv and test.csv (label first, then 64 pixel columns) and an IDX copy of test."""
    for name, n, seed in (("train", 120, 0), ("test", 30, 1)):
        x, y = blobs(n, seed)
        table = np.hstack([y[:, None], x.reshape(n, 64)])
        np.savetxt(tmp_path / f"{name}.csv", table, "%d", ",")
        if name == "test":
            write_idx(tmp_path / "test-images.gz", x)
    return tiny_recipe(
        tmp_path,
        data__train={"kind": "csv", "path": "train.csv"},
        data__test={"kind": "csv", "path": "test.csv"},
        pipeline__steps=IMAGE_STEPS,
        pipeline__augment=[{"kind": "rotate", "max_degrees": 10.0}],
        output__plots=["digits", "mistakes", "weights"],
    )


def test_the_image_step_reshapes_rows_and_refuses_other_widths() -> None:
    rows = np.arange(2 * 6).reshape(2, 6)
    assert ImageShape((2, 3)).apply(rows).shape == (2, 2, 3)
    assert np.array_equal(ImageShape((2, 3)).apply(rows)[1], [[6, 7, 8], [9, 10, 11]])
    images = np.zeros((4, 2, 3))
    assert ImageShape((2, 3)).apply(images) is images
    with pytest.raises(ValueError, match=r"image shape \[2, 3\] needs rows of 6 values, found"):
        ImageShape((2, 3)).apply(np.zeros((2, 7)))


def test_the_image_step_must_come_first_and_fit_the_data(tmp_path: Path) -> None:
    recipe = csv_images(tmp_path)
    steps = '[{kind = "scale"}, {kind = "image", shape = [8, 8]}]'
    with pytest.raises(RecipeError, match=r"\$\.pipeline\.steps\[1\]: the image step must come"):
        load_recipe(recipe, overrides=[f"pipeline.steps={steps}"])
    wrong = '[{kind = "image", shape = [7, 9]}, {kind = "flatten"}]'
    with pytest.raises(RecipeError, match=r"\$\.pipeline\.steps\[0\]: image shape \[7, 9\] needs"):
        run_recipe(load_recipe(recipe, overrides=[f"pipeline.steps={wrong}"]))


def test_a_csv_of_flat_images_trains_augmented_draws_and_predicts_like_idx(
    tmp_path: Path,
) -> None:
    result = run_recipe(load_recipe(csv_images(tmp_path)))
    out = result.out_dir
    assert sorted(p.name for p in out.glob("*.png")) == [
        "digits.png",
        "mistakes.png",
        "weights.png",
    ]
    model = load_model(out / "model.json")
    # The model holds the same steps as one trained on IDX images: the image step is the
    # recipe's, it declares the raw data's shape.
    assert [type(step) for step in model.preprocess] == [Scale, Flatten]
    assert model.preprocess[1].input_shape == (8, 8)
    by_idx = runner.invoke(app, ["predict", str(out), str(tmp_path / "test-images.gz"), "--json"])
    by_csv = runner.invoke(
        app,
        ["predict", str(out), str(tmp_path / "test.csv"), "--label-column", "first", "--json"],
    )
    assert by_idx.exit_code == by_csv.exit_code == 0, by_idx.output + by_csv.output
    rows = [json.loads(r.stdout)["predictions"][0]["rows"] for r in (by_idx, by_csv)]
    assert rows[0] == rows[1] and len(rows[0]) == 30
    shown = runner.invoke(
        app,
        [
            "show",
            str(tmp_path / "test.csv"),
            "--label-column",
            "first",
            "--count",
            "4",
            "--out",
            str(tmp_path / "four.png"),
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / "four.png").stat().st_size > 1000
