"""`purenet bench-run`: a recipe's training call timed bare, with checkpoint and logs, with the
progress display, and with both."""

from __future__ import annotations

import json
from pathlib import Path

from test_runner import tiny_recipe, write_tiny_data
from typer.testing import CliRunner

from purenet.cli.app import app
from purenet.cli.run_bench import VARIANTS, bookkeeping_rows
from purenet.recipe.load import load_recipe


def test_every_variant_is_timed_against_the_bare_call(tmp_path: Path) -> None:
    write_tiny_data(tmp_path)
    rows = bookkeeping_rows(load_recipe(tiny_recipe(tmp_path)), repeats=1)
    assert [row.variant for row in rows] == list(VARIANTS)
    bare = rows[0]
    assert bare.seconds > 0 and bare.added == 0 and bare.wall_added == 0 and bare.share == 0
    for row in rows[1:]:
        assert row.added == row.seconds - bare.seconds
        assert row.wall_added == row.wall - bare.wall
        assert row.share == row.wall_added / row.run_wall and row.run_wall > bare.wall
    assert not list(tmp_path.glob("**/checkpoint.json"))  # temporary folders only


def test_the_command_prints_the_rows(tmp_path: Path) -> None:
    write_tiny_data(tmp_path)
    recipe = tiny_recipe(tmp_path)
    result = CliRunner().invoke(app, ["bench-run", str(recipe), "--repeats", "1", "--json"])
    assert result.exit_code == 0, result.output
    assert [row["variant"] for row in json.loads(result.stdout)] == list(VARIANTS)
    missing = CliRunner().invoke(app, ["bench-run", str(tmp_path / "none.toml")])
    assert missing.exit_code == 1 and "none.toml" in missing.output
