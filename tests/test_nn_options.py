"""Model options against oracles: per-layer activations, layers without bias, dropout, init
specs, regression and multi-label prediction, and the messages for what makes no sense."""

import itertools
import json
import math

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, r2_score, root_mean_squared_error

import purenet as pn
from purenet import optim
from purenet.modelfile.io import model_from_data, model_to_data

HIDDEN_LISTS = [("relu", "tanh"), ("sigmoid", "silu"), ("tanh", "identity")]
BIAS_FLAGS = [True, (True, False, True), (False, True, False)]
PAIRS = sorted(pn.LOSSES)


def _problem(
    hidden: tuple[str, str], bias: bool | tuple[bool, ...], output: str, loss: str, seed: int = 0
) -> tuple[pn.Architecture, pn.Params, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_out = 3 if output == "softmax" else 2
    arch = pn.Architecture(
        (3, 4, 4, n_out),
        hidden=hidden,
        output=output,
        loss=loss,
        bias=bias,
        dropout=(0.5, 0.25),
        input_dropout=0.2,
        huber_delta=0.5 if loss == "huber" else 1.0,
    )
    params = pn.init(arch, seed=seed, dtype="float64")
    params = pn.tree_map(lambda a: a + 0.3 * rng.standard_normal(a.shape), params)
    x = rng.standard_normal((5, 3))
    if (output, loss) == ("softmax", "cross_entropy"):
        y = rng.integers(0, n_out, 5)
    elif output == "identity":
        y = rng.normal(0.0, 2.0, (5, n_out))
    else:
        y = rng.uniform(0.01, 0.99, (5, n_out))
    return arch, params, x, y


def _numeric_grad(loss_of, params: pn.Params) -> list[np.ndarray]:
    """Central differences (float64) of `loss_of(params)` for every parameter."""
    eps = 1e-6
    result = []
    for leaf_index, leaf in enumerate(pn.tree_leaves(params)):
        numeric = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):

            def at(delta: float, idx: tuple[int, ...] = idx, leaf_index: int = leaf_index):
                counter = itertools.count()

                def bump(a: np.ndarray) -> np.ndarray:
                    if next(counter) != leaf_index:
                        return a
                    moved = a.copy()
                    moved[idx] += delta
                    return moved

                return loss_of(pn.tree_map(bump, params))

            numeric[idx] = (at(eps) - at(-eps)) / (2 * eps)
        result.append(numeric)
    return result


@pytest.mark.parametrize("with_dropout", [False, True])
@pytest.mark.parametrize(("output", "loss"), PAIRS)
@pytest.mark.parametrize("bias", BIAS_FLAGS, ids=str)
@pytest.mark.parametrize("hidden", HIDDEN_LISTS, ids="-".join)
def test_gradient_matches_central_differences_for_every_option(
    hidden: tuple[str, str],
    bias: bool | tuple[bool, ...],
    output: str,
    loss: str,
    with_dropout: bool,
) -> None:
    arch, params, x, y = _problem(hidden, bias, output, loss)
    masks = pn.dropout_masks(arch, 5, seed=(7, 1, 2), dtype="float64") if with_dropout else None
    value, grads = pn.value_and_grad(arch, params, x, y, l2=0.1, dropout=masks)
    assert value == pn.loss(arch, params, x, y, l2=0.1, dropout=masks)
    numeric = _numeric_grad(lambda p: pn.loss(arch, p, x, y, l2=0.1, dropout=masks), params)
    for analytic, expected in zip(pn.tree_leaves(grads), numeric, strict=True):
        assert analytic.shape == expected.shape
        scale = np.abs(analytic).max(initial=0) + np.abs(expected).max(initial=0)
        assert np.abs(analytic - expected).max(initial=0) / max(scale, 1e-12) < 1e-6


def _hand_forward(x, params, names, masks):
    """An independent forward pass: explicit activations, masks, optional biases."""
    table = {
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "sigmoid": lambda z: 1 / (1 + np.exp(-z)),
        "identity": lambda z: z,
    }
    a = x
    for i, layer in enumerate(params):
        a = a if masks[i] is None else a * masks[i]
        z = a @ layer.w + (layer.b if layer.b.size else 0.0)
        a = table[names[i]](z)
    return a


def test_a_dropout_forward_pass_is_the_masked_network() -> None:
    arch = pn.Architecture(
        (3, 6, 5, 2),
        hidden=("relu", "tanh"),
        output="identity",
        loss="mse",
        dropout=(0.5, 0.3),
        input_dropout=0.2,
        bias=(True, False, True),
    )
    params = pn.init(arch, seed=1, dtype="float64")
    x = np.random.default_rng(2).standard_normal((7, 3))
    y = np.random.default_rng(3).standard_normal((7, 2))
    masks = pn.dropout_masks(arch, 7, seed=(1, 2, 3), dtype="float64")
    outputs = _hand_forward(x, params, ("relu", "tanh", "identity"), masks.masks)
    expected = 0.5 * np.square(outputs - y).sum() / 7
    assert pn.loss(arch, params, x, y, dropout=masks) == pytest.approx(expected, rel=1e-13)
    # The same seed draws the same masks inside the function.
    assert pn.loss(arch, params, x, y, dropout=(1, 2, 3)) == pn.loss(
        arch, params, x, y, dropout=masks
    )
    # No dropout argument, and forward, use the network as it is.
    plain = _hand_forward(x, params, ("relu", "tanh", "identity"), (None, None, None))
    np.testing.assert_allclose(pn.forward(arch, params, x), plain, rtol=1e-13)
    assert pn.loss(arch, params, x, y) == pytest.approx(0.5 * np.square(plain - y).sum() / 7)


def test_dropout_masks_drop_the_rate_and_scale_the_rest() -> None:
    arch = pn.Architecture((50, 400, 10), dropout=0.3, input_dropout=0.1)
    masks = pn.dropout_masks(arch, 500, seed=(4, 0, 9)).masks
    for mask, rate, width in zip(masks, (0.1, 0.3), (50, 400), strict=True):
        assert mask.shape == (500, width) and mask.dtype == np.float32
        kept = mask != 0
        np.testing.assert_array_equal(mask[kept], np.float32(1 / (1 - rate)))
        # Binomial: 500 * width draws, the dropped fraction within 5 standard deviations.
        sd = math.sqrt(rate * (1 - rate) / mask.size)
        assert abs((~kept).mean() - rate) < 5 * sd
    again = pn.dropout_masks(arch, 500, seed=(4, 0, 9)).masks
    other = pn.dropout_masks(arch, 500, seed=(4, 0, 10)).masks
    wide = pn.dropout_masks(arch, 500, seed=(4, 0, 9), dtype="float64").masks
    np.testing.assert_array_equal(masks[1], again[1])
    assert not np.array_equal(masks[1] != 0, other[1] != 0)
    np.testing.assert_array_equal(masks[1] != 0, wide[1] != 0)
    assert not masks[1].flags.writeable
    assert pn.dropout_masks(pn.Architecture((3, 4, 2)), 5, seed=0).masks == (None, None)


def test_a_layer_without_bias_holds_an_empty_b_that_optimizers_carry() -> None:
    arch = pn.Architecture((3, 4, 2), bias=(False, True), output="identity", loss="mse")
    params = pn.init(arch, seed=0)
    assert params[0].b.shape == (0,) and params[1].b.shape == (2,)
    x = np.ones((4, 3), np.float32)
    y = np.zeros((4, 2), np.float32)
    _, grads = pn.value_and_grad(arch, params, x, y)
    assert grads[0].b.shape == (0,) and grads[0].b.dtype == np.float32
    for spec in (optim.SGD(0.1, momentum=0.9), optim.Adam(0.01)):
        state = optim.init(spec, params)
        updates, state = optim.update(spec, grads, state, params)
        stepped = optim.apply_updates(params, updates)
        assert stepped[0].b.shape == (0,) and stepped[0].w.dtype == np.float32
    # A bias-free identity network is linear: zero input gives zero output.
    assert not pn.forward(
        pn.Architecture((3, 2), bias=False, output="identity", loss="mse"),
        pn.init(pn.Architecture((3, 2), bias=False, output="identity", loss="mse"), seed=0),
        np.zeros((2, 3)),
    ).any()
    with pytest.raises(
        ValueError, match=r"\[0\]\.b: shape \(4,\), expected \(0,\) \(the layer has no bias\)"
    ):
        pn.forward(arch, pn.init(pn.Architecture((3, 4, 2)), seed=0), x)


def test_the_model_file_keeps_the_options_and_writes_them_only_when_set() -> None:
    arch = pn.Architecture(
        (3, 4, 4, 2),
        hidden=["relu", "tanh"],
        bias=[True, False, True],
        dropout=[0.5, 0.0],
        input_dropout=0.2,
        output="identity",
        loss="huber",
        huber_delta=0.25,
    )
    model = pn.Model(arch, pn.init(arch, seed=0), labels=("a", "b"))
    data = json.loads(json.dumps(model_to_data(model)))
    assert data["architecture"] == {
        "sizes": [3, 4, 4, 2],
        "hidden": ["relu", "tanh"],
        "output": "identity",
        "loss": "huber",
        "bias": [True, False, True],
        "dropout": [0.5, 0.0],
        "input_dropout": 0.2,
        "huber_delta": 0.25,
    }
    assert data["layers"][1]["b"] == {"dtype": "float32", "shape": [0], "data": []}
    loaded = model_from_data(data)
    assert loaded.arch == arch
    assert pn.tree_equal(loaded.params, model.params)
    plain = pn.Architecture((3, 2))
    written = model_to_data(pn.Model(plain, pn.init(plain, seed=0)))["architecture"]
    assert list(written) == ["sizes", "hidden", "output", "loss"]


def test_one_value_for_all_layers_is_one_spelling() -> None:
    same = pn.Architecture(
        (2, 3, 3, 2), hidden=["tanh", "tanh"], bias=(True,) * 3, dropout=(0.5, 0.5)
    )
    assert same == pn.Architecture((2, 3, 3, 2), hidden="tanh", dropout=0.5)
    assert same.hidden == "tanh" and same.bias is True and same.dropout == 0.5
    assert same.activations == ("tanh", "tanh") and same.layer_activations == (
        "tanh",
        "tanh",
        "softmax",
    )
    assert same.dropout_rates == (0.0, 0.5, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"hidden": ("relu",)},
            "hidden: 1 activations given for 2 hidden layers; "
            "give one value for all or one per hidden layer",
        ),
        (
            {"hidden": ("relu", "rellu")},
            "unknown activation 'rellu'; supported: elu, identity, leaky_relu, relu, sigmoid, "
            "silu, softplus, swish, tanh",
        ),
        ({"bias": (True, False)}, "bias: 2 flags given for 3 layers"),
        ({"bias": 1}, "bias: expected true or false, found 1"),
        (
            {"dropout": 1.0},
            r"dropout: rate 1.0; expected a fraction of units dropped, 0 <= rate < 1",
        ),
        ({"dropout": (0.5, -0.1)}, "dropout: rate -0.1"),
        ({"dropout": (0.5, 0.2, 0.1)}, "dropout: 3 rates given for 2 hidden layers"),
        ({"dropout": "0.5"}, "dropout: rate '0.5'"),
        ({"input_dropout": 1}, "input_dropout: rate 1; expected a fraction of inputs dropped"),
        (
            {"output": "identity", "loss": "huber", "huber_delta": 0.0},
            "huber_delta: expected a number > 0, found 0.0",
        ),
        (
            {"output": "identity", "loss": "huber", "huber_delta": math.inf},
            "huber_delta: expected a finite number",
        ),
        (
            {"output": "identity", "loss": "mse", "huber_delta": 2.0},
            "huber_delta applies to loss 'huber' only",
        ),
        (
            {"output": "softmax", "loss": "mae"},
            r"unsupported output x loss pair: softmax x mae; supported: .*identity x mae",
        ),
    ],
)
def test_what_makes_no_sense_is_refused_with_the_choices(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pn.Architecture((3, 4, 4, 2), **kwargs)


def test_dropout_without_hidden_layers_and_bad_masks_or_seeds_are_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"dropout: 0.5 given, but sizes \(3, 2\) have no hidden layer; use input_dropout",
    ):
        pn.Architecture((3, 2), dropout=0.5)
    arch = pn.Architecture((3, 4, 2), dropout=0.5)
    params = pn.init(arch, seed=0)
    x, y = np.ones((5, 3)), np.zeros(5, np.int64)
    with pytest.raises(ValueError, match=r"dropout masks\[1\]: shape \(4, 4\), expected \(5, 4\)"):
        pn.loss(arch, params, x, y, dropout=pn.dropout_masks(arch, 4, seed=0))
    with pytest.raises(ValueError, match="dropout masks: 1 given; sizes"):
        pn.loss(arch, params, x, y, dropout=pn.DropoutMasks((None,)))
    with pytest.raises(
        ValueError,
        match=r"dropout seed must be an int >= 0 or a tuple of them such as "
        r"\(seed, epoch, batch\), found -1",
    ):
        pn.grad(arch, params, x, y, dropout=-1)
    with pytest.raises(ValueError, match="found 'a'"):
        pn.grad(arch, params, x, y, dropout="a")  # type: ignore[arg-type]


def test_init_specs_draw_the_documented_numbers_and_names_still_work() -> None:
    arch = pn.Architecture((300, 200, 10), hidden="sigmoid")
    nielsen = pn.init(arch, seed=5, scheme=pn.Normal(1.0), dtype="float64")
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(nielsen[0].w, rng.standard_normal((300, 200)))
    np.testing.assert_array_equal(nielsen[1].w, rng.standard_normal((200, 10)))
    assert not nielsen[0].b.any()
    for name, spec in [
        ("small", pn.Normal(0.01)),
        ("normal", pn.Normal()),
        ("he", pn.He()),
        ("glorot", pn.Glorot()),
    ]:
        assert pn.tree_equal(pn.init(arch, seed=1, scheme=name), pn.init(arch, seed=1, scheme=spec))
    # N(0, 1/fan_out) for "normal": the first layer's 60000 weights have std 1/sqrt(200).
    assert np.std(pn.init(arch, seed=2, scheme="normal", dtype="float64")[0].w) == pytest.approx(
        200**-0.5, rel=0.02
    )
    with pytest.raises(ValueError, match=r"Normal\.std: expected a number > 0 or None, found -1"):
        pn.Normal(-1)
    with pytest.raises(
        ValueError,
        match=r"unknown init scheme 'lecun'; supported: he, glorot, normal, small, "
        r"or a spec He\(\), Glorot\(\), Normal\(std\)",
    ):
        pn.init(arch, seed=0, scheme="lecun")


def _fit_linear(k: int) -> tuple[pn.Architecture, pn.Params, np.ndarray, np.ndarray]:
    """A 3-8-k identity network trained by plain gradient descent on y = x A + c."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 3))
    y = x @ rng.standard_normal((3, k)) + rng.standard_normal(k)
    arch = pn.Architecture((3, 8, k), hidden="identity", output="identity", loss="mse")
    params = pn.init(arch, seed=0, dtype="float64")
    for _ in range(400):
        params = pn.sgd_step(params, pn.grad(arch, params, x, y[:, 0] if k == 1 else y), 0.05)
    return arch, params, x, y


@pytest.mark.parametrize("k", [1, 2])
def test_regression_predicts_values_and_scores_them_like_scikit_learn(k: int) -> None:
    arch, params, x, y = _fit_linear(k)
    predicted = pn.predict(arch, params, x)
    assert predicted.shape == ((200,) if k == 1 else (200, k)) and predicted.dtype == np.float64
    truth = y[:, 0] if k == 1 else y
    assert r2_score(truth, predicted) > 0.999
    scores = pn.score(arch, params, x, truth, batch_size=64)
    assert scores.accuracy is None
    assert scores.r2 == pytest.approx(r2_score(truth, predicted), rel=1e-12)
    assert scores.rmse == pytest.approx(root_mean_squared_error(truth, predicted), rel=1e-10)
    assert scores.mae == pytest.approx(mean_absolute_error(truth, predicted), rel=1e-10)
    assert scores.loss == pytest.approx(pn.loss(arch, params, x, truth), rel=1e-12)
    assert set(scores.as_dict()) == {"loss", "rmse", "mae", "r2"}
    with pytest.raises(ValueError, match="no accuracy: use score"):
        pn.evaluate(arch, params, x, truth)


def test_a_constant_target_scores_r2_as_scikit_learn_does() -> None:
    arch = pn.Architecture((1, 1), output="identity", loss="mae")
    params = (pn.Dense(np.array([[0.0]]), np.array([2.0])),)
    x = np.zeros((3, 1))
    assert pn.score(arch, params, x, np.full(3, 2.0)).r2 == r2_score([2.0] * 3, [2.0] * 3) == 1.0
    assert pn.score(arch, params, x, np.full(3, 5.0)).r2 == r2_score([5.0] * 3, [2.0] * 3) == 0.0


def test_classifier_scores_are_evaluate_s_loss_and_accuracy() -> None:
    arch = pn.Architecture((4, 5, 3))
    params = pn.init(arch, seed=0)
    x = np.random.default_rng(0).standard_normal((10, 4))
    y = np.arange(10) % 3
    scores = pn.score(arch, params, x, y, batch_size=3)
    assert (scores.loss, scores.accuracy) == pn.evaluate(arch, params, x, y, batch_size=3)
    assert scores.accuracy == np.mean(pn.predict(arch, params, x) == y)
    assert scores.as_dict() == {"loss": scores.loss, "accuracy": scores.accuracy}


def test_multilabel_prediction_thresholds_each_sigmoid_unit() -> None:
    arch = pn.Architecture((2, 3), output="sigmoid")
    # Logits: unit 0 = x0, unit 1 = -x0, unit 2 = x1 - 1.
    params = (pn.Dense(np.array([[1.0, -1.0, 0.0], [0.0, 0.0, 1.0]]), np.array([0.0, 0.0, -1.0])),)
    x = np.array([[2.0, 3.0], [-1.0, 0.0]])
    np.testing.assert_array_equal(pn.predict_multilabel(arch, params, x), [[1, 0, 1], [0, 1, 0]])
    # sigmoid(2) = 0.881: above 0.85, below 0.9.
    assert pn.predict_multilabel(arch, params, x, threshold=0.85)[0, 0] == 1
    assert pn.predict_multilabel(arch, params, x, threshold=0.9)[0, 0] == 0
    with pytest.raises(
        ValueError, match=r"predict_multilabel needs sigmoid outputs .* found 'softmax'"
    ):
        pn.predict_multilabel(pn.Architecture((2, 3)), pn.init(pn.Architecture((2, 3)), seed=0), x)
    with pytest.raises(ValueError, match=r"threshold must lie in \(0, 1\), found 1.0"):
        pn.predict_multilabel(arch, params, x, threshold=1.0)
