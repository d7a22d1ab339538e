"""Every recipe in recipes/ parses, and runs one short epoch on a capped slice of its data.

The runs need the real data: set PURENET_DATA_DIR (e.g. /work/shared/data) to run them.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from purenet.recipe.load import load_recipe
from purenet.run.runner import run_recipe
from purenet.run.sources import load_source

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.toml"))
NAMES = [path.stem for path in RECIPES]


def test_the_classic_tutorials_and_main_jobs_all_have_a_recipe() -> None:
    assert set(NAMES) >= {
        "mnist",
        "fashion-mnist",
        "tutorial-dnn-class",
        "tutorial-query-class",
        "tutorial-network-class",
        "microchips",
    }


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_recipe_parses_and_writes_to_its_own_run_folder(path: Path) -> None:
    recipe = load_recipe(path)
    assert recipe.output.dir == f"runs/{path.stem}"


@pytest.mark.parametrize("path", RECIPES, ids=NAMES)
def test_recipe_runs_one_short_epoch(path: Path, tmp_path: Path, data_dir: Path) -> None:
    recipe = load_recipe(path, overrides=["train.epochs=1"])
    result = run_recipe(recipe, out_dir=tmp_path, limit=300)
    assert len(result.history) == 1
    assert math.isfinite(result.history[0].train_loss)
    assert (tmp_path / "model.json").is_file()
    if recipe.data.test is not None:
        rows = len(load_source(recipe.data.test, data_dir=data_dir))
        assert result.test is not None and result.test.n == min(300, rows)
        for name, value in result.test.metrics().items():
            assert result.metrics[f"test_{name}"] == value
