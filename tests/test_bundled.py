"""The recipes that ship with the package: packaging, lookup by name, listing and starters."""

from __future__ import annotations

import tomllib
from pathlib import Path

import attrs
import pytest
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.errors import RecipeError
from purenet.recipe.bundled import bundled_recipes, describe_recipe, find_recipe, starter_recipe
from purenet.recipe.load import load_recipe

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_pyproject_installs_every_subpackage_and_the_recipes_as_purenet_bundled() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {"purenet"} | {
        f"purenet.{folder.name}"
        for folder in (ROOT / "purenet").iterdir()
        if folder.is_dir() and any(folder.glob("*.py"))
    }
    assert set(config["packages"]) == on_disk | {"purenet.bundled"}
    assert config["package-dir"]["purenet.bundled"] == "recipes"
    assert config["package-data"]["purenet.bundled"] == ["*.toml", "data/*.csv", "data/*.md"]
    # Every file the recipes read from their folder is among those patterns.
    data_files = {p.suffix for p in (ROOT / "recipes" / "data").iterdir()}
    assert data_files <= {".csv", ".md"}


def test_bundled_recipes_are_the_recipes_folder_by_name() -> None:
    files = sorted((ROOT / "recipes").glob("*.toml"))
    assert bundled_recipes() == {path.stem: path for path in files}
    assert find_recipe("mnist") == ROOT / "recipes" / "mnist.toml"
    # A path is taken as it is, even when it does not exist (load_recipe names it then).
    assert find_recipe("my.toml") == Path("my.toml")
    assert find_recipe("sub/mnist") == Path("sub/mnist")
    with pytest.raises(RecipeError, match=r"^mnst: no such recipe file or bundled recipe; bundled"):
        find_recipe("mnst")


def test_describe_recipe_is_the_first_sentence_of_the_leading_comment(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("# Digits: a 784-10 net, e.g. for tests. More here.\n# Second.\n\n# x\n")
    assert describe_recipe(recipe) == "Digits: a 784-10 net, e.g. for tests"
    recipe.write_text("[data]\n")
    assert describe_recipe(recipe) == ""
    # 87 characters: cut at the colon.
    assert describe_recipe(find_recipe("microchips")) == (
        "Microchip quality tests (Andrew Ng's ex2data2)"
    )


@pytest.mark.parametrize("base", sorted(bundled_recipes()))
def test_a_starter_recipe_is_its_base_with_a_new_run_folder(base: str, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(starter_recipe("mine", base=base))
    mine, original = load_recipe(path), load_recipe(find_recipe(base))
    assert mine.output.dir == "runs/mine"
    assert attrs.evolve(mine, output=original.output) == original


def test_new_writes_a_commented_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "digits.toml"
    result = runner.invoke(app, ["new", "digits", "--from", "microchips", "--out", str(target)])
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert text.startswith("# digits: a starter recipe, copied from the bundled recipe")
    assert "#   [model] hidden: elu, identity, leaky_relu, relu" in text
    again = runner.invoke(app, ["new", "digits", "--out", str(target)])
    assert again.exit_code == 1 and "exists; pick another name or pass --force" in again.stderr
    bad = runner.invoke(app, ["new", "x", "--from", "nope", "--out", str(tmp_path / "x.toml")])
    assert bad.exit_code == 1 and "--from nope: no bundled recipe of that name" in bad.stderr


def test_recipes_lists_every_bundled_recipe_with_its_description() -> None:
    result = runner.invoke(app, ["recipes"])
    assert result.exit_code == 0, result.output
    for name, path in bundled_recipes().items():
        command = "sweep" if name.endswith("-sweep") else "run"
        lines = result.stdout.splitlines()
        line = next(line for line in lines if line.startswith(f"purenet {command} {name} "))
        assert line.endswith(describe_recipe(path))


def test_run_takes_a_bundled_recipe_by_name(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "chips"
    result = runner.invoke(
        app, ["run", "microchips", "-q", "--out", str(out), "--set", "train.epochs=3"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "model.json").is_file()
    line = runner.invoke(app, ["run", "microchip"]).stderr
    assert "microchip: no such recipe file or bundled recipe; bundled: diabetes, fashion" in line


def test_long_descriptions_are_cut_at_the_colon_or_a_word(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text("# A sweep over digits: " + "word " * 30 + "end.\n")
    assert describe_recipe(recipe) == "A sweep over digits"
    recipe.write_text("# " + "word " * 30 + "end.\n")
    assert describe_recipe(recipe) == "word " * 14 + "word..."
