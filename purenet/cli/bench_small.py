"""`purenet bench`'s small-batch job: per-step times at batch 1 and 10, the tutorials' setting.

The job: 784-200-10, sigmoid hidden and output units, the quadratic cost, SGD at 0.1, inputs
scaled to [0.01, 1.0] and targets 0.01 / 0.99 (`recipes/tutorial-query-class.toml`), on the
first samples of the bench's training set. Contenders, interleaved, after a warm-up each:

- `purenet`: `train(..., batch_size=b)`, the real loop (with the `fast` extra: `SmallStep` at
  batch 1, 512 steps per compiled call, `KernelStep` at 10);
- `purenet-numpy`: the same with `kernels=False`, the numpy step (purenet without the extra);
- `numpy-step`: the plain numpy step a user writes (batch 1: vectors and `np.outer`; batch 10:
  matrices), float32, with a numpy gather;
- `tutorial`: the tutorial's own `train` (column vectors, `np.dot`, float64 weights, no
  biases), batch 1 only;
- `jax-jit`: one jitted JAX step per batch (when jax and optax are installed).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
from scipy import special

from purenet import optim
from purenet.cli.contenders import Timing, version_of
from purenet.data.dataset import Dataset, one_hot
from purenet.nn.model import Architecture, Params, init

SMALL_SIZES = (784, 200, 10)

SMALL_RATE = 0.1

SMALL_BATCHES = ((1, 2000), (10, 1000))
"""(batch size, timed steps) of the small-batch job (`--quick`: 20 steps each)."""


@attrs.frozen
class SmallResult:
    """One contender at one batch size: seconds per step over the repeats."""

    name: str
    batch_size: int
    seconds_per_step: Timing
    steps: int
    version: str


def small_job_data(x: np.ndarray, y: np.ndarray, n: int) -> Dataset:
    """The tutorial's inputs (`x` in [0, 1] -> [0.01, 1.0]) and 0.01 / 0.99 targets."""
    inputs = (x[:n] * np.float32(0.99) + np.float32(0.01)).astype(np.float32)
    return Dataset(inputs, one_hot(y[:n], 10, on=0.99, off=0.01).astype(np.float32))


def _numpy_step(layers: list[np.ndarray], x: np.ndarray, t: np.ndarray, lr: np.float32) -> None:
    """The plain numpy step: forward, backward and update of 784-200-10 sigmoid/MSE."""
    w1, b1, w2, b2 = layers
    if x.ndim == 1:  # one sample: vectors, np.outer for the weight gradients
        h = special.expit(x @ w1 + b1)
        o = special.expit(h @ w2 + b2)
        d2 = (o - t) * o * (1 - o)
        d1 = (w2 @ d2) * h * (1 - h)
        w2 -= lr * np.outer(h, d2)
        b2 -= lr * d2
        w1 -= lr * np.outer(x, d1)
        b1 -= lr * d1
        return
    h = special.expit(x @ w1 + b1)
    o = special.expit(h @ w2 + b2)
    d2 = (o - t) * o * (1 - o) / np.float32(len(x))
    d1 = (d2 @ w2.T) * h * (1 - h)
    w2 -= lr * (h.T @ d2)
    b2 -= lr * d2.sum(axis=0)
    w1 -= lr * (x.T @ d1)
    b1 -= lr * d1.sum(axis=0)


def _tutorial_train(wih: np.ndarray, who: np.ndarray, inputs_list: Any, targets_list: Any) -> None:
    """The tutorial's `neuralNetwork.train`, as written there (learning rate 0.1)."""
    inputs = np.array(inputs_list, ndmin=2).T
    targets = np.array(targets_list, ndmin=2).T
    hidden_outputs = special.expit(np.dot(wih, inputs))
    final_outputs = special.expit(np.dot(who, hidden_outputs))
    output_errors = targets - final_outputs
    hidden_errors = np.dot(who.T, output_errors)
    who += 0.1 * np.dot(
        (output_errors * final_outputs * (1.0 - final_outputs)), np.transpose(hidden_outputs)
    )
    wih += 0.1 * np.dot(
        (hidden_errors * hidden_outputs * (1.0 - hidden_outputs)), np.transpose(inputs)
    )


def _purenet_runner(arch: Architecture, params: Params, kernels: bool | None) -> Callable:
    from purenet.training.loop import train

    def run(data: Dataset, batch_size: int) -> None:
        train(arch, params, optim.SGD(SMALL_RATE), data, epochs=1, batch_size=batch_size,
              seed=0, kernels=kernels)  # fmt: skip

    return run


def _numpy_runner(params: Params) -> Callable:
    def run(data: Dataset, batch_size: int) -> None:
        layers = [np.array(leaf) for p in params for leaf in (p.w, p.b)]
        order = np.random.default_rng((0, 1)).permutation(len(data))
        lr = np.float32(SMALL_RATE)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            if batch_size == 1:
                _numpy_step(layers, data.x[rows[0]], data.y[rows[0]], lr)
            else:
                _numpy_step(layers, data.x[rows], data.y[rows], lr)

    return run


def _tutorial_runner(params: Params) -> Callable:
    def run(data: Dataset, batch_size: int) -> None:
        wih, who = np.array(params[0].w.T, np.float64), np.array(params[1].w.T, np.float64)
        for i in np.random.default_rng((0, 1)).permutation(len(data)):
            _tutorial_train(wih, who, data.x[i], data.y[i])

    return run


def _runners(
    arch: Architecture, params: Params, threads: int
) -> tuple[dict[str, tuple[Callable, str]], list[tuple[str, str]]]:
    purenet = version_of("purenet") or "unknown"
    runners: dict[str, tuple[Callable, str]] = {
        "purenet": (_purenet_runner(arch, params, None), purenet),
        "purenet-numpy": (_purenet_runner(arch, params, False), purenet),
        "numpy-step": (_numpy_runner(params), np.__version__),
        "tutorial": (_tutorial_runner(params), np.__version__),
    }
    skipped = []
    try:
        from purenet.cli.contenders_jax import JaxJit
    except ImportError:
        skipped.append(("jax-jit (small batches)", "jax or optax is not installed"))
    else:
        jitted: dict[int, Any] = {}

        def run_jax(data: Dataset, batch_size: int) -> None:
            if batch_size not in jitted:
                jitted[batch_size] = JaxJit(arch, params, data, threads, SMALL_RATE, 0.0)
            jitted[batch_size].run(1, batch_size)

        runners["jax-jit"] = (run_jax, version_of("jax") or "unknown")
    return runners, skipped


def run_small(
    x: np.ndarray,
    y: np.ndarray,
    *,
    threads: int,
    repeats: int,
    quick: bool,
    progress: Callable[[str], None],
) -> tuple[tuple[SmallResult, ...], list[tuple[str, str]]]:
    """Time the small-batch job: every contender at batch 1 and 10, interleaved.

    Args:
        x: (n, 784) float32 in [0, 1]; y: (n,) int labels (the bench's training set).
        threads: the bench's threads (for JAX); repeats: timed runs per contender.
        quick: 20 steps per batch size.
        progress: called with a short message before each timed run.

    Returns:
        The results in contender order, and `(name, reason)` of contenders skipped.
    """
    arch = Architecture(SMALL_SIZES, hidden="sigmoid", output="sigmoid", loss="mse")
    params = init(arch, seed=0)
    runners, skipped = _runners(arch, params, threads)
    results = []
    for batch_size, steps in SMALL_BATCHES:
        steps = 20 if quick else steps
        data = small_job_data(x, y, min(len(x), steps * batch_size))
        names = [n for n in runners if not (n == "tutorial" and batch_size > 1)]
        runs: dict[str, list[float]] = {name: [] for name in names}
        for name in names:
            progress(f"small batches: warm-up {name}, batch {batch_size}")
            runners[name][0](data, batch_size)
        for r in range(repeats):
            for name in names:
                progress(f"small batches, batch {batch_size}, round {r + 1}/{repeats}: {name}")
                started = time.perf_counter()
                runners[name][0](data, batch_size)
                runs[name].append((time.perf_counter() - started) * batch_size / len(data))
        results += [
            SmallResult(name, batch_size, Timing.of(runs[name]), len(data) // batch_size,
                        runners[name][1])
            for name in names
        ]  # fmt: skip
    return tuple(results), skipped


def small_ratios(results: tuple[SmallResult, ...]) -> dict[str, float]:
    """The issue's small-batch ratios: how many times faster purenet is than each other row."""
    median = {(r.name, r.batch_size): r.seconds_per_step.median for r in results}
    ratios = {}
    for (name, batch), seconds in median.items():
        if name != "purenet" and ("purenet", batch) in median:
            ratios[f"{name} / purenet, batch {batch}"] = seconds / median["purenet", batch]
    return ratios
