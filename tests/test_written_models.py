"""Every model file and run recipe the test suite wrote meets the JSON Schemas.

The suite's tests write their files under this session's temporary folder; this module runs last
(its name sorts after every other test module) and validates what they left there. Run alone, it
finds nothing and skips.
"""

import json
import tomllib
from pathlib import Path

import jsonschema
import pytest

from purenet.exchange.schemas import model_json_schema
from purenet.recipe.json_schema import recipe_json_schema


def written(base: Path, pattern: str) -> list[Path]:
    return sorted(path for path in base.rglob(pattern) if path.is_file())


def test_every_model_the_suite_wrote_meets_the_model_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    validator = jsonschema.Draft202012Validator(model_json_schema())
    models = []
    for path in written(tmp_path_factory.getbasetemp(), "*.json"):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # the suite writes broken files on purpose
        if isinstance(data, dict) and data.get("format") == "purenet.model":
            models.append((path, data))
    if not models:
        pytest.skip("no model files written in this session; run the whole suite")
    # The suite also writes malformed models on purpose (to see them refused): only those
    # that purenet itself accepts must meet the schema.
    from purenet.errors import ModelFormatError
    from purenet.modelfile.io import model_from_data

    checked = 0
    for path, data in models:
        try:
            model_from_data(data)
        except ModelFormatError:
            continue
        problems = [error.message for error in validator.iter_errors(data)]
        assert problems == [], f"{path}: {problems[:3]}"
        checked += 1
    assert checked > 0


def test_every_run_recipe_the_suite_wrote_meets_the_recipe_schema(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    validator = jsonschema.Draft202012Validator(recipe_json_schema())
    recipes = [
        path
        for path in written(tmp_path_factory.getbasetemp(), "recipe.toml")
        if (path.parent / "metrics.jsonl").exists()  # a run folder's resolved recipe
    ]
    if not recipes:
        pytest.skip("no run folders written in this session; run the whole suite")
    for path in recipes:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        problems = [error.message for error in validator.iter_errors(data)]
        assert problems == [], f"{path}: {problems[:3]}"
