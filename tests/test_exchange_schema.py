"""The JSON Schemas: valid draft 2020-12, met by every bundled recipe and every model written, and
refusing the loaders' malformed cases wherever a schema can say so."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
from hypothesis import given, settings
from test_modelfile import MALFORMED, models, small_model
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.errors import RecipeError
from purenet.exchange.schemas import attrs_json_schema, model_json_schema
from purenet.modelfile.io import model_from_data, model_to_data
from purenet.recipe.json_schema import recipe_json_schema
from purenet.recipe.load import read_recipe_data, recipe_from_data

RECIPES = sorted((Path(__file__).parent.parent / "recipes").glob("*.toml"))

MODEL = jsonschema.Draft202012Validator(model_json_schema())
RECIPE = jsonschema.Draft202012Validator(recipe_json_schema())


def errors(validator: jsonschema.Draft202012Validator, data: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(data)]


def test_the_schemas_are_valid_draft_2020_12() -> None:
    for schema in (model_json_schema(), recipe_json_schema()):
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_schema_command_prints_them() -> None:
    for name, schema in (("model", model_json_schema()), ("recipe", recipe_json_schema())):
        result = CliRunner().invoke(app, ["schema", name])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == schema
    assert CliRunner().invoke(app, ["schema", "checkpoint"]).exit_code == 2


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_every_bundled_recipe_meets_the_recipe_schema(path: Path) -> None:
    assert RECIPES, "no bundled recipes found"
    assert errors(RECIPE, read_recipe_data(path)) == []


def test_the_recipe_schema_follows_new_fields_of_the_attrs_classes() -> None:
    recipe = recipe_json_schema()
    # Every attrs field is a property: a section added to Recipe appears without other changes.
    assert set(recipe["properties"]) == {
        "data",
        "model",
        "optimizer",
        "train",
        "pipeline",
        "output",
        "sweep",
    }
    train = recipe["$defs"]["TrainSpec"]
    assert train["required"] == ["epochs"]
    assert train["properties"]["batch_size"]["anyOf"][1] == {"const": "full"}
    kinds = {
        d["properties"]["kind"]["const"]
        for d in recipe["$defs"].values()
        if "kind" in d.get("properties", {})
    }
    assert {
        "sgd",
        "adam",
        "adamw",
        "rmsprop",
        "inverse_time",
        "scale",
        "rotate",
        "idx",
        "csv",
    } <= kinds


BASE_RECIPE: dict[str, Any] = {
    "data": {"train": "mnist:train", "test": "mnist:test"},
    "pipeline": {"steps": [{"kind": "scale"}, {"kind": "flatten"}]},
    "model": {"sizes": [784, 32, 10]},
    "optimizer": {
        "kind": "sgd",
        "learning_rate": {"kind": "inverse_time", "initial": 0.1, "decay": 0.01},
    },
    "train": {"epochs": 2, "batch_size": "full"},
}

BAD_RECIPES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    ("unknown section", lambda r: r.update(extra={})),
    ("unknown key", lambda r: r["model"].update(activaton="relu")),
    ("missing section", lambda r: r.pop("train")),
    ("unknown activation", lambda r: r["model"].update(hidden="rellu")),
    ("unknown optimizer", lambda r: r["optimizer"].update(kind="adagrad")),
    (
        "unknown schedule",
        lambda r: r["optimizer"].update(learning_rate={"kind": "warm", "initial": 1}),
    ),
    ("unknown step", lambda r: r["pipeline"]["steps"].append({"kind": "blur"})),
    ("string epochs", lambda r: r["train"].update(epochs="5")),
    ("zero epochs", lambda r: r["train"].update(epochs=0)),
    ("batch size", lambda r: r["train"].update(batch_size="half")),
    ("data set", lambda r: r["data"].update(train="cifar:train")),
    ("source kind", lambda r: r["data"].update(test={"kind": "parquet", "path": "x"})),
    ("valid fraction", lambda r: r["data"].update(valid_fraction=1.0)),
    ("one size", lambda r: r["model"].update(sizes=[784])),
    ("plot", lambda r: r.update(output={"plots": ["losses"]})),
]


@pytest.mark.parametrize(("name", "change"), BAD_RECIPES, ids=[b[0] for b in BAD_RECIPES])
def test_recipes_the_loader_refuses_the_schema_refuses(
    name: str, change: Callable[[dict[str, Any]], None]
) -> None:
    assert errors(RECIPE, BASE_RECIPE) == []
    recipe_from_data(json.loads(json.dumps(BASE_RECIPE)))
    data = json.loads(json.dumps(BASE_RECIPE))
    change(data)
    with pytest.raises(RecipeError):
        recipe_from_data(data)
    assert errors(RECIPE, data), name


SCHEMA_CANNOT_SAY = {
    # Relations between values: counts against shapes, shapes against sizes or each other,
    # low < high, the number of labels. load_model checks them.
    "count",
    "shape",
    "mixed dtypes",
    "too few layers",
    "sizes",
    "step value",
    "width",
    "stats shape",
    "labels",
}


@pytest.mark.parametrize(("name", "change", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_model_files_are_refused_by_the_schema_where_it_can_say_so(
    name: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = model_to_data(small_model())
    assert errors(MODEL, data) == []
    change(data)
    found = errors(MODEL, data)
    if name in SCHEMA_CANNOT_SAY:
        assert found == [], f"{name}: the schema refuses it now; move it out of SCHEMA_CANNOT_SAY"
    else:
        assert found, f"{name}: the loader refuses it ({message}), the schema does not"


@settings(max_examples=30, deadline=None)
@given(models())
def test_random_models_meet_the_model_schema(model: pn.Model) -> None:
    assert errors(MODEL, json.loads(json.dumps(model_to_data(model)))) == []
    assert errors(MODEL, json.loads(json.dumps(model_to_data(model, compact=True)))) == []


def test_base64_arrays_in_a_version_1_file_are_refused_by_the_schema() -> None:
    data = model_to_data(small_model(), compact=True)
    data["format_version"] = 1
    assert errors(MODEL, data)  # the loader refuses it too (test_modelfile.py)
    decimal = model_to_data(small_model())
    decimal["preprocess"][2]["std"] = model_to_data(small_model(), compact=True)["preprocess"][2][
        "std"
    ]
    assert errors(MODEL, decimal)
    decimal["format_version"] = 2
    assert errors(MODEL, decimal) == []


@pytest.mark.parametrize(
    "base64",
    ["AAAA!AAA", "AAAAA", "AA=A", 12],
    ids=["character", "length", "padding", "type"],
)
def test_bad_base64_arrays_are_refused_by_the_schema_and_the_loader(base64: Any) -> None:
    data = model_to_data(small_model(), compact=True)
    assert data["format_version"] == 2 and errors(MODEL, data) == []
    data["layers"][0]["b"]["base64"] = base64
    assert errors(MODEL, data)
    with pytest.raises(pn.ModelFormatError, match=r"\$\.layers\[0\]\.b\.base64: "):
        model_from_data(data)


def test_models_of_every_activation_output_and_step_meet_the_schema() -> None:
    images = np.random.default_rng(0).integers(0, 256, (20, 4, 4), dtype=np.uint8)
    steps = pn.fit_preprocess(
        [pn.Scale(0.01, 1.0), pn.Flatten(), pn.Standardize(), pn.Standardize(per_feature=False)],
        images,
    )
    for hidden in pn.ACTIVATIONS:
        for output, loss in pn.LOSSES:
            for dtype in ("float32", "float64"):
                arch = pn.Architecture((16, 3, 2), hidden, output, loss)
                model = pn.Model(arch, pn.init(arch, seed=0, dtype=dtype), steps)
                assert errors(MODEL, model_to_data(model)) == [], (hidden, output, dtype)


def test_a_trained_run_writes_a_model_and_recipe_that_meet_the_schemas(tmp_path: Path) -> None:
    from purenet.run.runner import run_recipe

    rows = np.random.default_rng(1).normal(size=(40, 3))
    table = tmp_path / "data.csv"
    table.write_text("\n".join(f"{int(r[0] > 0)},{r[0]:.4f},{r[1]:.4f},{r[2]:.4f}" for r in rows))
    data = {
        "data": {"train": {"kind": "csv", "path": str(table), "header": False}},
        "pipeline": {"steps": [{"kind": "standardize"}]},
        "model": {"sizes": [3, 4, 1], "hidden": "tanh", "output": "sigmoid"},
        "optimizer": {"kind": "adam", "learning_rate": 0.01},
        "train": {"epochs": 2, "batch_size": 8},
        "output": {"dir": str(tmp_path / "run")},
    }
    assert errors(RECIPE, data) == []
    run_recipe(recipe_from_data(data))
    written = json.loads((tmp_path / "run" / "model.json").read_text())
    assert errors(MODEL, written) == []
    assert errors(RECIPE, written["meta"]["recipe"]) == []


def test_the_generator_describes_plain_attrs_classes() -> None:
    import attrs

    @attrs.frozen
    class Inner:
        kind_of: str

    @attrs.frozen
    class Outer:
        count: int
        names: tuple[str, ...] = ()
        inner: Inner | None = None
        table: dict[str, float] = attrs.field(factory=dict)

    schema = attrs_json_schema(Outer, title="outer")
    validator = jsonschema.Draft202012Validator(schema)
    assert errors(validator, {"count": 1, "names": ["a"], "inner": {"kind_of": "x"}}) == []
    assert errors(validator, {"count": 1, "table": {"a": 1.5}}) == []
    for bad in (
        {},
        {"count": 1.5},
        {"count": 1, "names": "a"},
        {"count": 1, "inner": {}},
        {"count": 1, "other": 2},
        {"count": 1, "table": {"a": "b"}},
    ):
        assert errors(validator, bad), bad


def test_the_architectures_later_options_meet_the_schema_and_bad_ones_do_not() -> None:
    from purenet.errors import ModelFormatError
    from purenet.modelfile.io import model_from_data

    arch = pn.Architecture(
        (4, 5, 3, 2),
        hidden=("relu", "tanh"),
        output="identity",
        loss="huber",
        bias=(True, False, True),
        dropout=(0.5, 0.1),
        input_dropout=0.2,
        huber_delta=2.0,
    )
    data = model_to_data(pn.Model(arch, pn.init(arch, seed=0)))
    assert data["layers"][1]["b"]["shape"] == [0]
    assert errors(MODEL, data) == []
    for key, value in [
        ("dropout", 1.5),
        ("dropout", [0.5, "x"]),
        ("hidden", ["relu", "rellu"]),
        ("input_dropout", -0.1),
        ("huber_delta", 0),
        ("bias", "yes"),
    ]:
        bad = json.loads(json.dumps(data))
        bad["architecture"][key] = value
        with pytest.raises(ModelFormatError):
            model_from_data(bad)
        assert errors(MODEL, bad), (key, value)
