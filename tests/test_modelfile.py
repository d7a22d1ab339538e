"""purenet.modelfile: the model file (round trip, every refusal), the exact array codec under it."""

from __future__ import annotations

import base64
import copy
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from purenet.core.arrays import decode_array, encode_array
from purenet.core.convert import describe_structure_error
from purenet.core.jsonio import read_json, to_json_text, write_json_atomic
from purenet.data.idx import read_idx
from purenet.errors import ModelFormatError
from purenet.modelfile.io import (
    converter,
    describe_model,
    load_model,
    model_from_data,
    model_to_data,
    save_model,
)
from purenet.modelfile.model import Model, ModelMeta
from purenet.nn.activations import ACTIVATIONS
from purenet.nn.losses import LOSSES
from purenet.nn.model import Architecture, Dense, forward, init, predict, value_and_grad
from purenet.optim.optimizers import sgd_step
from purenet.pipeline.steps import Flatten, Scale, Standardize, apply_preprocess, fit_preprocess

ARCH = Architecture((4, 3, 2), hidden="tanh")


def bits(array: np.ndarray) -> bytes:
    """The raw bytes: equal bits, so -0.0 differs from 0.0 (array_equal would not see it)."""
    return np.ascontiguousarray(array).tobytes()


def through_text(array: np.ndarray) -> np.ndarray:
    return decode_array(json.loads(to_json_text(encode_array(array))))


def small_model(dtype: str = "float32") -> Model:
    params = init(ARCH, seed=0, dtype=dtype)
    x = np.arange(24, dtype=np.uint8).reshape(6, 2, 2) * 10
    steps = fit_preprocess((Scale(0.01, 1.0), Flatten(), Standardize()), x)
    meta = ModelMeta("0.1.0", "2024-05-01T12:00:00Z", {"train": {"epochs": 2}}, {"acc": 0.5})
    return Model(ARCH, params, steps, ("no", "yes"), meta)


def assert_same_model(a: Model, b: Model) -> None:
    assert a.arch == b.arch and a.labels == b.labels and a.meta == b.meta
    assert len(a.params) == len(b.params)
    for x, y in zip(a.params, b.params, strict=True):
        assert x.w.dtype == y.w.dtype and x.w.shape == y.w.shape
        assert bits(x.w) == bits(y.w) and bits(x.b) == bits(y.b)
    assert [type(s) for s in a.preprocess] == [type(s) for s in b.preprocess]
    assert converter.unstructure(list(a.preprocess)) == converter.unstructure(list(b.preprocess))


# --- the array encoding -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_floats_round_trip_bit_exactly(dtype: type[np.floating[Any]]) -> None:
    info = np.finfo(dtype)
    values = np.array(
        [
            0.0,
            -0.0,
            1e-45,
            info.smallest_subnormal,
            -info.smallest_subnormal,
            info.smallest_normal,
            info.max,
            info.min,
            info.eps,
            1 / 3,
            0.1,
            -2.5e-38,
            1e38,
        ],
        dtype=dtype,
    )
    back = through_text(values)
    assert back.dtype == dtype and bits(back) == bits(values)


def test_float32_text_is_the_shortest_decimal() -> None:
    values = np.array([0.1, 1 / 3, 1.0, 1e-45, -0.0, 3.4028235e38], dtype=np.float32)
    text = to_json_text(encode_array(values))
    assert text == (
        '{"dtype":"float32","shape":[6],"data":[0.1,0.33333334,1.0,1e-45,-0.0,3.4028235e+38]}'
    )


def significant_digits(text: str) -> int:
    """Significant digits of a decimal such as `-0.00125` or `3.4028235e+38` (3 and 8)."""
    mantissa = text.lower().split("e")[0].lstrip("-").replace(".", "")
    return len(mantissa.strip("0")) or 1


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.float32,
        st.integers(1, 20),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    )
)
def test_float32_decimals_are_shortest_and_exact(values: np.ndarray) -> None:
    tokens = to_json_text(encode_array(values)).split('"data":[')[1].rstrip("]}").split(",")
    for value, token in zip(values, tokens, strict=True):
        assert np.float32(float(token)).tobytes() == value.tobytes()
        # Oracle: the shortest digits that identify this float32 (Dragon4, numpy).
        shortest = np.format_float_scientific(value, unique=True)
        assert significant_digits(token) == significant_digits(shortest)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_any_finite_array_round_trips_bit_exactly(values: np.ndarray) -> None:
    back = through_text(values)
    assert back.dtype == values.dtype and back.shape == values.shape
    assert bits(back) == bits(values)
    assert not back.flags.writeable


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encoding_refuses_nan_and_inf(bad: float) -> None:
    with pytest.raises(ValueError, match="NaN or Inf"):
        encode_array(np.array([1.0, bad], dtype=np.float32))


# --- the model file: round trip -----------------------------------------------------------------


@st.composite
def models(draw: st.DrawFn) -> Model:
    output, loss = draw(st.sampled_from(sorted(LOSSES)))
    sizes = tuple(draw(st.lists(st.integers(1, 5), min_size=2, max_size=4)))
    if output == "softmax" and sizes[-1] == 1:  # softmax needs at least 2 output units
        sizes = (*sizes[:-1], 2)
    arch = Architecture(sizes, draw(st.sampled_from(sorted(ACTIVATIONS))), output, loss)
    dtype = draw(st.sampled_from(["float32", "float64"]))
    width = 32 if dtype == "float32" else 64
    finite = st.floats(allow_nan=False, allow_infinity=False, width=width)

    def array(shape: tuple[int, ...], elements: st.SearchStrategy[float] = finite) -> np.ndarray:
        return draw(hnp.arrays(dtype, shape, elements=elements))

    params = tuple(Dense(array((m, n)), array((n,))) for m, n in arch.layer_shapes)
    steps: list[Any] = []
    if draw(st.booleans()):
        steps.append(Scale(draw(st.sampled_from([0.0, 0.01, -1.0])), 1.0))
    if draw(st.booleans()):
        stds = st.floats(0.5, 2.0, width=width)
        steps.append(Standardize(array((sizes[0],)), array((sizes[0],), stds)))
    n_labels = 2 if sizes[-1] == 1 else sizes[-1]
    labels = draw(st.lists(st.text(max_size=3), unique=True, min_size=n_labels, max_size=n_labels))
    metrics = draw(st.dictionaries(st.text(max_size=4), finite))
    return Model(arch, params, steps, labels, ModelMeta("9.9", "now", None, metrics))


@settings(max_examples=40, deadline=None)
@given(models())
def test_random_models_round_trip_bit_exactly_through_json_text(model: Model) -> None:
    text = to_json_text(model_to_data(model))
    assert_same_model(model, model_from_data(json.loads(text), source="m.json"))
    compact = to_json_text(model_to_data(model, compact=True))
    assert_same_model(model, model_from_data(json.loads(compact), source="m.json"))


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        st.sampled_from([np.dtype(t) for t in ("float32", "float64", "int64", "uint8", "bool")]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
        elements={"allow_nan": False, "allow_infinity": False},
    )
)
def test_any_array_round_trips_bit_exactly_in_base64(values: np.ndarray) -> None:
    encoded = json.loads(to_json_text(encode_array(values, compact=True)))
    # Oracle: the little-endian bytes, row-major, as the format says.
    little = values.astype(values.dtype.newbyteorder("<")).tobytes()
    assert base64.b64decode(encoded["base64"]) == little
    back = decode_array(encoded)
    assert back.dtype == values.dtype and back.shape == values.shape
    assert bits(back) == bits(values) and not back.flags.writeable


def test_a_version_1_file_holds_no_base64_array() -> None:
    data = model_to_data(small_model(), compact=True)
    data["format_version"] = 1
    with pytest.raises(ModelFormatError, match=r"\$\.layers\[0\]\.w: a base64 array in a"):
        model_from_data(data)
    data = model_to_data(small_model())
    data["preprocess"][2]["mean"] = encode_array(np.zeros((2, 2), np.float32), compact=True)
    with pytest.raises(ModelFormatError, match=r"\$\.preprocess\[2\]\.mean: a base64 array"):
        model_from_data(data)


def test_compact_model_files_are_exact_version_2_and_a_third_of_the_size(tmp_path: Path) -> None:
    arch = Architecture((784, 64, 10))
    model = Model(arch, init(arch, seed=0))
    save_model(tmp_path / "decimal.json", model)
    save_model(tmp_path / "compact.json", model, compact=True)
    assert json.loads((tmp_path / "decimal.json").read_text())["format_version"] == 1
    assert json.loads((tmp_path / "compact.json").read_text())["format_version"] == 2
    assert_same_model(load_model(tmp_path / "compact.json"), model)
    ratio = (tmp_path / "compact.json").stat().st_size / (tmp_path / "decimal.json").stat().st_size
    assert ratio < 0.45  # 4 bytes -> 5.3 base64 characters against ~12 per decimal


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_and_load_give_the_same_model_and_predictions(tmp_path: Path, dtype: str) -> None:
    model = small_model(dtype)
    save_model(tmp_path / "m.json", model)
    back = load_model(tmp_path / "m.json")
    assert_same_model(model, back)
    raw = np.arange(12, dtype=np.uint8).reshape(3, 2, 2) * 20
    x, y = apply_preprocess(model.preprocess, raw), apply_preprocess(back.preprocess, raw)
    assert bits(forward(model.arch, model.params, x)) == bits(forward(back.arch, back.params, y))


def test_the_file_follows_the_documented_layout(tmp_path: Path) -> None:
    save_model(tmp_path / "m.json", small_model())
    data = json.loads((tmp_path / "m.json").read_text())
    assert list(data) == [
        "format",
        "format_version",
        "architecture",
        "layers",
        "preprocess",
        "labels",
        "meta",
    ]
    assert data["format"] == "purenet.model" and data["format_version"] == 1
    assert data["architecture"] == {
        "sizes": [4, 3, 2],
        "hidden": "tanh",
        "output": "softmax",
        "loss": "cross_entropy",
    }
    assert data["layers"][1]["w"]["shape"] == [3, 2] and len(data["layers"][1]["w"]["data"]) == 6
    assert [step["kind"] for step in data["preprocess"]] == ["scale", "flatten", "standardize"]
    assert data["labels"] == ["no", "yes"]
    assert data["meta"] == {
        "purenet_version": "0.1.0",
        "created": "2024-05-01T12:00:00Z",
        "recipe": {"train": {"epochs": 2}},
        "metrics": {"acc": 0.5},
    }


def test_model_defaults_name_the_classes_and_stamp_the_version() -> None:
    model = Model(ARCH, init(ARCH, seed=0))
    assert model.labels == ("0", "1") and model.preprocess == ()
    assert model.meta.purenet_version == "0.1.0" and model.meta.created.endswith("Z")
    single = Architecture((2, 1), output="sigmoid")
    assert Model(single, init(single, seed=0)).labels == ("0", "1")


def test_meta_holds_plain_json_copies() -> None:
    recipe = {"steps": ({"kind": "scale"},)}
    meta = ModelMeta(recipe=recipe, metrics={"acc": np.float32(0.5)})
    assert meta.recipe == {"steps": [{"kind": "scale"}]} and meta.recipe is not recipe
    assert type(meta.metrics["acc"]) is float
    with pytest.raises(ValueError, match=r"\$\.meta\.recipe\.lr: ndarray"):
        ModelMeta(recipe={"lr": np.zeros(1)})
    with pytest.raises(ValueError, match=r"\$\.meta\.metrics\.loss: nan is not a finite"):
        ModelMeta(metrics={"loss": float("nan")})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: {"params": m.params[:1]}, r"\$\.layers: 1 layers; architecture\.sizes"),
        (
            lambda m: {"params": (m.params[0], Dense(np.zeros((3, 3)), np.zeros(3)))},
            r"\$\.layers\[1\]\.w: shape \[3, 3\]; architecture\.sizes \[4, 3, 2\] needs \[3, 2\]",
        ),
        (
            lambda m: {"params": (m.params[0], Dense(np.zeros((3, 2)), np.zeros(2)))},
            r"\$\.layers\[1\]\.w: dtype float64, expected float32",
        ),
        (lambda m: {"labels": ("a",)}, r"\$\.labels: 1 names; 2 classes need 2"),
        (lambda m: {"labels": ("a", 1)}, r"\$\.labels\[1\]: expected a string"),
        (lambda m: {"labels": ("a", "a")}, r"\$\.labels\[1\]: 'a' names two classes"),
        (
            lambda m: {"preprocess": (Flatten((3, 3)),)},
            r"\$\.preprocess: the steps give samples of shape \[9\]; .* needs \[4\]",
        ),
        (lambda m: {"preprocess": (Standardize(),)}, r"\$\.preprocess\[0\]: .* no statistics"),
    ],
)
def test_parts_that_do_not_fit_together_are_refused(
    change: Callable[[Model], dict[str, Any]], message: str
) -> None:
    model = small_model()
    parts = {"arch": model.arch, "params": model.params, "preprocess": (), "labels": model.labels}
    with pytest.raises(ValueError, match=message):
        Model(**{**parts, **change(model)})


def test_describe_model_counts_and_summarizes() -> None:
    arch = Architecture((784, 256, 128, 10))
    model = Model(
        arch,
        init(arch, seed=0),
        (Scale(0.01, 1.0), Flatten((28, 28))),
        meta=ModelMeta("0.1.0", "t", None, {"test_accuracy": 0.97}),
    )
    info = describe_model(model)
    assert [layer["parameters"] for layer in info["layers"]] == [
        784 * 256 + 256,
        256 * 128 + 128,
        128 * 10 + 10,
    ]
    assert info["parameters"] == 235146 and info["dtype"] == "float32"
    assert [layer["activation"] for layer in info["layers"]] == ["relu", "relu", "softmax"]
    assert info["input_shape"] == [28, 28]
    assert [step["text"] for step in info["preprocess"]] == [
        "scale [0, 255] to [0.01, 1]",
        "flatten [28, 28] to [784]",
    ]
    assert info["metrics"] == {"test_accuracy": 0.97} and info["labels"][9] == "9"
    json.dumps(info, allow_nan=False)


# --- the model file: refusals -------------------------------------------------------------------


def set_in(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


def drop_value(data: dict[str, Any]) -> None:
    data["layers"][1]["w"]["data"].pop()


W1 = ("layers", 1, "w")
MALFORMED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("count", drop_value, "$.layers[1].w: shape [3, 2] needs 6 values, got 5"),
    (
        "shape",
        set_in((*W1, "shape"), [2, 3]),
        "$.layers[1].w: shape [2, 3]; architecture.sizes [4, 3, 2] needs [3, 2]",
    ),
    (
        "shape type",
        set_in((*W1, "shape"), [3, "2"]),
        "$.layers[1].w.shape: expected a list of non-negative integers, found [3, '2']",
    ),
    (
        "string data",
        set_in((*W1, "data", 2), "0.5"),
        "$.layers[1].w.data[2]: expected a number, found string",
    ),
    (
        "bool data",
        set_in((*W1, "data", 2), True),
        "$.layers[1].w.data[2]: expected a number, found true/false",
    ),
    (
        "nested data",
        set_in((*W1, "data", 2), [0.5]),
        "$.layers[1].w.data[2]: expected a number, found list",
    ),
    (
        "null data",
        set_in((*W1, "data"), None),
        "$.layers[1].w.data: expected a list of numbers, found NoneType",
    ),
    (
        "unknown dtype",
        set_in((*W1, "dtype"), "float16"),
        "$.layers[1].w.dtype: unknown dtype 'float16'; supported: float32, float64",
    ),
    ("int dtype", set_in((*W1, "dtype"), "int32"), "$.layers[1].w.data: expected integers"),
    (
        "mixed dtypes",
        set_in(("layers", 1, "b", "dtype"), "float64"),
        "$.layers[1].b: dtype float64, expected float32 like the rest",
    ),
    (
        "array key",
        set_in((*W1, "order"), "C"),
        "$.layers[1].w: unknown keys ['order']; an array has dtype, shape and data",
    ),
    (
        "array missing",
        delete((*W1, "dtype")),
        "$.layers[1].w: missing keys ['dtype']; an array has dtype, shape and data",
    ),
    ("layer key", set_in(("layers", 0, "bias"), 1), "$.layers[0]: unknown key 'bias'"),
    ("layer missing", delete(("layers", 0, "b")), "$.layers[0]: missing key 'b'"),
    (
        "too few layers",
        delete(("layers", 1)),
        "$.layers: 1 layers; architecture.sizes [4, 3, 2] needs 2",
    ),
    ("layers not a list", set_in(("layers",), {}), "$.layers: expected a list, found object"),
    (
        "sizes",
        set_in(("architecture", "sizes"), [4, 3, 3]),
        "$.layers[1].w: shape [3, 2]; architecture.sizes [4, 3, 3] needs [3, 3]",
    ),
    (
        "activation",
        set_in(("architecture", "hidden"), "rellu"),
        "$.architecture: unknown activation 'rellu'; supported: ",
    ),
    (
        "architecture key",
        set_in(("architecture", "dropuot"), 0.5),
        "$.architecture: unknown key 'dropuot'; expected keys: sizes, hidden, output, loss, "
        "bias, dropout, input_dropout, huber_delta",
    ),
    (
        "architecture missing",
        delete(("architecture", "hidden")),
        "$.architecture: missing key 'hidden'",
    ),
    (
        "sizes type",
        set_in(("architecture", "sizes"), "4,3,2"),
        "$.architecture.sizes: expected a list, found string",
    ),
    ("top key", set_in(("extra",), 1), "$: unknown key 'extra'; expected keys: format, "),
    ("top missing", delete(("labels",)), "$: missing key 'labels'"),
    (
        "format",
        set_in(("format",), "keras"),
        "$.format: expected 'purenet.model', found 'keras'; not a purenet model",
    ),
    (
        "newer",
        set_in(("format_version",), 3),
        "$.format_version: the file has format version 3, this purenet reads up to 2; "
        "upgrade purenet",
    ),
    (
        "version type",
        set_in(("format_version",), "1"),
        "$.format_version: expected an integer, found '1'",
    ),
    (
        "step kind",
        set_in(("preprocess", 0, "kind"), "blur"),
        "$.preprocess[0].kind: unknown preprocessing step 'blur'; supported: flatten, scale, "
        "standardize",
    ),
    ("step key", set_in(("preprocess", 0, "clip"), True), "$.preprocess[0]: unknown key 'clip'"),
    ("step missing", delete(("preprocess", 0, "high")), "$.preprocess[0]: missing key 'high'"),
    (
        "step value",
        set_in(("preprocess", 0, "low"), 5.0),
        "$.preprocess[0].high: expected low < high, found low=5.0, high=1.0",
    ),
    (
        "width",
        set_in(("preprocess", 1, "input_shape"), [3, 3]),
        "$.preprocess[2]: standardize expects samples of shape [4], the steps before give [9]",
    ),
    (
        "stats shape",
        set_in(("preprocess", 2, "std", "shape"), [2, 2]),
        "$.preprocess[2]: standardize mean is float32 [4], std is float32 [2, 2]",
    ),
    ("labels", set_in(("labels",), ["a", "b", "c"]), "$.labels: 3 names; 2 classes need 2"),
    ("label type", set_in(("labels", 1), 1), "$.labels[1]: expected a string, found integer 1"),
    ("labels string", set_in(("labels",), "ab"), "$.labels: expected a list, found string"),
    (
        "metric",
        set_in(("meta", "metrics", "acc"), "high"),
        "$.meta.metrics.acc: expected a number, found string 'high'",
    ),
    ("meta key", set_in(("meta", "author"), "me"), "$.meta: unknown key 'author'"),
    ("meta missing", delete(("meta", "created")), "$.meta: missing key 'created'"),
    ("not an object", lambda d: d.clear(), "$.format: expected 'purenet.model', found no format"),
]


@pytest.mark.parametrize(("name", "change", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_model_files_are_refused_with_the_path(
    tmp_path: Path, name: str, change: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = model_to_data(small_model())
    change(data)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert str(info.value).startswith(f"{path}: {message}"), str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"format": NaN}', "$.format: NaN is not valid JSON (line 1 column 12)"),
        (
            '{"labels": ["NaN"],\n "layers": [{"w": {"data": [1, -Infinity]}}]}',
            "$.layers[0].w.data[1]: -Infinity is not valid JSON (line 2 column 32)",
        ),
        ("Infinity", "$: Infinity is not valid JSON (line 1 column 1)"),
        (
            '{"format": "purenet.model", "format_version": 1, "lay',
            "not valid JSON: Unterminated string starting at line 1 column 50",
        ),
        ("", "not valid JSON: Expecting value at line 1 column 1"),
        ('{"format": 1, "format": 2}', "duplicate key 'format' in an object"),
        ("[]", "$: expected a model object, found list"),
    ],
)
def test_files_that_are_not_valid_json_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "model.json"
    path.write_text(text)
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert str(info.value) == f"{path}: {message}"


def test_files_that_are_not_model_files_say_so(tmp_path: Path) -> None:
    recipe = tmp_path / "mnist.toml"
    recipe.write_text('[data]\ntrain = "mnist:train"\n', encoding="utf-8")
    with pytest.raises(ModelFormatError) as info:
        load_model(recipe)
    assert str(info.value) == (
        f"{recipe}: not a purenet model file: a TOML file (a recipe? train it with "
        f"purenet run and give the model.json of its run folder)"
    )
    as_json = tmp_path / "recipe.json"
    as_json.write_text('{"data": {"train": "mnist:train"}}', encoding="utf-8")
    with pytest.raises(ModelFormatError) as info:
        load_model(as_json)
    assert str(info.value) == (
        f"{as_json}: $.format: expected 'purenet.model', found no format key; "
        f"not a purenet model file"
    )
    checkpoint = tmp_path / "checkpoint.json"
    checkpoint.write_text('{"format": "purenet.checkpoint"}', encoding="utf-8")
    with pytest.raises(ModelFormatError, match=r"found 'purenet.checkpoint'; not a purenet model"):
        load_model(checkpoint)


def test_a_truncated_model_file_is_refused(tmp_path: Path) -> None:
    save_model(tmp_path / "m.json", small_model())
    text = (tmp_path / "m.json").read_text()
    (tmp_path / "m.json").write_text(text[: len(text) // 2])
    with pytest.raises(ModelFormatError, match=r"m\.json: not valid JSON: .* at line 1 column"):
        load_model(tmp_path / "m.json")


def test_missing_file_and_a_value_too_large_for_a_float(tmp_path: Path) -> None:
    with pytest.raises(ModelFormatError, match=r"nope\.json: no such file"):
        load_model(tmp_path / "nope.json")
    data = model_to_data(small_model())
    (tmp_path / "m.json").write_text(json.dumps(data).replace('"data": [', '"data": [1e400, ', 1))
    with pytest.raises(ModelFormatError, match=r"\$\.layers\[0\]\.w: shape \[4, 3\] needs 12"):
        load_model(tmp_path / "m.json")
    data["layers"][0]["w"]["data"][0] = 1e400
    message = r"\$\.layers\[0\]\.w\.data\[0\]: expected a finite number, found inf"
    with pytest.raises(ModelFormatError, match=message):
        model_from_data(data)


@pytest.mark.parametrize(("index", "value"), [(3, 1e300), (0, -1e39)])
def test_a_value_that_overflows_the_stated_dtype_is_refused_with_its_path(
    tmp_path: Path, index: int, value: float
) -> None:
    data = model_to_data(small_model("float32"))
    data["layers"][0]["w"]["data"][index] = value
    path = tmp_path / "model.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelFormatError) as info:
        load_model(path)
    assert str(info.value) == (
        f"{path}: $.layers[0].w.data[{index}]: {value!r} overflows float32 "
        f"(largest finite value 3.4028235e+38)"
    )
    # The same number fits a float64 model, and float32's largest value still loads.
    data64 = model_to_data(small_model("float64"))
    data64["layers"][0]["w"]["data"][index] = value
    assert model_from_data(data64).params[0].w.ravel()[index] == value
    data["layers"][0]["w"]["data"][index] = float(np.finfo(np.float32).max)
    assert model_from_data(data).params[0].w.ravel()[index] == np.finfo(np.float32).max


def test_several_faults_are_counted() -> None:
    data = model_to_data(small_model())
    for layer in data["layers"]:
        layer["w"]["data"].pop()
        layer["b"]["data"].pop()
    with pytest.raises(ModelFormatError) as info:
        model_from_data(data, source="m.json")
    assert str(info.value).startswith("m.json: $.layers[0].w: shape [4, 3] needs 12 values, got")
    assert str(info.value).endswith("(and 1 more)")


def test_structure_errors_read_as_paths() -> None:
    with pytest.raises(Exception) as info:
        converter.structure({"w": 1}, Dense)
    assert describe_structure_error(info.value) == [
        "$.w: expected an array object, found int",
        "$: missing key 'b'",
    ]
    with pytest.raises(TypeError, match="expected an integer, found string '5'"):
        converter.structure("5", int)


# --- saving: refusals and atomicity ------------------------------------------------------------


def nan_model() -> Model:
    model = small_model()
    w = np.array(model.params[1].w)
    w[2, 1] = np.nan
    return Model(
        model.arch,
        (model.params[0], Dense(w, model.params[1].b)),
        model.preprocess,
        model.labels,
        model.meta,
    )


def test_saving_nan_is_refused_and_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    save_model(path, small_model())
    before = path.read_bytes()
    with pytest.raises(
        ModelFormatError,
        match=r"m\.json: \$\.layers\[1\]\.w: holds NaN or Inf; "
        "refusing to save",
    ):
        save_model(path, nan_model())
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.json"]


def test_an_interrupted_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "m.json"
    save_model(path, small_model("float64"))
    before = path.read_bytes()

    def interrupted(src: str, dst: str) -> None:
        assert Path(src).read_bytes() != before  # the new content was written in full
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_model(path, small_model("float32"))
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.json"]


KILLED_WRITER = """
import os, signal, sys
import purenet.modelfile.io as serialize
from purenet.nn.model import Architecture, init

def killed(src, dst):
    os.kill(os.getpid(), signal.SIGKILL)

os.replace = killed
arch = Architecture((784, 64, 10))
serialize.save_model(sys.argv[1], serialize.Model(arch, init(arch, seed=1)))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")
def test_a_writer_killed_before_the_rename_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    old = small_model()
    save_model(path, old)
    before = path.read_bytes()
    done = subprocess.run([sys.executable, "-c", KILLED_WRITER, str(path)], check=False)
    assert done.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    assert_same_model(old, load_model(path))
    leftovers = [name for name in os.listdir(tmp_path) if name != "m.json"]
    assert len(leftovers) == 1 and leftovers[0].startswith(".m.json.")
    assert leftovers[0].endswith(".tmp")


def test_write_json_atomic_uses_the_umask_and_refuses_nan(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", {"x": [1, 2.5]})
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert read_json(tmp_path / "a.json") == {"x": [1, 2.5]}
    with pytest.raises(ValueError, match="Out of range float values"):
        write_json_atomic(tmp_path / "a.json", {"x": float("inf")})
    assert sorted(os.listdir(tmp_path)) == ["a.json"]


def test_the_model_is_unchanged_by_a_round_trip_through_a_dict() -> None:
    model = small_model()
    data = model_to_data(model)
    again = model_to_data(model_from_data(copy.deepcopy(data)))
    assert again == data


# --- real data ----------------------------------------------------------------------------------


def test_a_model_trained_on_mnist_predicts_the_same_after_loading(
    tmp_path: Path, data_dir: Path
) -> None:
    folder = data_dir / "mnist"
    images = read_idx(folder / "train10k-images-idx3-ubyte.gz")[:3000]
    labels = read_idx(folder / "train10k-labels-idx1-ubyte.gz")[:3000]
    steps = fit_preprocess((Scale(0.01, 1.0), Flatten()), images)
    arch = Architecture((784, 32, 10))
    params = init(arch, seed=0)
    x = apply_preprocess(steps, images)
    for start in [*range(0, 3000, 100)] * 2:
        _, grads = value_and_grad(arch, params, x[start : start + 100], labels[start : start + 100])
        params = sgd_step(params, grads, 0.2)
    save_model(tmp_path / "mnist.json", Model(arch, params, steps))
    loaded = load_model(tmp_path / "mnist.json")
    test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    truth = read_idx(folder / "t10k-labels-idx1-ubyte.gz")
    before = predict(arch, params, apply_preprocess(steps, test))
    after = predict(loaded.arch, loaded.params, apply_preprocess(loaded.preprocess, test))
    np.testing.assert_array_equal(after, before)
    assert (after == truth).mean() > 0.8
