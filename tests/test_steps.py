"""purenet.pipeline.steps: validation, fitting, applying, and the tagged-union JSON form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from purenet.core.checks import FieldError
from purenet.core.convert import describe_structure_error
from purenet.data.idx import read_idx
from purenet.modelfile.io import converter, make_model_converter
from purenet.pipeline.steps import (
    PREPROCESS_STEPS,
    Flatten,
    PreprocessStep,
    Scale,
    Standardize,
    apply_preprocess,
    fit_preprocess,
    output_shape,
)

IMAGES = np.random.default_rng(0).integers(0, 256, size=(6, 3, 2), dtype=np.uint8)


def structure_lines(data: object) -> list[str]:
    with pytest.raises(Exception) as info:
        converter.structure(data, PreprocessStep)
    return describe_structure_error(info.value)


# --- the specs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Scale(1.0, 1.0), "low < high"),
        (lambda: Scale(0.0, 1.0, max_value=0.0), "max_value > 0"),
        (lambda: Scale(float("nan"), 1.0), "finite"),
        (lambda: Scale("0", 1.0), "expected a number"),
        (lambda: Flatten((28, 0)), "positive"),
        (lambda: Flatten("28"), "list of integers"),
        (lambda: Standardize(np.zeros(2, np.float32)), "both mean and std"),
        (lambda: Standardize(np.zeros(2), np.ones(3)), "must match"),
        (lambda: Standardize(np.zeros(2, np.float32), np.ones(2)), "must match"),
        (lambda: Standardize(np.zeros(2, np.int64), np.ones(2, np.int64)), "must be floats"),
        (lambda: Standardize(np.zeros(2), np.array([1.0, 0.0])), "> 0"),
        (lambda: Standardize(np.array([np.nan, 0]), np.ones(2)), "NaN or Inf"),
    ],
)
def test_invalid_specs_are_refused(make: object, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()  # type: ignore[operator]


def test_a_field_fault_is_data_the_error_walker_places() -> None:
    # The spec says which field is wrong; the walker puts that under the value's position.
    with pytest.raises(FieldError) as info:
        Scale(1.0, 0.5)
    assert str(info.value) == "Scale.high: expected low < high, found low=1.0, high=0.5"
    assert (info.value.path, info.value.problem) == (
        "high",
        "expected low < high, found low=1.0, high=0.5",
    )
    assert describe_structure_error(info.value.within("[2]"), "$.preprocess") == [
        "$.preprocess[2].high: expected low < high, found low=1.0, high=0.5"
    ]
    assert structure_lines({"kind": "scale", "max_value": -1.0}) == [
        "$.max_value: expected max_value > 0, found -1.0"
    ]


def test_registry_names_every_step_by_its_kind() -> None:
    assert PREPROCESS_STEPS == {"scale": Scale, "flatten": Flatten, "standardize": Standardize}


def test_standardize_statistics_are_read_only() -> None:
    step = Standardize(np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="read-only"):
        step.mean[0] = 1.0  # type: ignore[index]


# --- fitting and applying ----------------------------------------------------------------------


def test_scale_then_flatten_matches_the_formula() -> None:
    out = apply_preprocess((Scale(0.01, 1.0), Flatten()), IMAGES)
    expected = (IMAGES.reshape(6, 6).astype(np.float64) / 255 * 0.99 + 0.01).astype(np.float32)
    assert out.dtype == np.float32 and out.shape == (6, 6)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    assert out.min() >= np.float32(0.01) and out.max() <= np.float32(1.0)


def test_fit_fills_statistics_on_the_output_of_earlier_steps() -> None:
    steps = fit_preprocess((Scale(), Flatten(), Standardize()), IMAGES)
    scaled = IMAGES.reshape(6, 6) / 255.0
    assert steps[1] == Flatten((3, 2))
    standardize = steps[2]
    assert isinstance(standardize, Standardize) and standardize.mean is not None
    assert standardize.mean.dtype == np.float32 and standardize.mean.shape == (6,)
    np.testing.assert_allclose(standardize.mean, scaled.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(standardize.std, scaled.std(axis=0), rtol=1e-6)
    out = apply_preprocess(steps, IMAGES)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=0), 1.0, rtol=1e-5)


def test_standardize_before_flatten_keeps_the_image_shape_and_a_global_fit() -> None:
    steps = fit_preprocess((Standardize(), Flatten()), IMAGES)
    assert steps[0].mean.shape == (3, 2)  # type: ignore[union-attr]
    assert output_shape(steps) == (6,)
    overall = fit_preprocess((Scale(), Standardize(per_feature=False)), IMAGES)[1]
    assert isinstance(overall, Standardize) and overall.mean is not None
    assert overall.mean.shape == ()
    np.testing.assert_allclose(overall.mean, (IMAGES / 255.0).mean(), rtol=1e-6)


def test_fitting_keeps_fitted_steps_and_does_not_touch_the_inputs() -> None:
    before = IMAGES.copy()
    fixed = Standardize(np.full(6, 2.0, np.float32), np.full(6, 4.0, np.float32))
    specs = (Flatten(), fixed)
    steps = fit_preprocess(specs, IMAGES)
    assert steps[1] is fixed and specs[0].input_shape is None
    np.testing.assert_array_equal(IMAGES, before)
    np.testing.assert_array_equal(
        apply_preprocess(steps, IMAGES), ((IMAGES.reshape(6, 6) - 2.0) / 4.0).astype(np.float32)
    )


def test_apply_is_deterministic_and_follows_the_dtype() -> None:
    steps = fit_preprocess((Scale(), Flatten(), Standardize()), IMAGES)
    a, b = apply_preprocess(steps, IMAGES), apply_preprocess(steps, IMAGES)
    assert a.tobytes() == b.tobytes()
    assert apply_preprocess(steps, IMAGES, dtype=np.float64).dtype == np.float64


def test_no_steps_passes_feature_rows_through_as_float32() -> None:
    x = np.array([[0.5, -1.25], [2.0, 3.0]])
    out = apply_preprocess((), x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x.astype(np.float32))


@pytest.mark.parametrize(
    ("steps", "x", "message"),
    [
        ((Flatten((3, 2)),), np.zeros((2, 2, 3)), r"expects inputs of shape \(n, 3, 2\)"),
        ((Standardize(),), np.zeros((2, 4)), "no statistics"),
        ((Scale(),), np.zeros((2, 3, 2)), "add a flatten step"),
        ((), np.zeros(3), "add a flatten step"),
        ((), np.float32(1.0), "sample axis"),
        ((), np.array([["a"]]), "numeric"),
    ],
)
def test_apply_refuses_inputs_the_steps_do_not_fit(
    steps: tuple[PreprocessStep, ...], x: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        apply_preprocess(steps, x)


def test_fit_refuses_a_flatten_shape_the_training_inputs_do_not_have() -> None:
    with pytest.raises(ValueError, match=r"expects samples of shape \[28, 28\].*\[3, 2\]"):
        fit_preprocess((Flatten((28, 28)),), IMAGES)


def test_output_shape_is_known_only_where_the_steps_fix_it() -> None:
    assert output_shape((Scale(), Flatten())) is None
    assert output_shape((Scale(), Flatten()), (5, 5)) == (25,)
    assert output_shape((Flatten((28, 28)),)) == (784,)
    assert output_shape((Standardize(np.zeros(3), np.ones(3)),)) == (3,)
    with pytest.raises(ValueError, match=r"\[1\]: standardize expects samples of shape \[4\]"):
        output_shape((Flatten((2, 3)), Standardize(np.zeros(4), np.ones(4))))


# --- JSON form ----------------------------------------------------------------------------------


def test_steps_unstructure_with_their_kind_and_round_trip() -> None:
    steps = fit_preprocess((Scale(0.01, 1.0), Flatten(), Standardize()), IMAGES)
    data = [converter.unstructure(step) for step in steps]
    assert data[0] == {"kind": "scale", "low": 0.01, "high": 1.0, "max_value": 255.0}
    assert data[1] == {"kind": "flatten", "input_shape": [3, 2]}
    assert data[2]["kind"] == "standardize" and data[2]["mean"]["shape"] == [6]
    back = [converter.structure(item, PreprocessStep) for item in data]
    assert back[:2] == list(steps[:2])
    assert isinstance(back[2], Standardize) and isinstance(steps[2], Standardize)
    assert back[2].mean.tobytes() == steps[2].mean.tobytes()  # type: ignore[union-attr]
    assert back[2].std.tobytes() == steps[2].std.tobytes()  # type: ignore[union-attr]


def test_a_recipe_style_step_gets_defaults_and_no_statistics() -> None:
    conv = make_model_converter()
    step = conv.structure({"kind": "standardize"}, PreprocessStep)
    assert isinstance(step, Standardize) and not step.is_fitted and step.per_feature
    assert conv.structure({"kind": "scale", "low": 0.01}, PreprocessStep) == Scale(0.01, 1.0)
    assert conv.structure({"kind": "flatten"}, PreprocessStep) == Flatten()


@pytest.mark.parametrize(
    ("data", "line"),
    [
        (
            {"kind": "blur"},
            "$.kind: unknown preprocessing step 'blur'; supported: flatten, scale, standardize",
        ),
        (
            {"low": 0.1},
            "$: missing key 'kind'; a preprocessing step is one of: flatten, scale, standardize",
        ),
        ("scale", "$: expected a step object with a kind, found string"),
        (
            {"kind": "scale", "hihg": 2.0},
            "$: unknown key 'hihg'; expected keys: low, high, max_value",
        ),
        ({"kind": "scale", "low": "0"}, "$.low: expected a number, found string '0'"),
        ({"kind": "scale", "low": True}, "$.low: expected a number, found true/false True"),
        ({"kind": "scale", "low": 2.0}, "$.high: expected low < high, found low=2.0, high=1.0"),
        (
            {"kind": "flatten", "input_shape": "28"},
            "$.input_shape: expected a list, found string '28'",
        ),
        (
            {"kind": "flatten", "input_shape": [28, 2.5]},
            "$.input_shape[1]: expected an integer, found number 2.5",
        ),
        (
            {"kind": "standardize", "per_feature": 1},
            "$.per_feature: expected true or false, found integer 1",
        ),
        (
            {
                "kind": "standardize",
                "mean": {"dtype": "float32", "shape": [2], "data": [1]},
                "std": None,
            },
            "$.mean: shape [2] needs 2 values, got 1",
        ),
    ],
)
def test_malformed_steps_are_refused_with_their_path(data: object, line: str) -> None:
    assert structure_lines(data) == [line]


# --- real data ----------------------------------------------------------------------------------


def test_mnist_images_become_784_wide_rows(data_dir: Path) -> None:
    folder = data_dir / "mnist"
    train = read_idx(folder / "train10k-images-idx3-ubyte.gz")[:2000]
    test = read_idx(folder / "t10k-images-idx3-ubyte.gz")
    steps = fit_preprocess((Scale(0.01, 1.0), Flatten(), Standardize()), train)
    assert steps[1] == Flatten((28, 28)) and output_shape(steps) == (784,)
    x = apply_preprocess(steps, test)
    assert x.shape == (10000, 784) and x.dtype == np.float32
    assert np.isfinite(x).all()
    # Pixels that are 0 in every training image have std 1 and mean 0.01: they stay at 0.
    assert (x[:, 0] == 0).mean() > 0.99
