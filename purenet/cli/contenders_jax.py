"""JAX + optax contenders for `purenet bench`, when both are installed.

- `jax-scan`: one jitted step inside `lax.scan` over the epoch's batches (the gather inside
  XLA too), the way a performance-minded JAX user writes it;
- `jax-jit`: one jitted step per batch, the batch gathered with numpy.

Both start from the job's initial weights, shuffle with the same `(seed, epoch)` permutation
and use `optax.sgd(learning_rate, momentum)` (the PyTorch convention, as purenet's `SGD`).
XLA sizes its CPU thread pool by the CPUs the creating thread may run on: with `--threads N`
below the machine's CPUs, the JAX backend is created while this thread's affinity is N CPUs
(then restored), so XLA runs N threads like the other contenders. `XLA_FLAGS` alone does not do
it (measured: `--xla_cpu_multi_thread_eigen=false` still used two cores, CPU time 1.8x wall).
Both work only if jax's CPU backend was not created before in the process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from purenet.data.dataset import Dataset
from purenet.nn.model import Architecture, Params

ONE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def _import_jax(threads: int) -> tuple[Any, Any]:
    """(jax, optax), with XLA's CPU backend created for `threads` threads (module docstring)."""
    fresh = "jax" not in sys.modules
    if threads == 1 and fresh:
        os.environ.setdefault("XLA_FLAGS", ONE_THREAD_FLAGS)
    import jax
    import optax  # type: ignore[import-untyped]

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if fresh and threads < len(cpus):
        os.sched_setaffinity(0, cpus[:threads])
        try:
            jax.devices("cpu")  # creates the backend and its thread pool
        finally:
            os.sched_setaffinity(0, cpus)
    return jax, optax


def jax_step(jax: Any, optax: Any, arch: Architecture, optimizer: Any) -> Callable[..., Any]:
    """`step(params, state, x, y) -> (params, state, loss, n_correct)` for `arch`, in JAX.

    `params` is a list of `(w, b)`; `y` int labels (softmax cross-entropy) or targets (MSE,
    purenet's `0.5 * sum((a - y)**2) / m`). Hidden and output: relu/sigmoid and
    softmax/sigmoid, the two jobs of the bench.
    """
    jnp = jax.numpy
    hidden = jax.nn.relu if arch.hidden == "relu" else jax.nn.sigmoid

    def loss_fn(params: Any, x: Any, y: Any) -> tuple[Any, Any]:
        a = x
        for w, b in params[:-1]:
            a = hidden(a @ w + b)
        z = a @ params[-1][0] + params[-1][1]
        if arch.loss == "cross_entropy":
            return optax.softmax_cross_entropy_with_integer_labels(z, y).mean(), z
        out = jax.nn.sigmoid(z)
        return 0.5 * jnp.sum((out - y) ** 2) / x.shape[0], out

    def step(params: Any, state: Any, x: Any, y: Any) -> tuple[Any, Any, Any, Any]:
        (loss, out), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, x, y)
        updates, state = optimizer.update(grads, state, params)
        labels = y if y.ndim == 1 else y.argmax(axis=1)
        correct = jnp.sum(out.argmax(axis=1) == labels)
        return optax.apply_updates(params, updates), state, loss, correct

    return step


def jax_params(jax: Any, params: Params) -> list[tuple[Any, Any]]:
    """The job's initial weights as JAX arrays (copies)."""
    return [(jax.numpy.asarray(np.array(p.w)), jax.numpy.asarray(np.array(p.b))) for p in params]


class JaxScan:
    """`jax-scan`: the epoch as one jitted `lax.scan` over full batches, plus the short tail."""

    name = "jax-scan"
    scaled_to_epoch = False

    def __init__(
        self, arch: Architecture, params: Params, data: Dataset, threads: int, lr: float, mu: float
    ) -> None:
        jax, optax = _import_jax(threads)
        self.jax, self.threads, self.batch = jax, threads, 0
        self.version = f"jax {jax.__version__}, optax {optax.__version__}"
        self.timed_samples = len(data)
        self.x, self.y = jax.device_put(data.x), jax.device_put(data.y.astype(np.int32))
        self.params = jax_params(jax, params)
        self.optimizer = optax.sgd(lr, momentum=mu)
        step = jax_step(jax, optax, arch, self.optimizer)

        def epoch(params: Any, state: Any, x: Any, y: Any, index: Any) -> tuple[Any, Any, Any]:
            def body(carry: Any, rows: Any) -> tuple[Any, Any]:
                params, state, loss, _ = step(*carry, x[rows], y[rows])
                return (params, state), loss

            (params, state), losses = jax.lax.scan(body, (params, state), index)
            return params, state, losses

        self.epoch = jax.jit(epoch)
        self.tail = jax.jit(lambda p, s, x, y, rows: step(p, s, x[rows], y[rows])[:2])

    def run(self, epochs: int, batch_size: int = 128) -> float:
        params, state = self.params, self.optimizer.init(self.params)
        n = self.x.shape[0]
        full = n // batch_size * batch_size
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng((0, epoch)).permutation(n).astype(np.int32)
            index = order[:full].reshape(-1, batch_size)
            params, state, _ = self.epoch(params, state, self.x, self.y, index)
            if full < n:
                params, state = self.tail(params, state, self.x, self.y, order[full:])
        self.jax.block_until_ready(params)
        return (time.perf_counter() - started) / epochs


class JaxJit:
    """`jax-jit`: one jitted step per batch, batches gathered with numpy and sent each step."""

    name = "jax-jit"
    scaled_to_epoch = False

    def __init__(
        self, arch: Architecture, params: Params, data: Dataset, threads: int, lr: float, mu: float
    ) -> None:
        jax, optax = _import_jax(threads)
        self.jax, self.threads = jax, threads
        self.version = f"jax {jax.__version__}, optax {optax.__version__}"
        self.timed_samples = len(data)
        self.x = data.x
        self.y = data.y if data.y.ndim == 2 else data.y.astype(np.int32)
        self.params = jax_params(jax, params)
        self.optimizer = optax.sgd(lr, momentum=mu) if mu else optax.sgd(lr)
        self.step = jax.jit(jax_step(jax, optax, arch, self.optimizer))

    def run(self, epochs: int, batch_size: int = 128) -> float:
        params, state = self.params, self.optimizer.init(self.params)
        n = len(self.x)
        started = time.perf_counter()
        for epoch in range(1, epochs + 1):
            order = np.random.default_rng((0, epoch)).permutation(n)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                params, state, _, _ = self.step(params, state, self.x[rows], self.y[rows])
        self.jax.block_until_ready(params)
        return (time.perf_counter() - started) / epochs
