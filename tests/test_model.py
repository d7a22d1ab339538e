"""The model core against oracles: finite differences, a hand-worked step, properties, purity."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import purenet as pn
from purenet.nn.activations import log_softmax, softmax

PAIRS = sorted(pn.LOSSES)
HIDDEN = sorted(pn.ACTIVATIONS)


def _problem(
    hidden: str, output: str, loss: str, depth: int, seed: int = 0
) -> tuple[pn.Architecture, pn.Params, np.ndarray, np.ndarray]:
    """A small float64 problem whose targets suit the (output, loss) pair."""
    rng = np.random.default_rng(seed)
    n_out = 3 if output == "softmax" else 2
    sizes = (3,) + (4,) * (depth - 1) + (n_out,)
    arch = pn.Architecture(sizes, hidden=hidden, output=output, loss=loss)
    params = pn.init(arch, seed=seed, dtype="float64")
    # Nonzero biases, so their gradients are exercised too.
    params = pn.tree_map(lambda a: a + 0.3 * rng.standard_normal(a.shape), params)
    x = rng.standard_normal((5, 3))
    if (output, loss) == ("softmax", "cross_entropy"):
        y = rng.integers(0, n_out, 5)
    else:
        y = rng.uniform(0.01, 0.99, (5, n_out))
    return arch, params, x, y


def _numeric_grad(
    arch: pn.Architecture, params: pn.Params, x: np.ndarray, y: np.ndarray, l2: float
) -> list[np.ndarray]:
    """Central differences of `pn.loss` for every parameter, float64."""
    eps = 1e-6
    result = []
    for leaf_index, leaf in enumerate(pn.tree_leaves(params)):
        numeric = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):

            def at(delta: float, idx: tuple[int, ...] = idx, leaf_index: int = leaf_index) -> float:
                counter = itertools.count()

                def bump(a: np.ndarray) -> np.ndarray:
                    if next(counter) != leaf_index:
                        return a
                    moved = a.copy()
                    moved[idx] += delta
                    return moved

                return pn.loss(arch, pn.tree_map(bump, params), x, y, l2=l2)

            numeric[idx] = (at(eps) - at(-eps)) / (2 * eps)
        result.append(numeric)
    return result


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("l2", [0.0, 0.1])
@pytest.mark.parametrize(("output", "loss"), PAIRS)
@pytest.mark.parametrize("hidden", HIDDEN)
def test_gradient_matches_central_differences(
    hidden: str, output: str, loss: str, l2: float, depth: int
) -> None:
    arch, params, x, y = _problem(hidden, output, loss, depth)
    value, grads = pn.value_and_grad(arch, params, x, y, l2=l2)
    assert value == pn.loss(arch, params, x, y, l2=l2)
    for analytic, numeric in zip(
        pn.tree_leaves(grads), _numeric_grad(arch, params, x, y, l2), strict=True
    ):
        scale = np.abs(analytic).max() + np.abs(numeric).max()
        assert np.abs(analytic - numeric).max() / max(scale, 1e-12) < 1e-6


def test_one_hand_worked_sgd_step() -> None:
    # Matt Mazur's "A Step by Step Backpropagation Example": 2-2-2, sigmoid everywhere,
    # quadratic cost E = 1/2 sum (target - out)^2, one sample, learning rate 0.5.
    # w[i, j] connects input i to unit j: h1 = sigmoid(0.15*0.05 + 0.20*0.10 + 0.35).
    arch = pn.Architecture((2, 2, 2), hidden="sigmoid", output="sigmoid", loss="mse")
    params = (
        pn.Dense(np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([0.35, 0.35])),
        pn.Dense(np.array([[0.40, 0.50], [0.45, 0.55]]), np.array([0.60, 0.60])),
    )
    x = np.array([[0.05, 0.10]])
    y = np.array([[0.01, 0.99]])
    # Forward: out_h = (0.593269992, 0.596884378), out_o = (0.751365070, 0.772928465).
    np.testing.assert_allclose(pn.forward(arch, params, x), [[0.751365070, 0.772928465]], atol=1e-9)
    # E = 1/2 (0.01 - 0.75136507)^2 + 1/2 (0.99 - 0.772928465)^2 = 0.298371109
    value, grads = pn.value_and_grad(arch, params, x, y)
    assert value == pytest.approx(0.298371109, abs=1e-9)
    # delta_o = (out - target) * out * (1 - out) = (0.138498562, -0.038098237)
    # dE/dw5 = delta_o1 * out_h1 = 0.082167041, dE/dw6 = delta_o1 * out_h2 = 0.082667628,
    # dE/dw7 = delta_o2 * out_h1 = -0.022602540, dE/dw8 = delta_o2 * out_h2 = -0.022740242
    np.testing.assert_allclose(
        grads[1].w, [[0.082167041, -0.022602540], [0.082667628, -0.022740242]], atol=1e-9
    )
    np.testing.assert_allclose(grads[1].b, [0.138498562, -0.038098237], atol=1e-9)
    # delta_h1 = (0.138498562*0.40 - 0.038098237*0.50) * 0.593269992 * (1 - 0.593269992)
    #          = 0.008771355; delta_h2 = 0.009954255; dE/dw1 = delta_h1 * 0.05 = 0.000438568 ...
    np.testing.assert_allclose(
        grads[0].w, [[0.000438568, 0.000497713], [0.000877135, 0.000995425]], atol=1e-9
    )
    np.testing.assert_allclose(grads[0].b, [0.008771355, 0.009954255], atol=1e-9)
    # After w <- w - 0.5 * dE/dw, Mazur's published weights: w5 = 0.358916480,
    # w6 = 0.408666186, w7 = 0.511301270, w8 = 0.561370121, w1 = 0.149780716,
    # w2 = 0.199561432, w3 = 0.249751144, w4 = 0.299502287.
    stepped = pn.sgd_step(params, grads, 0.5)
    np.testing.assert_allclose(
        stepped[1].w, [[0.358916480, 0.511301270], [0.408666186, 0.561370121]], atol=1e-9
    )
    np.testing.assert_allclose(
        stepped[0].w, [[0.149780716, 0.249751144], [0.199561432, 0.299502287]], atol=1e-9
    )
    # Biases move too (Mazur kept his fixed): 0.60 - 0.5 * 0.138498562 = 0.530750719.
    np.testing.assert_allclose(stepped[1].b, [0.530750719, 0.619049118], atol=1e-9)
    np.testing.assert_allclose(stepped[0].b, [0.345614323, 0.345022873], atol=1e-9)


logits = hnp.arrays(
    np.float64,
    st.tuples(st.integers(1, 6), st.integers(1, 6)),
    elements=st.floats(-1000, 1000, allow_nan=False),
)


@given(logits, st.floats(-1000, 1000))
def test_softmax_rows_sum_to_one_and_ignore_a_shift(z: np.ndarray, shift: float) -> None:
    p = softmax(z)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(softmax(z + shift), p, atol=1e-12)
    assert np.isfinite(log_softmax(z)).all()


@settings(max_examples=50, deadline=None)
@given(
    st.sampled_from(PAIRS),
    st.sampled_from(HIDDEN),
    st.sampled_from(["float32", "float64"]),
    st.sampled_from([-1000.0, 1000.0, -80.0, 80.0]),
)
def test_loss_and_gradient_are_finite_for_extreme_logits(
    pair: tuple[str, str], hidden: str, dtype: str, magnitude: float
) -> None:
    output, loss = pair
    arch = pn.Architecture((2, 3, 2), hidden=hidden, output=output, loss=loss)
    params = pn.init(arch, seed=0, dtype=dtype)
    # Push the logits of the last layer to +-magnitude with alternating signs.
    last = pn.Dense(params[1].w, np.array([magnitude, -magnitude], dtype=dtype))
    params = (params[0], last)
    x = np.zeros((4, 2), dtype=dtype)
    y = np.array([1, 0, 1, 0]) if output == "softmax" else np.array([[0.0, 1.0]] * 4)
    value, grads = pn.value_and_grad(arch, params, x, y, l2=0.1)
    assert np.isfinite(value)
    assert all(np.isfinite(g).all() for g in pn.tree_leaves(grads))


@settings(max_examples=30, deadline=None)
@given(
    st.integers(0, 2**32 - 1),
    st.integers(1, 9),
    st.sampled_from([pair for pair in PAIRS if pair[0] != "identity"]),
)
def test_predict_is_argmax_of_forward(seed: int, batch: int, pair: tuple[str, str]) -> None:
    arch = pn.Architecture((4, 5, 3), output=pair[0], loss=pair[1])
    params = pn.init(arch, seed=seed)
    x = np.random.default_rng(seed).standard_normal((batch, 4)).astype(np.float32)
    np.testing.assert_array_equal(
        pn.predict(arch, params, x), pn.forward(arch, params, x).argmax(axis=1)
    )


def test_predict_thresholds_a_single_sigmoid_unit() -> None:
    arch = pn.Architecture((2, 1), output="sigmoid", loss="cross_entropy")
    params = (pn.Dense(np.array([[1.0], [0.0]], dtype=np.float32), np.zeros(1, np.float32)),)
    x = np.array([[-2.0, 0.0], [3.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(pn.predict(arch, params, x), [0, 1])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_functions_are_pure_and_keep_the_dtype(dtype: str) -> None:
    arch = pn.Architecture((6, 5, 4, 3), hidden="relu")
    params = pn.init(arch, seed=3, dtype=dtype)
    x = np.random.default_rng(1).standard_normal((7, 6)).astype(dtype)
    y = np.array([0, 1, 2, 0, 1, 2, 0])
    snapshot = pn.tree_map(np.copy, (params, x, y))
    first = pn.value_and_grad(arch, params, x, y, l2=0.01)
    second = pn.value_and_grad(arch, params, x, y, l2=0.01)
    outputs = pn.forward(arch, params, x)
    stepped = pn.sgd_step(params, first[1], 0.1)
    assert pn.tree_equal((params, x, y), snapshot)
    assert first[0] == second[0] and pn.tree_equal(first[1], second[1])
    assert pn.tree_equal(outputs, pn.forward(arch, params, x))
    for leaf in pn.tree_leaves((first[1], stepped, outputs)):
        assert leaf.dtype == np.dtype(dtype)


def test_float32_and_float64_start_from_the_same_numbers() -> None:
    arch = pn.Architecture((5, 4, 2))
    p32, p64 = pn.init(arch, seed=0), pn.init(arch, seed=0, dtype="float64")
    assert p32[0].w.dtype == np.float32
    assert pn.tree_allclose(p32, p64, rtol=1e-6)


@pytest.mark.parametrize(
    ("scheme", "std"),
    [
        ("he", np.sqrt(2 / 400)),
        ("normal", 300**-0.5),
        ("small", 0.01),
        ("glorot", np.sqrt(2 / 700)),
    ],
)
def test_init_scheme_scales(scheme: str, std: float) -> None:
    params = pn.init(pn.Architecture((400, 300)), seed=0, scheme=scheme)
    assert params[0].w.std() == pytest.approx(std, rel=0.02)
    assert not params[0].b.any()


def test_init_defaults_he_for_relu_and_glorot_for_sigmoid() -> None:
    relu = pn.init(pn.Architecture((400, 300, 2), hidden="relu"), seed=0)
    sigmoid = pn.init(pn.Architecture((400, 300, 2), hidden="sigmoid"), seed=0)
    assert relu[0].w.std() == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    assert sigmoid[0].w.std() == pytest.approx(np.sqrt(2 / 700), rel=0.02)


def test_same_seed_same_params_other_seed_other_params() -> None:
    arch = pn.Architecture((5, 4, 2))
    assert pn.tree_equal(pn.init(arch, seed=1), pn.init(arch, seed=1))
    assert not pn.tree_equal(pn.init(arch, seed=1), pn.init(arch, seed=2))


def test_unsupported_pairs_and_names_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="identity x cross_entropy; supported: softmax x cross"):
        pn.Architecture((2, 2), output="identity", loss="cross_entropy")
    with pytest.raises(ValueError, match="unknown activation 'rellu'; supported: elu, identity"):
        pn.Architecture((2, 2), hidden="rellu")
    with pytest.raises(ValueError, match="at least two positive layer widths"):
        pn.Architecture((2,))
    with pytest.raises(ValueError, match="sequence of integers"):
        pn.Architecture((2.5, 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'"):
        pn.init(pn.Architecture((2, 2)), seed=0, scheme="xavier")


def test_bad_shapes_are_refused_with_the_shape() -> None:
    arch = pn.Architecture((4, 3, 2))
    params = pn.init(arch, seed=0)
    with pytest.raises(ValueError, match=r"x has shape \(5, 3\); the model expects \(batch, 4\)"):
        pn.forward(arch, params, np.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"\[1\]\.w: shape \(3, 2\), expected \(3, 5\)"):
        pn.forward(pn.Architecture((4, 3, 5)), params, np.zeros((5, 4)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\), found values in \[0, 7\]"):
        pn.loss(arch, params, np.zeros((2, 4)), np.array([0, 7]))
    with pytest.raises(ValueError, match=r"y has shape \(3,\); expected labels \(2,\)"):
        pn.loss(arch, params, np.zeros((2, 4)), np.array([0, 1, 1]))


def test_labels_and_one_hot_targets_give_the_same_loss_and_gradient() -> None:
    arch, params, x, labels = _problem("tanh", "softmax", "cross_entropy", 2)
    targets = np.eye(3)[labels]
    v1, g1 = pn.value_and_grad(arch, params, x, labels)
    v2, g2 = pn.value_and_grad(arch, params, x, targets)
    assert v1 == pytest.approx(v2, rel=1e-12)
    assert pn.tree_allclose(g1, g2, rtol=1e-12, atol=1e-15)


def test_evaluate_in_chunks_equals_the_whole_batch_loss() -> None:
    arch, params, x, y = _problem("relu", "softmax", "cross_entropy", 2)
    value, accuracy = pn.evaluate(arch, params, x, y, batch_size=2)
    assert value == pytest.approx(pn.loss(arch, params, x, y), rel=1e-12)
    assert accuracy == np.mean(pn.predict(arch, params, x) == y)


def test_softmax_with_one_output_unit_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="softmax needs at least 2 output units; use sigmoid"):
        pn.Architecture((4, 3, 1))
    assert pn.Architecture((4, 3, 1), output="sigmoid").sizes == (4, 3, 1)
