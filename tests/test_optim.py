"""Optimizers: convergence table, hand-worked steps, dtypes and purity."""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import numpy as np
import pytest

from purenet import optim
from purenet.core.kernel import HAS_NUMBA
from purenet.core.tree import tree_equal, tree_leaves, tree_map
from purenet.optim.base import Flat
from purenet.optim.optimizers import RULES
from purenet.optim.schedules import InverseTimeDecay, learning_rate

KERNEL_SPECS = [
    optim.SGD(0.05),
    optim.SGD(0.05, momentum=0.9),
    optim.SGD(0.05, momentum=0.9, nesterov=True),
    optim.Adam(0.01),
    optim.AdamW(0.01, weight_decay=0.1),
    optim.RMSProp(0.01),
]


@attrs.frozen(eq=False)
class Layer:
    """A stand-in for `Dense`: any attrs tree works."""

    w: np.ndarray
    b: np.ndarray


BOWL_SCALE = np.array([1.0, 10.0])
BOWL_MINIMUM = np.array([1.0, -2.0])


def bowl_grad(p: np.ndarray) -> np.ndarray:
    """Gradient of 0.5 * sum(scale * (p - minimum) ** 2); minimum at (1, -2)."""
    return BOWL_SCALE * (p - BOWL_MINIMUM)


def rosenbrock_grad(p: np.ndarray) -> np.ndarray:
    """Gradient of (1 - x)**2 + 100 (y - x**2)**2; minimum at (1, 1)."""
    x, y = p
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def descend(
    spec: optim.Optimizer, grad: Callable[[np.ndarray], np.ndarray], start: list[float], steps: int
) -> np.ndarray:
    params = (np.array(start),)
    state = optim.init(spec, params)
    for _ in range(steps):
        updates, state = optim.update(spec, (grad(params[0]),), state, params)
        params = optim.apply_updates(params, updates)
    assert int(state.count) == steps
    return params[0]


# AdamW's decay skips 1-d leaves (biases), so on these 1-d problems the minimum is unmoved.
TABLE = [
    (optim.SGD(0.05), "bowl", 300, 1e-6),
    (optim.SGD(0.05, momentum=0.9), "bowl", 300, 1e-6),
    (optim.SGD(0.05, momentum=0.9, nesterov=True), "bowl", 300, 1e-6),
    (optim.Adam(0.1), "bowl", 500, 1e-6),
    (optim.AdamW(0.1), "bowl", 500, 1e-6),
    (optim.RMSProp(0.01), "bowl", 1000, 1e-6),
    (optim.SGD(1e-3), "rosenbrock", 20000, 1e-3),
    (optim.SGD(1e-3, momentum=0.9), "rosenbrock", 5000, 1e-6),
    (optim.SGD(1e-3, momentum=0.9, nesterov=True), "rosenbrock", 5000, 1e-6),
    (optim.Adam(0.02), "rosenbrock", 5000, 1e-4),
    (optim.AdamW(0.02), "rosenbrock", 5000, 1e-4),
    # constant-rate RMSProp ends in a small oscillation of the order of the rate
    (optim.RMSProp(1e-3), "rosenbrock", 20000, 2e-3),
]


@pytest.mark.parametrize(("spec", "problem", "steps", "tol"), TABLE)
def test_converges_to_known_minimum(
    spec: optim.Optimizer, problem: str, steps: int, tol: float
) -> None:
    if problem == "bowl":
        found = descend(spec, bowl_grad, [0.0, 0.0], steps)
        np.testing.assert_allclose(found, BOWL_MINIMUM, rtol=0, atol=tol)
    else:
        found = descend(spec, rosenbrock_grad, [-1.0, 1.0], steps)
        np.testing.assert_allclose(found, [1.0, 1.0], rtol=0, atol=tol)


def two_steps(spec: optim.Optimizer, p: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Two steps on sum(p ** 2) (gradient 2 p); returns the params after each step."""
    params = (np.array(p),)
    state = optim.init(spec, params)
    after = []
    for _ in range(2):
        updates, state = optim.update(spec, (2 * params[0],), state, params)
        params = optim.apply_updates(params, updates)
        after.append(params[0])
    return after[0], after[1]


def test_sgd_momentum_by_hand() -> None:
    first, second = two_steps(optim.SGD(0.1, momentum=0.9), [1.0, -2.0])
    # g1 = (2, -4); v1 = g1; p1 = p0 - 0.1 v1 = (0.8, -1.6)
    np.testing.assert_allclose(first, [0.8, -1.6], rtol=1e-15)
    # g2 = (1.6, -3.2); v2 = 0.9 v1 + g2 = (3.4, -6.8); p2 = p1 - 0.1 v2 = (0.46, -0.92)
    np.testing.assert_allclose(second, [0.46, -0.92], rtol=1e-15)


def test_sgd_plain_and_nesterov_by_hand() -> None:
    first, _ = two_steps(optim.SGD(0.1), [1.0, -2.0])
    np.testing.assert_allclose(first, [0.8, -1.6], rtol=1e-15)
    # v1 = g1 = (2, -4); update = -0.1 (g1 + 0.9 v1) = (-0.38, 0.76)
    first, _ = two_steps(optim.SGD(0.1, momentum=0.9, nesterov=True), [1.0, -2.0])
    np.testing.assert_allclose(first, [0.62, -1.24], rtol=1e-15)


def test_adam_by_hand_with_bias_correction() -> None:
    spec = optim.Adam(0.1, b1=0.9, b2=0.999, eps=1e-8)
    params = (np.array([3.0]),)
    state = optim.init(spec, params)
    # step 1, g = 6: m = 0.6, v = 0.036; m_hat = 0.6 / 0.1 = 6, v_hat = 0.036 / 0.001 = 36
    updates, state = optim.update(spec, (np.array([6.0]),), state, params)
    assert math.isclose(updates[0][0], -0.1 * 6 / (6 + 1e-8), rel_tol=1e-12)
    np.testing.assert_allclose(state.mu[0], [0.6], rtol=1e-15)
    np.testing.assert_allclose(state.nu[0], [0.036], rtol=1e-15)
    # step 2, g = 2: m = 0.54 + 0.2 = 0.74, v = 0.035964 + 0.004 = 0.039964;
    # m_hat = 0.74 / (1 - 0.9**2) = 0.74 / 0.19, v_hat = 0.039964 / (1 - 0.999**2) = / 0.001999
    updates, state = optim.update(spec, (np.array([2.0]),), state, params)
    expected = -0.1 * (0.74 / 0.19) / (math.sqrt(0.039964 / 0.001999) + 1e-8)
    assert math.isclose(updates[0][0], expected, rel_tol=1e-12)
    assert int(state.count) == 2


def test_adamw_decays_weights_not_biases() -> None:
    spec = optim.AdamW(0.1, weight_decay=0.5)
    params = Layer(w=np.array([[2.0]]), b=np.array([1.0]))
    grads = Layer(w=np.array([[4.0]]), b=np.array([2.0]))
    updates, _ = optim.update(spec, grads, optim.init(spec, params), params)
    adam_step = -0.1 * 1 / (1 + 1e-8 / 4)  # first Adam step: -lr * g / (|g| + eps)
    assert math.isclose(updates.w[0, 0], adam_step - 0.1 * 0.5 * 2.0, rel_tol=1e-12)
    assert math.isclose(updates.b[0], -0.1 * 1 / (1 + 1e-8 / 2), rel_tol=1e-12)


def test_rmsprop_by_hand() -> None:
    spec = optim.RMSProp(0.01, rho=0.9, eps=1e-8)
    params = (np.array([1.0]),)
    updates, state = optim.update(spec, (np.array([2.0]),), optim.init(spec, params), params)
    # v = 0.1 * 4 = 0.4; update = -0.01 * 2 / (sqrt(0.4) + 1e-8)
    assert math.isclose(updates[0][0], -0.02 / (math.sqrt(0.4) + 1e-8), rel_tol=1e-12)
    np.testing.assert_allclose(state.nu[0], [0.4], rtol=1e-15)


ALL_SPECS = [
    optim.SGD(0.1),
    optim.SGD(0.1, momentum=0.9, nesterov=True),
    optim.Adam(0.01),
    optim.AdamW(0.01),
    optim.RMSProp(0.01),
    optim.SGD(InverseTimeDecay(initial=0.1, decay=0.5), momentum=0.5),
]


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_float32_stays_float32_and_update_is_pure(spec: optim.Optimizer) -> None:
    rng = np.random.default_rng(0)
    params = Layer(w=rng.normal(size=(3, 2)).astype(np.float32), b=np.zeros(2, np.float32))
    state = optim.init(spec, params)
    for step in range(3):
        grads = tree_map(lambda p: rng.normal(size=p.shape).astype(np.float32), params)
        before = tree_map(np.copy, (grads, state, params))
        lr = learning_rate(spec.learning_rate, step)
        updates, new_state = optim.update(spec, grads, state, params, learning_rate=lr)
        assert tree_equal((grads, state, params), before)
        assert all(leaf.dtype == np.float32 for leaf in tree_leaves(updates))
        moments = tree_leaves(new_state)[1:]
        assert all(leaf.dtype == np.float32 and not leaf.flags.writeable for leaf in moments)
        assert new_state.count.dtype == np.int64 and int(new_state.count) == step + 1
        params, state = optim.apply_updates(params, updates), new_state
        assert all(leaf.dtype == np.float32 for leaf in tree_leaves(params))


def test_apply_updates_and_sgd_step_keep_dtype() -> None:
    params = (np.ones(2, np.float32),)
    assert optim.apply_updates(params, (np.full(2, 0.5),))[0].dtype == np.float32
    stepped = optim.sgd_step(params, (np.full(2, 2.0, np.float32),), 0.25)
    assert stepped[0].dtype == np.float32
    np.testing.assert_array_equal(stepped[0], [0.5, 0.5])
    np.testing.assert_array_equal(params[0], [1.0, 1.0])


def test_sgd_step_matches_sgd_without_momentum() -> None:
    params = (np.array([1.0, -2.0]),)
    grads = (np.array([0.3, 0.7]),)
    spec = optim.SGD(0.1)
    updates, _ = optim.update(spec, grads, optim.init(spec, params), params)
    assert tree_equal(optim.sgd_step(params, grads, 0.1), optim.apply_updates(params, updates))


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: optim.SGD(-0.1), ValueError),
        (lambda: optim.SGD(0.0), ValueError),
        (lambda: optim.SGD("0.1"), TypeError),
        (lambda: optim.SGD(0.1, momentum=1.0), ValueError),
        (lambda: optim.SGD(0.1, nesterov=True), ValueError),
        (lambda: optim.Adam(b1=1.0), ValueError),
        (lambda: optim.Adam(eps=0.0), ValueError),
        (lambda: optim.AdamW(weight_decay=-1.0), ValueError),
        (lambda: optim.RMSProp(rho=-0.1), ValueError),
    ],
)
def test_invalid_specs_raise(make: Callable[[], object], error: type[Exception]) -> None:
    with pytest.raises(error):
        make()


def test_schedule_needs_explicit_rate_and_state_must_match() -> None:
    params = (np.zeros(2),)
    spec = optim.SGD(InverseTimeDecay(initial=0.1, decay=0.01))
    with pytest.raises(ValueError, match="learning_rate="):
        optim.update(spec, params, optim.init(spec, params), params)
    with pytest.raises(TypeError, match="SGDState is not the state of Adam"):
        optim.update(optim.Adam(), params, optim.init(spec, params), params)


def test_kind_tags() -> None:
    assert set(optim.OPTIMIZERS) == {"sgd", "adam", "adamw", "rmsprop"}
    for kind, cls in optim.OPTIMIZERS.items():
        assert cls.kind == kind


def test_sgd_step_refuses_a_non_finite_or_negative_rate() -> None:
    params = (np.ones(2, np.float32),)
    for lr in (float("nan"), float("inf"), -0.1):
        with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
            optim.sgd_step(params, params, lr)


def test_a_zero_rate_from_a_schedule_is_a_no_op_step() -> None:
    params = (np.ones(2, np.float32),)
    spec = optim.SGD(optim.CosineDecay(initial=0.1, epochs=1))
    state = optim.init(spec, params)
    updates, _ = optim.update(spec, params, state, params, learning_rate=0.0)
    assert not updates[0].any()


@pytest.mark.skipif(not HAS_NUMBA, reason="numba (the fast extra) is not installed")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", KERNEL_SPECS, ids=lambda s: repr(s)[:40])
def test_compiled_update_is_the_flat_updates_bits(spec, dtype):
    # One compiled pass with the flat update's operations in its order: the same bits.
    rule = RULES[type(spec)]
    assert rule.update_kernel is not None

    def buffers():
        rng = np.random.default_rng(1)
        n = 1000
        return Flat(
            params=rng.standard_normal(n).astype(dtype),
            grads=rng.standard_normal(n).astype(dtype),
            moments=[rng.random(n).astype(dtype) for _ in rule.moments(spec)],
            scratch=(np.empty(n, dtype), np.empty(n, dtype)),
            is_weight=rng.random(n) < 0.9,
        )

    flat, compiled = buffers(), buffers()
    for count in range(1, 6):
        rule.update_flat(spec, flat, 0.05, count)
        rule.update_kernel(spec, compiled, 0.05, count)
    assert np.array_equal(flat.params, compiled.params)
    assert all(np.array_equal(a, b) for a, b in zip(flat.moments, compiled.moments, strict=True))
