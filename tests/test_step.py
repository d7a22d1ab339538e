"""The fused training step against the pure functions it replaces (purenet.step)."""

from __future__ import annotations

import numpy as np
import pytest
from test_optim import KERNEL_SPECS

import purenet as pn
from purenet import optim
from purenet.core.kernel import HAS_NUMBA
from purenet.core.tree import tree_allclose, tree_equal, tree_map
from purenet.errors import MissingExtraError
from purenet.nn.losses import dense_targets
from purenet.nn.model import loss_grad_and_output
from purenet.training.option_step import OptionStep
from purenet.training.select import make_step
from purenet.training.step import FastStep, NonFinite, _is_finite, supports

OPTIMIZERS = KERNEL_SPECS  # every optimizer and its variants, as test_optim.py has them
PAIRS = [
    ("softmax", "cross_entropy"),
    ("sigmoid", "cross_entropy"),
    ("softmax", "mse"),
    ("sigmoid", "mse"),
    ("identity", "mse"),
]


def _pure_run(arch, params, spec, batches, rates, l2):
    """The oracle: value_and_grad + optim.update + optim.apply_updates, step by step."""
    state = optim.init(spec, params)
    losses = []
    for (x, y), lr in zip(batches, rates, strict=True):
        value, grads, _ = loss_grad_and_output(arch, params, x, y, l2=l2)
        updates, state = optim.update(spec, grads, state, params, learning_rate=lr)
        params = optim.apply_updates(params, updates)
        losses.append(value)
    return params, state, losses


def _fast_run(arch, params, spec, batches, rates, l2, batch_size, kernels=False):
    step = make_step(
        arch, spec, batch_size=batch_size, dtype=params[0].w.dtype, l2=l2, kernels=kernels
    )
    step.start(params, optim.init(spec, params))
    losses = [step(x, y, lr)[0] for (x, y), lr in zip(batches, rates, strict=True)]
    return step.params(), step.state(), losses


def _batches(n_in, k, dtype, steps, batch_size, *, targets, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(steps):
        m = batch_size if i % 4 else batch_size // 2 + 1  # some short batches too
        x = rng.normal(size=(m, n_in)).astype(dtype)
        y = rng.integers(0, k, m)
        out.append((x, dense_targets(y, k, np.dtype(dtype)) if targets else y))
    return out


def _relative_error(a, b):
    return max(
        float(np.linalg.norm(np.asarray(p, np.float64) - q) / max(np.linalg.norm(q), 1e-30))
        for p, q in zip(pn.tree_leaves(a), pn.tree_leaves(b), strict=True)
    )


@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: repr(s)[:40])
@pytest.mark.parametrize("hidden", ["relu", "tanh", "silu", "leaky_relu"])
@pytest.mark.parametrize(("output", "loss"), PAIRS)
def test_fast_step_matches_pure_functions_over_50_steps(spec, hidden, output, loss):
    arch = pn.Architecture((12, 16, 8, 5), hidden=hidden, output=output, loss=loss)
    params = pn.init(arch, seed=3)
    # Labels on even steps, one-hot targets on odd ones (both input forms of the loss).
    batches = [
        b if i % 2 else (b[0], dense_targets(b[1], 5, np.dtype(np.float32)))
        for i, b in enumerate(_batches(12, 5, np.float32, 50, 16, targets=False))
    ]
    rates = [0.05 if i < 25 else 0.02 for i in range(50)]  # a schedule changing mid-run
    l2 = 1e-3 if hidden == "relu" else 0.0
    pure_params, pure_state, pure_losses = _pure_run(arch, params, spec, batches, rates, l2)
    fast_params, fast_state, fast_losses = _fast_run(arch, params, spec, batches, rates, l2, 16)
    assert _relative_error(fast_params, pure_params) <= 1e-6
    assert tree_allclose(fast_state, pure_state, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(fast_losses, pure_losses, rtol=1e-6)
    assert int(fast_state.count) == 50


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_canonical_job_is_bit_identical_to_the_pure_path(dtype):
    # Same operations in the same order: on one machine the bits agree, not just the values.
    arch = pn.Architecture((784, 256, 128, 10))
    params = pn.init(arch, seed=0, dtype=dtype)
    spec = optim.SGD(0.05, momentum=0.9)
    batches = _batches(784, 10, dtype, 12, 128, targets=False, seed=1)
    rates = [0.05] * len(batches)
    pure_params, pure_state, pure_losses = _pure_run(arch, params, spec, batches, rates, 0.0)
    fast_params, fast_state, fast_losses = _fast_run(arch, params, spec, batches, rates, 0.0, 128)
    assert tree_equal(fast_params, pure_params)
    assert tree_equal(fast_state, pure_state)
    assert fast_losses == pure_losses
    assert fast_params[0].w.dtype == np.dtype(dtype)


def test_runs_are_bit_identical_run_to_run():
    arch = pn.Architecture((30, 20, 4))
    params = pn.init(arch, seed=1)
    batches = _batches(30, 4, np.float32, 20, 8, targets=False)
    spec = optim.Adam(0.01)
    first = _fast_run(arch, params, spec, batches, [0.01] * 20, 0.0, 8)
    second = _fast_run(arch, params, spec, batches, [0.01] * 20, 0.0, 8)
    assert tree_equal(first[0], second[0]) and tree_equal(first[1], second[1])
    assert first[2] == second[2]


def test_pure_step_is_the_pure_functions():
    arch = pn.Architecture((6, 5, 3), hidden="tanh")
    params = pn.init(arch, seed=2)
    spec = optim.SGD(0.1, momentum=0.5)
    batches = _batches(6, 3, np.float32, 5, 4, targets=False)
    step = OptionStep(arch, spec)
    step.start(params, optim.init(spec, params))
    losses = [step(x, y, 0.1)[0] for x, y in batches]
    expected_params, expected_state, expected_losses = _pure_run(
        arch, params, spec, batches, [0.1] * 5, 0.0
    )
    assert tree_equal(step.params(), expected_params)
    assert tree_equal(step.state(), expected_state)
    assert losses == expected_losses


def test_nothing_the_caller_holds_ever_changes():
    arch = pn.Architecture((8, 6, 3))
    params = pn.init(arch, seed=0)
    spec = optim.SGD(0.1, momentum=0.9)
    state = optim.init(spec, params)
    kept_params, kept_state = tree_map(np.copy, params), tree_map(np.copy, state)
    x = np.random.default_rng(0).normal(size=(4, 8)).astype(np.float32)
    y = np.array([0, 1, 2, 1])
    x_copy, y_copy = x.copy(), y.copy()
    step = make_step(arch, spec, batch_size=4)
    step.start(params, state)
    step(x, y, 0.1)
    handed_out, handed_state = step.params(), step.state()
    snapshot, state_snapshot = tree_map(np.copy, handed_out), tree_map(np.copy, handed_state)
    for _ in range(3):
        step(x, y, 0.1)
    assert tree_equal(params, kept_params) and tree_equal(state, kept_state)
    assert np.array_equal(x, x_copy) and np.array_equal(y, y_copy)
    # Trees handed out earlier keep their values while the step moves on.
    assert tree_equal(handed_out, snapshot) and tree_equal(handed_state, state_snapshot)
    assert not tree_equal(step.params(), snapshot)
    assert not handed_out[0].w.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        handed_out[0].w[0, 0] = 1.0


def test_one_step_by_hand():
    # 1 input, 1 output, identity x mse: z = w x + b, loss = (z - y)^2 / 2, dz = z - y.
    arch = pn.Architecture((1, 1), output="identity", loss="mse")
    params = (pn.Dense(np.array([[2.0]]), np.array([0.5])),)
    spec = optim.SGD(0.1, momentum=0.9)
    step = make_step(arch, spec, batch_size=1, dtype="float64")
    step.start(params, optim.init(spec, params))
    loss, _ = step(np.array([[3.0]]), np.array([[4.0]]), 0.1)
    # z = 6.5, error 2.5: loss 3.125; grad_w = 2.5 * 3 = 7.5, grad_b = 2.5; v = g (v0 = 0).
    assert loss == pytest.approx(3.125)
    new = step.params()[0]
    assert float(new.w[0, 0]) == pytest.approx(2.0 - 0.1 * 7.5)
    assert float(new.b[0]) == pytest.approx(0.5 - 0.1 * 2.5)
    step(np.array([[3.0]]), np.array([[4.0]]), 0.1)
    # Second step: z = 1.25 * 3 + 0.25 = 4.0, error 0, g = 0; v = 0.9 * v.
    assert float(step.params()[0].w[0, 0]) == pytest.approx(1.25 - 0.1 * 0.9 * 7.5)


def test_non_finite_loss_raises_and_changes_nothing():
    arch = pn.Architecture((3, 4, 2))
    params = pn.init(arch, seed=0)
    spec = optim.SGD(0.1, momentum=0.9)
    step = make_step(arch, spec, batch_size=2)
    step.start(params, optim.init(spec, params))
    step(np.ones((2, 3), np.float32), np.array([0, 1]), 0.1)
    before, state_before = step.params(), step.state()
    with np.errstate(invalid="ignore"), pytest.raises(NonFinite, match="loss") as caught:
        step(np.full((2, 3), np.nan, np.float32), np.array([0, 1]), 0.1)
    assert caught.value.what.startswith("loss")
    assert tree_equal(step.params(), before) and tree_equal(step.state(), state_before)


def test_non_finite_gradient_raises_before_the_update():
    # A finite loss with an infinite gradient: huge inputs times a moderate error overflow.
    arch = pn.Architecture((2, 2), output="identity", loss="mse")
    params = (pn.Dense(np.zeros((2, 2), np.float32), np.zeros(2, np.float32)),)
    spec = optim.SGD(0.1)
    step = make_step(arch, spec, batch_size=1)
    step.start(params, optim.init(spec, params))
    x = np.array([[np.float32(3e38), np.float32(3e38)]], np.float32)
    y = np.array([[np.float32(1e3), 0.0]], np.float32)
    # z = 0, loss = 5e5 (finite); grad_w = x^T (z - y) = -3e41: overflows float32 to -inf.
    with np.errstate(over="ignore"), pytest.raises(NonFinite, match="gradient"):
        step(x, y, 0.1)
    assert tree_equal(step.params(), params)
    assert int(step.state().count) == 0


def test_is_finite_is_exact_when_squares_overflow():
    huge = np.full(4, 1e30, np.float32)  # finite values whose squares overflow float32
    with np.errstate(over="ignore"):
        assert _is_finite([huge])
        assert not _is_finite([np.array([1.0, np.inf], np.float32)])
        assert not _is_finite([np.array([np.nan], np.float32)])


def test_supports_and_the_fallback():
    arch = pn.Architecture((2, 3, 2))

    class Custom(optim.SGD):
        """A subclass may change the formulas: it is not fused."""

    assert all(supports(arch, spec) for spec in OPTIMIZERS)
    assert not supports(arch, Custom(0.1))
    assert isinstance(make_step(arch, optim.SGD(0.1), batch_size=4), FastStep)
    assert isinstance(make_step(arch, Custom(0.1), batch_size=4), OptionStep)
    with pytest.raises(ValueError, match="no fused step for Custom"):
        FastStep(arch, Custom(0.1), batch_size=4)


def test_bad_arguments_are_refused_with_what_was_found():
    arch = pn.Architecture((3, 2))
    params = pn.init(arch, seed=0)
    spec = optim.SGD(0.1)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, found 0"):
        make_step(arch, spec, batch_size=0)
    with pytest.raises(ValueError, match="dtype must be float32 or float64, found int32"):
        make_step(arch, spec, batch_size=2, dtype="int32")
    step = make_step(arch, spec, batch_size=2)
    with pytest.raises(RuntimeError, match="start"):
        step(np.ones((2, 3), np.float32), np.array([0, 1]), 0.1)
    with pytest.raises(TypeError, match="AdamState is not the state of SGD"):
        step.start(params, optim.init(optim.Adam(), params))
    with pytest.raises(ValueError, match="dtype float64; the step is float32"):
        step.start(pn.init(arch, seed=0, dtype="float64"), optim.init(spec, params))
    step.start(params, optim.init(spec, params))
    with pytest.raises(ValueError, match=r"x has shape \(3, 3\); the step expects \(m, 3\)"):
        step(np.ones((3, 3), np.float32), np.array([0, 1, 0]), 0.1)
    with pytest.raises(ValueError, match=r"y has shape \(3,\); expected labels \(2,\)"):
        step(np.ones((2, 3), np.float32), np.array([0, 1, 0]), 0.1)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        step(np.ones((2, 3), np.float32), np.array([0, 5]), 0.1)
    with pytest.raises(ValueError, match="learning_rate must be a finite number >= 0"):
        step(np.ones((2, 3), np.float32), np.array([0, 1]), -0.1)
    momentum = optim.SGD(0.1, momentum=0.9)
    wrong = optim.SGDState(np.zeros((), np.int64), pn.init(pn.Architecture((3, 3)), seed=0))
    with pytest.raises(ValueError, match="optimizer state does not fit the params"):
        make_step(arch, momentum, batch_size=2).start(params, wrong)


# The compiled path (numba, the `fast` extra) against the same oracle.

needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="numba (the fast extra) is not installed")
KERNEL_HIDDEN = ["identity", "relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu"]
KERNEL_PAIRS = [p for p in PAIRS if p != ("softmax", "mse")]


def _float64_truth(arch, params, spec, batches, rates, l2):
    """The pure path in float64 from the same start: the reference both float32 paths miss."""
    wide = tree_map(lambda leaf: leaf.astype(np.float64), params)
    wide_batches = [(x.astype(np.float64), y if y.ndim == 1 else y.astype(np.float64))
                    for x, y in batches]  # fmt: skip
    params, _, losses = _pure_run(arch, wide, spec, wide_batches, rates, l2)
    return params, losses


@needs_numba
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("spec", OPTIMIZERS, ids=lambda s: repr(s)[:40])
@pytest.mark.parametrize("hidden", KERNEL_HIDDEN)
@pytest.mark.parametrize(("output", "loss"), KERNEL_PAIRS)
def test_kernel_steps_match_pure_functions_over_50_steps(spec, hidden, output, loss, dtype):
    arch = pn.Architecture((12, 16, 8, 5), hidden=hidden, output=output, loss=loss)
    params = pn.init(arch, seed=3, dtype=dtype)
    # Rates that keep every model on a calm path: where training is chaotic (identity x mse
    # at 0.05 with momentum nearly diverges), any two roundings drift apart, whatever the code.
    rates = [0.01 if i < 25 else 0.005 for i in range(50)]
    l2 = 1e-3 if hidden == "relu" else 0.0
    # Batch 1 in float64 only: in float32 a single sample's loss (identity x mse) differs by
    # up to 1.2e-6 relative, and elu with momentum drifts 1.3e-6 from the pure path, as the
    # pure path itself drifts from float64 (measured; both paths' rounding compounds).
    sizes = ((16, "KernelStep"), (2, "SmallStep")) + ((1, "SmallStep"),) * (dtype == "float64")
    for batch_size, kind in sizes:
        # Labels on even steps, one-hot targets on odd ones (both input forms of the loss).
        batches = [
            b if i % 2 else (b[0], dense_targets(b[1], 5, np.dtype(dtype)))
            for i, b in enumerate(_batches(12, 5, dtype, 50, batch_size, targets=False))
        ]
        step = make_step(arch, spec, batch_size=batch_size, dtype=dtype, l2=l2, kernels=True)
        assert type(step).__name__ == kind
        pure_params, pure_state, pure_losses = _pure_run(arch, params, spec, batches, rates, l2)
        fast_params, fast_state, fast_losses = _fast_run(
            arch, params, spec, batches, rates, l2, batch_size, kernels=True
        )
        loss_error = float(np.max(np.abs(np.subtract(fast_losses, pure_losses)) / pure_losses))
        if _relative_error(fast_params, pure_params) > 1e-6 or loss_error > 1e-6:
            # Where float32 training amplifies rounding past 1e-6, the pure path is not the
            # truth either: the kernel path must then be closer to the float64 run than it.
            assert dtype == "float32", kind
            truth, truth_losses = _float64_truth(arch, params, spec, batches, rates, l2)
            assert _relative_error(fast_params, truth) < _relative_error(pure_params, truth)
            assert (
                np.abs(np.subtract(fast_losses, truth_losses)).sum()
                < np.abs(np.subtract(pure_losses, truth_losses)).sum()
            )
        # Moments are gradient-sized: compared leaf by leaf as a whole (norms), as params.
        assert _relative_error(fast_state, pure_state) <= 1e-5, kind
        assert fast_params[0].w.dtype == np.dtype(dtype) and int(fast_state.count) == 50


@needs_numba
@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_kernel_steps_are_bit_identical_run_to_run(batch_size):
    arch = pn.Architecture((30, 20, 4), hidden="tanh")
    params = pn.init(arch, seed=1)
    batches = _batches(30, 4, np.float32, 20, batch_size, targets=False)
    spec = optim.Adam(0.01)
    first = _fast_run(arch, params, spec, batches, [0.01] * 20, 0.0, batch_size, kernels=True)
    second = _fast_run(arch, params, spec, batches, [0.01] * 20, 0.0, batch_size, kernels=True)
    assert tree_equal(first[0], second[0]) and tree_equal(first[1], second[1])
    assert first[2] == second[2]


@needs_numba
def test_kernel_update_and_bias_sums_are_the_numpy_steps_bits():
    # ReLU / sigmoid-MSE touch no exp or row sum before the output: the canonical shapes'
    # GEMMs, bias sums and momentum update are the numpy step's operations, bit for bit.
    arch = pn.Architecture((64, 32, 16, 4), output="sigmoid", loss="mse")
    params = pn.init(arch, seed=0)
    spec = optim.SGD(0.05, momentum=0.9)
    batches = _batches(64, 4, np.float32, 12, 32, targets=True, seed=1)
    rates = [0.05] * len(batches)
    numpy_run = _fast_run(arch, params, spec, batches, rates, 0.0, 32, kernels=False)
    kernel_run = _fast_run(arch, params, spec, batches, rates, 0.0, 32, kernels=True)
    assert tree_equal(kernel_run[0], numpy_run[0]) and tree_equal(kernel_run[1], numpy_run[1])


def test_make_step_picks_the_path_the_model_allows():
    arch = pn.Architecture((4, 3, 2))
    numpy_step = make_step(arch, optim.SGD(0.1), batch_size=8, kernels=False)
    assert type(numpy_step) is FastStep and not numpy_step.uses_kernels
    silu = pn.Architecture((4, 3, 2), hidden="silu")
    assert type(make_step(silu, optim.SGD(0.1), batch_size=8)) is FastStep
    if not HAS_NUMBA:
        with pytest.raises(MissingExtraError, match=r"purenet\[fast\]"):
            make_step(arch, optim.SGD(0.1), batch_size=8, kernels=True)
        return
    assert type(make_step(arch, optim.SGD(0.1), batch_size=8)).__name__ == "KernelStep"
    assert type(make_step(arch, optim.SGD(0.1), batch_size=1)).__name__ == "SmallStep"
    with pytest.raises(ValueError, match="no kernels for silu hidden layers"):
        make_step(silu, optim.SGD(0.1), batch_size=8, kernels=True)
    # Features the fast paths do not compute fall back to the pure functions, kernels or not.
    for other in (
        pn.Architecture((4, 3, 2), dropout=0.5),
        pn.Architecture((4, 3, 3, 2), hidden=("relu", "tanh")),
        pn.Architecture((4, 3, 2), bias=False),
    ):
        assert type(make_step(other, optim.SGD(0.1), batch_size=1)) is OptionStep
