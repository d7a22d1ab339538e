"""Losses against oracles: hand formulas for the values, central differences for the deltas."""

import numpy as np
import pytest

import purenet as pn
from purenet.nn.losses import output_loss, regression_targets

DELTAS = [0.1, 1.0, 3.0]


def _logits_and_targets(output: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((6, 3)) * 2
    y = rng.uniform(0.01, 0.99, (6, 3)) if output != "identity" else rng.normal(0, 2, (6, 3))
    return z, y


def _all_pairs() -> list[tuple[str, str, float]]:
    pairs = [(output, loss, 1.0) for output, loss in sorted(pn.LOSSES)]
    return pairs + [("identity", "huber", delta) for delta in DELTAS if delta != 1.0]


@pytest.mark.parametrize(("output", "loss", "delta"), _all_pairs())
def test_each_delta_is_the_central_difference_of_its_value(
    output: str, loss: str, delta: float
) -> None:
    pair = output_loss(output, loss, huber_delta=delta)
    z, y = _logits_and_targets(output)
    activate = pn.OUTPUTS[output].function
    analytic = pair.delta(z, activate(z), y)
    numeric = np.zeros_like(z)
    eps = 1e-6
    for idx in np.ndindex(z.shape):
        up, down = z.copy(), z.copy()
        up[idx] += eps
        down[idx] -= eps
        numeric[idx] = (pair.value(up, activate(up), y) - pair.value(down, activate(down), y)) / (
            2 * eps
        )
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8)


def test_regression_values_follow_their_formulas() -> None:
    # Two rows, two outputs; residuals r = a - y = [[0.5, -2.0], [3.0, 0.0]].
    a = np.array([[1.5, 0.0], [3.0, 1.0]])
    y = np.array([[1.0, 2.0], [0.0, 1.0]])
    mse = output_loss("identity", "mse").value(a, a, y)
    mae = output_loss("identity", "mae").value(a, a, y)
    huber = output_loss("identity", "huber", huber_delta=1.0).value(a, a, y)
    # mse: (0.125 + 2 + 4.5 + 0) / 2; mae: (0.5 + 2 + 3 + 0) / 2;
    # huber (delta 1): 0.125 + (2 - 0.5) + (3 - 0.5) + 0 = 4.125, / 2.
    assert mse == pytest.approx(3.3125, abs=1e-15)
    assert mae == pytest.approx(2.75, abs=1e-15)
    assert huber == pytest.approx(2.0625, abs=1e-15)
    # delta 2: 0.125 + 2 * (2 - 1) (|r| = 2 is on the quadratic side: 0.5 * 4 = 2) ...
    assert output_loss("identity", "huber", huber_delta=2.0).value(a, a, y) == pytest.approx(
        (0.125 + 2.0 + 2.0 * (3.0 - 1.0)) / 2, abs=1e-15
    )
    # Gradients (before dividing by the batch of 2): mae sign(r), huber clip(r, -1, 1).
    np.testing.assert_array_equal(
        output_loss("identity", "mae").delta(a, a, y), [[0.5, -0.5], [0.5, 0.0]]
    )
    np.testing.assert_array_equal(
        output_loss("identity", "huber").delta(a, a, y), [[0.25, -0.5], [0.5, 0.0]]
    )


def test_huber_is_mse_for_a_large_delta_and_delta_times_mae_for_a_tiny_one() -> None:
    z, y = _logits_and_targets("identity", seed=3)
    mse = output_loss("identity", "mse")
    mae = output_loss("identity", "mae")
    wide = output_loss("identity", "huber", huber_delta=1e6)
    narrow = output_loss("identity", "huber", huber_delta=1e-9)
    assert wide.value(z, z, y) == pytest.approx(mse.value(z, z, y), rel=1e-15)
    np.testing.assert_array_equal(wide.delta(z, z, y), mse.delta(z, z, y))
    assert narrow.value(z, z, y) / 1e-9 == pytest.approx(mae.value(z, z, y), rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_losses_keep_the_dtype(loss: str, dtype: type) -> None:
    z = np.array([[0.5], [-3.0]], dtype=dtype)
    y = np.array([1.0, 2.0])
    assert output_loss("identity", loss).delta(z, z, y).dtype == dtype


def test_regression_targets_take_values_of_a_single_output_in_any_number_dtype() -> None:
    np.testing.assert_array_equal(
        regression_targets(np.array([3, -7, 250]), 1, np.dtype(np.float64)),
        [[3.0], [-7.0], [250.0]],
    )
    assert regression_targets(np.zeros((4, 2)), 2, np.dtype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"targets have shape \(4, 3\); the model has 2 outputs"):
        regression_targets(np.zeros((4, 3)), 2, np.dtype(np.float64))
    with pytest.raises(ValueError, match="regression targets must be numbers, found dtype <U1"):
        regression_targets(np.array(["a"]), 1, np.dtype(np.float64))


def test_unsupported_pairs_are_refused_with_the_supported_ones() -> None:
    with pytest.raises(ValueError, match=r"softmax x mae; supported: .*identity x huber"):
        output_loss("softmax", "mae")
    with pytest.raises(ValueError, match="unsupported output x loss pair: sigmoid x huber"):
        pn.Architecture((2, 1), output="sigmoid", loss="huber")
