"""Recipes: schema errors with JSON paths and suggestions, overrides, paths, exact round trips."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet import optim
from purenet.data.registry import DATASETS
from purenet.errors import RecipeError
from purenet.optim.schedules import CosineDecay, InverseTimeDecay, StepDecay
from purenet.pipeline.steps import Flatten, Scale, Standardize
from purenet.recipe.augment_section import Affine, Rotate, Shift
from purenet.recipe.load import (
    apply_overrides,
    dump_recipe,
    load_recipe,
    recipe_from_data,
    source_from_data,
)
from purenet.recipe.schema import (
    PLOTS,
    CsvSource,
    DatasetSource,
    DataSpec,
    IdxSource,
    ModelSpec,
    OutputSpec,
    PipelineSpec,
    Recipe,
    Targets,
    TrainSpec,
)
from purenet.recipe.toml import to_toml
from purenet.training.reports import EarlyStopping

BASE: dict[str, Any] = {
    "data": {"train": "mnist:train", "test": "mnist:test", "valid_fraction": 0.1},
    "pipeline": {
        "steps": [{"kind": "scale", "low": 0.01, "high": 1.0}, {"kind": "flatten"}],
        "targets": {"on": 0.99, "off": 0.01},
        "augment": [{"kind": "rotate", "max_degrees": 10, "copies": 1}],
    },
    "model": {"sizes": [784, 200, 10], "hidden": "sigmoid", "output": "sigmoid", "loss": "mse"},
    "optimizer": {
        "kind": "sgd",
        "learning_rate": {"kind": "inverse_time", "initial": 0.1, "decay": 0.01},
    },
    "train": {"epochs": 5, "batch_size": 32, "seed": 80},
    "output": {"dir": "runs/digits", "plots": ["loss", "accuracy", "confusion"]},
}


def with_change(path: str, value: Any) -> dict[str, Any]:
    """BASE with one value set (or deleted, for value=...) at a dotted path."""
    data = copy.deepcopy(BASE)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
    if value is ...:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


def test_the_design_sketch_structures_into_the_documented_classes() -> None:
    recipe = recipe_from_data(BASE)
    assert recipe.data == DataSpec(
        DatasetSource("mnist", "train"), DatasetSource("mnist", "test"), 0.1
    )
    assert recipe.pipeline == PipelineSpec(
        (Scale(0.01, 1.0), Flatten()), Targets(0.99, 0.01), (Rotate(10.0, 1),)
    )
    assert recipe.model == ModelSpec((784, 200, 10), "sigmoid", "sigmoid", "mse")
    assert recipe.optimizer == optim.SGD(InverseTimeDecay(0.1, 0.01))
    assert recipe.train == TrainSpec(5, 32, 80)
    assert recipe.output == OutputSpec("runs/digits", ("loss", "accuracy", "confusion"))


def test_defaults_fill_optional_sections() -> None:
    recipe = recipe_from_data(
        {
            "data": {"train": "microchips:train"},
            "model": {"sizes": [2, 10, 1], "output": "sigmoid"},
            "optimizer": {"kind": "adam"},
            "train": {"epochs": 3, "batch_size": "full"},
        }
    )
    assert recipe.pipeline == PipelineSpec()
    assert recipe.output == OutputSpec()
    assert recipe.optimizer == optim.Adam()
    assert recipe.train.batch_size == "full"
    assert recipe.data.test is None


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("model.hiden", "relu", "$.model.hiden: unknown key; did you mean 'hidden'?"),
        ("modle", {}, "$.modle: unknown key; did you mean 'model'?"),
        ("train.epochs", "ten", "$.train.epochs: expected an integer, found string 'ten'"),
        ("train.epochs", 2.5, "$.train.epochs: expected an integer, found float 2.5"),
        ("train.epochs", 0, "$.train.epochs: must be an integer >= 1, found 0"),
        ("train.seed", True, "$.train.seed: expected an integer, found boolean True"),
        ("data.valid_fraction", "0.1", "$.data.valid_fraction: expected a number, found string"),
        ("data.valid_fraction", 1.0, "$.data.valid_fraction: must be in [0.0, 1.0), found 1.0"),
        (
            "model.hidden",
            "rellu",
            "$.model.hidden: unknown activation 'rellu'; did you mean 'relu'?",
        ),
        ("model.output", "softmaxx", "$.model.output: unknown output activation 'softmaxx'"),
        ("model.loss", "hinge", "$.model.loss: unsupported output x loss: sigmoid x hinge"),
        ("model.init", "xavier", "$.model.init: unknown init scheme 'xavier'"),
        ("model.sizes", "784", "$.model.sizes: expected an array, found string '784'"),
        ("model.sizes", [784, "a", 10], "$.model.sizes[1]: expected an integer, found string 'a'"),
        ("model.sizes", [784], "$.model.sizes: expected at least two positive layer widths"),
        ("model.sizes", ..., "$.model.sizes: required key missing"),
        ("train", ..., "$.train: required key missing"),
        ("optimizer.kind", "sdg", "$.optimizer.kind: unknown kind 'sdg'; did you mean 'sgd'?"),
        ("optimizer.kind", ..., "$.optimizer.kind: missing; expected one of: sgd, adam"),
        ("optimizer.momentum", 1.5, "$.optimizer.momentum: must be in [0.0, 1.0), found 1.5"),
        ("optimizer.b1", 0.9, "$.optimizer.b1: unknown key; expected one of: learning_rate"),
        ("optimizer.learning_rate", "fast", "$.optimizer.learning_rate: expected a number or"),
        ("optimizer.learning_rate.kind", "cosin", "did you mean 'cosine'?"),
        (
            "optimizer.learning_rate.decay",
            -1,
            "$.optimizer.learning_rate.decay: must be a finite number >= 0, found -1",
        ),
        ("pipeline.steps.1.kind", "flaten", "$.pipeline.steps[1].kind: unknown kind 'flaten'"),
        ("pipeline.steps.0.low", 2.0, "$.pipeline.steps[0].high: expected low < high"),
        ("pipeline.steps.0", "scale", "$.pipeline.steps[0]: expected a table with a 'kind' key"),
        ("pipeline.augment.0.max_degree", 3, "did you mean 'max_degrees'?"),
        (
            "pipeline.augment.0.copies",
            -1,
            "$.pipeline.augment[0].copies: must be an integer >= 0, found -1",
        ),
        ("pipeline.targets.onn", 1.0, "$.pipeline.targets.onn: unknown key; did you mean 'on'?"),
        ("data.train", "mnist", "$.data.train: expected 'name:split'"),
        ("data.train", "mnst:train", "$.data.train.name: unknown data set 'mnst'; did you mean"),
        ("data.test", {"kind": "idx", "images": "a"}, "$.data.test.labels: required key missing"),
        ("data.test", {"kind": "parquet"}, "$.data.test.kind: unknown kind 'parquet'"),
        ("data.test", {"kind": "csv", "path": "a", "header": "no"}, "$.data.test.header: expected"),
        ("train.batch_size", 0, '$.train.batch_size: expected an integer >= 1 or "full"'),
        ("train.batch_size", "all", '$.train.batch_size: expected an integer or "full"'),
        ("train.dtype", "float16", "$.train.dtype: unknown dtype 'float16'"),
        ("train.early_stopping", {"patiense": 3}, "did you mean 'patience'?"),
        ("train.early_stopping", {"patience": 0}, "$.train.early_stopping.patience:"),
        ("train.track", ["w[0]"], "$.train.track[0]: track: cannot parse 'w[0]'"),
        ("output.plots", ["los"], "$.output.plots[0]: unknown plot 'los'; did you mean 'loss'?"),
    ],
)
def test_faults_name_the_json_path_and_what_was_expected(
    path: str, value: Any, message: str
) -> None:
    with pytest.raises(RecipeError) as caught:
        recipe_from_data(with_change(path, value), source="r.toml")
    assert str(caught.value).startswith("r.toml: ")
    assert message in str(caught.value)


def test_several_faults_are_counted() -> None:
    data = with_change("model.hiden", "relu")
    data["train"]["epochz"] = 3
    with pytest.raises(RecipeError, match=r"\(and 1 more\)$"):
        recipe_from_data(data)


@pytest.mark.parametrize(
    ("step", "line"),
    [
        ({"kind": "flatten", "input_shape": [28, 28]}, "$.pipeline.steps[1].input_shape: not part"),
        ({"kind": "standardize", "mean": [0.5], "std": [1.0]}, "$.pipeline.steps[1].mean: not"),
        ({"kind": "standardize", "meen": 1}, "steps[1].meen: unknown key; expected one of: per_"),
    ],
)
def test_fitted_values_are_not_part_of_a_recipe(step: dict[str, Any], line: str) -> None:
    with pytest.raises(RecipeError) as caught:
        recipe_from_data(with_change("pipeline.steps.1", step), source="r.toml")
    assert line in str(caught.value)
    with pytest.raises(ValueError, match=r"flatten holds fitted input_shape, not part of a recipe"):
        PipelineSpec((Scale(), Flatten((28, 28))))


def test_recipe_steps_are_the_preprocessing_specs_and_dump_only_what_is_set() -> None:
    from purenet.pipeline import steps as preprocess

    assert (Scale, Standardize, Flatten) == (
        preprocess.Scale,
        preprocess.Standardize,
        preprocess.Flatten,
    )
    data = with_change("pipeline.steps", [{"kind": "standardize"}, {"kind": "flatten"}])
    recipe = recipe_from_data(data)
    assert recipe.pipeline.steps == (Standardize(), Flatten())
    assert dump_recipe(recipe)["pipeline"]["steps"] == [
        {"kind": "standardize", "per_feature": True},
        {"kind": "flatten"},
    ]


def test_a_recipe_that_is_not_a_table_is_refused() -> None:
    with pytest.raises(RecipeError, match=r"^x: \$: expected a table of sections, found array"):
        recipe_from_data([1], source="x")


def test_load_recipe_reads_toml_and_json_alike_and_resolves_paths(tmp_path: Path) -> None:
    folder = tmp_path / "recipes"
    folder.mkdir()
    data = with_change("data.test", {"kind": "idx", "images": "d/x.gz", "labels": "/abs/y.gz"})
    data["data"]["train"] = {"kind": "csv", "path": "~/chips.txt", "label": "last"}
    del data["output"]
    (folder / "digits.toml").write_text(to_toml(data), encoding="utf-8")
    (folder / "digits.json").write_text(json.dumps(data), encoding="utf-8")
    from_toml = load_recipe(folder / "digits.toml")
    assert from_toml == load_recipe(folder / "digits.json")
    assert from_toml.data.test == IdxSource(str(folder.resolve() / "d/x.gz"), "/abs/y.gz")
    assert from_toml.data.train == CsvSource(str(Path.home() / "chips.txt"), label="last")
    assert from_toml.output.dir == str(Path("runs") / "digits")


def test_load_recipe_names_the_file_for_unreadable_or_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"missing\.toml: no such recipe file"):
        load_recipe(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[train\nepochs = 1\n", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"bad.toml: not valid TOML: .*line 1"):
        load_recipe(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{", encoding="utf-8")
    with pytest.raises(RecipeError, match=r"bad.json: not valid JSON: .* line 1 column 2"):
        load_recipe(bad_json)
    typo = tmp_path / "typo.toml"
    typo.write_text(to_toml(with_change("model.hiden", "relu")), encoding="utf-8")
    with pytest.raises(RecipeError, match=r"typo.toml: \$.model.hiden: unknown key"):
        load_recipe(typo)


def test_overrides_parse_toml_values_and_create_tables() -> None:
    data = apply_overrides(
        BASE,
        [
            "train.epochs=2",
            "optimizer.learning_rate.initial=0.5",
            "model.sizes=[784, 30, 10]",
            "data.train=fashion-mnist:train",
            "pipeline.augment.0.max_degrees=3.5",
            "train.early_stopping={patience = 2}",
            "output.plots=[]",
        ],
    )
    recipe = recipe_from_data(data)
    assert recipe.train.epochs == 2
    assert recipe.optimizer.learning_rate == InverseTimeDecay(0.5, 0.01)
    assert recipe.model.sizes == (784, 30, 10)
    assert recipe.data.train == DatasetSource("fashion-mnist", "train")
    assert recipe.pipeline.augment == (Rotate(3.5, 1),)
    assert recipe.train.early_stopping == EarlyStopping(patience=2)
    assert recipe.output.plots == ()
    assert BASE["train"]["epochs"] == 5  # the input is not modified


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs", "expected key=value"),
        ("=3", "expected key=value"),
        ("train.epochs.x=3", "train.epochs is integer 5, not a table or an array"),
        ("pipeline.steps.7.low=0", "pipeline.steps.7: expected an index below 2"),
    ],
)
def test_bad_overrides_are_refused(override: str, message: str) -> None:
    with pytest.raises(RecipeError, match=f"--set '{override}'"):
        apply_overrides(BASE, [override])
    with pytest.raises(RecipeError) as caught:
        apply_overrides(BASE, [override])
    assert message in str(caught.value)


def test_an_override_that_breaks_the_schema_fails_on_structuring(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    with pytest.raises(RecipeError, match=r"\$.train.epochs: expected an integer, found string"):
        load_recipe(path, overrides=["train.epochs=many"])


def test_source_from_data_parses_the_command_line_form() -> None:
    assert source_from_data("fashion-mnist:test") == DatasetSource("fashion-mnist", "test")
    with pytest.raises(RecipeError, match=r"^--data x: \$: expected 'name:split'"):
        source_from_data("x", source="--data x")


def test_plot_names_are_the_figures_plot_run_draws() -> None:
    from purenet.plots.common import FIGURES

    assert PLOTS == FIGURES


# ---------------------------------------------------------------------------------------------
# Round trips over generated recipes

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, width=64)
positive = st.floats(min_value=1e-6, max_value=10.0, allow_nan=False)
fraction = st.floats(min_value=0.0, max_value=0.99)
small_int = st.integers(min_value=1, max_value=1000)
text = st.text(max_size=12)

sources = st.one_of(
    st.sampled_from(
        [DatasetSource(name, split) for name in DATASETS for split in DATASETS[name].splits]
    ),
    st.builds(IdxSource, text, text),
    st.builds(CsvSource, text, text, st.one_of(st.none(), st.booleans()), text),
)
schedules = st.one_of(
    positive,
    st.builds(InverseTimeDecay, positive, fraction),
    st.builds(CosineDecay, positive, positive, fraction, warmup=fraction),
    st.builds(StepDecay, positive, positive, st.floats(min_value=0.01, max_value=1.0)),
)
optimizers = st.one_of(
    st.builds(optim.SGD, schedules, fraction, st.just(False)),
    st.builds(optim.Adam, schedules, fraction, fraction, positive),
    st.builds(optim.AdamW, schedules, weight_decay=fraction),
    st.builds(optim.RMSProp, schedules, fraction, positive),
)
steps = st.one_of(
    st.builds(lambda low, width, top: Scale(low, low + width, top), finite, positive, positive),
    st.builds(Standardize, per_feature=st.booleans()),
    st.just(Flatten()),
)
augmentations = st.one_of(
    st.builds(Rotate, positive, st.integers(0, 3)),
    st.builds(Shift, st.integers(0, 4), st.integers(0, 3)),
    st.builds(Affine, positive, positive, fraction, st.integers(0, 3)),
)
recipes = st.builds(
    Recipe,
    data=st.builds(
        DataSpec,
        sources,
        st.one_of(st.none(), sources),
        # Some validation data: early stopping (drawn below) monitors valid_loss.
        st.floats(0.01, 0.99),
        st.one_of(st.none(), st.lists(text, max_size=3, unique=True).map(tuple)),
    ),
    model=st.builds(
        ModelSpec,
        # At least 2 output units: softmax refuses a single one.
        st.lists(small_int, min_size=2, max_size=4).map(lambda s: (*s[:-1], max(s[-1], 2))),
        st.sampled_from(["relu", "sigmoid", "tanh"]),
        st.sampled_from(["softmax", "sigmoid"]),
        st.just("cross_entropy"),
        st.sampled_from([None, "he", "glorot"]),
    ),
    optimizer=optimizers,
    train=st.builds(
        TrainSpec,
        small_int,
        st.one_of(small_int, st.just("full")),
        st.integers(0, 2**31),
        fraction,
        st.one_of(st.none(), st.builds(EarlyStopping, small_int, fraction)),
        small_int,
        st.sampled_from(["float32", "float64"]),
        st.sampled_from(["epoch", "batch"]),
        st.sampled_from([(), ("layers[0].w[0, 0]",)]),
    ),
    pipeline=st.builds(
        PipelineSpec,
        st.lists(steps, max_size=3).map(tuple),
        st.one_of(st.none(), st.builds(Targets, finite, finite)),
        st.lists(augmentations, max_size=2).map(tuple),
    ),
    output=st.builds(
        OutputSpec,
        st.one_of(st.none(), text),
        st.lists(st.sampled_from(PLOTS), max_size=3).map(tuple),
    ),
)


@settings(max_examples=150, deadline=None)
@given(recipes)
def test_a_recipe_survives_toml_and_json_exactly(recipe: Recipe) -> None:
    data = dump_recipe(recipe)
    from_toml = tomllib.loads(to_toml(data))
    assert from_toml == data
    assert recipe_from_data(from_toml) == recipe
    assert recipe_from_data(json.loads(json.dumps(data))) == recipe
    assert dump_recipe(recipe_from_data(data)) == data


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "data.train=mnist:nosuch",
            r"$.data.train.split: unknown split 'nosuch' of mnist; known: train, train10k, test",
        ),
        ("data.test=microchips:test", r"$.data.test.split: unknown split 'test' of microchips"),
        (
            'train.track=["layers[0].b[1]", "layers[5].w[0,0]"]',
            r"$.train.track[1]: track 'layers[5].w[0,0]': there are 2 layers",
        ),
        (
            'train.track=["layers[1].w[200, 0]"]',
            "$.train.track[0]: track 'layers[1].w[200, 0]': index (200, 0) outside shape (200, 10)",
        ),
        (
            'train.track=["layers[0].v[0]"]',
            r"$.train.track[0]: track 'layers[0].v[0]': no field 'v'; fields: w, b",
        ),
        ("optimizer.learning_rate=nan", r"$.optimizer.learning_rate: must be a finite number > 0"),
        ("optimizer.learning_rate=-1.0", r"$.optimizer.learning_rate: must be a finite number > 0"),
    ],
)
def test_faults_that_need_two_sections_or_a_registry_name_the_file_and_the_exact_key(
    tmp_path: Path, override: str, message: str
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    with pytest.raises(RecipeError) as caught:
        load_recipe(path, overrides=[override])
    assert str(caught.value).startswith(f"{path}: {message}"), str(caught.value)


def test_a_loaded_recipe_knows_its_file_but_compares_and_dumps_as_plain_data(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(to_toml(BASE), encoding="utf-8")
    recipe = load_recipe(path)
    assert recipe.source == str(path)
    assert recipe_from_data(BASE).source is None
    assert recipe_from_data(BASE, source="x.toml").source == "x.toml"
    assert attrs.evolve(recipe, output=OutputSpec()).source == str(path)
    assert recipe_from_data(dump_recipe(recipe)) == recipe
    assert "source" not in dump_recipe(recipe)
    with pytest.raises(RecipeError, match=r"^r: \$.source: unknown key"):
        recipe_from_data({**BASE, "source": "x"}, source="r")
