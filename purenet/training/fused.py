"""The training step with numba kernels (the `fast` extra): `KernelStep` and `SmallStep`.

`KernelStep` is `FastStep` with the elementwise work between its GEMMs done by the kernels of
`purenet.training.kernels` (bias + activation, output loss and delta, activation derivative
with the bias gradient, the optimizer's one-pass update); the GEMMs stay numpy's BLAS calls
with `out=`. `SmallStep` runs the whole forward and backward pass in one compiled call
(`kernels_small.small_step`): for batches of a few samples, where a step is mostly call overhead;
with SGD or RMSProp the update too, and `run_steps` runs many steps (an epoch, or a chunk of
one) in one call, as JAX's `lax.scan` does (`kernels_small.small_steps`).

Both keep `FastStep`'s contract (see `purenet.training.step`). Their numbers agree with the
pure functions to ~1e-6 relative over 50 steps; the optimizer update and the bias gradients are
bit-identical to the numpy step's, exp/log/tanh and row sums are not (see the kernels module).
`make_step` picks them when numba is installed and `supports_kernels` says yes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from purenet.core.checks import NON_NEGATIVE
from purenet.nn.activations import LEAKY_SLOPE
from purenet.nn.model import Architecture
from purenet.optim.optimizers import RULES
from purenet.training import kernels, kernels_small
from purenet.training.step import Array, FastStep, NonFinite, _labels, supports

SMALL_BATCH = 2
"""Largest batch for which `make_step` prefers `SmallStep`. Measured on 784-200-10 (train, SGD,
us per step): MNIST in [0, 1] (80% zeros, which the loops skip) 70 against `KernelStep`'s 86 at
batch 2, 96 against 98 at 4; dense inputs (the tutorials' [0.01, 1]) 101 against 80 at 2."""


def supports_kernels(arch: Architecture, optimizer: Any) -> bool:
    """True when the kernels compute this model and optimizer (else the numpy step runs).

    The model must fit the numpy step (`purenet.training.step.supports`), the hidden
    activation be one of `kernels.ACTIVATION_CODES`, the output x loss one of
    `kernels.OUTPUT_CODES` with at least two outputs, and the optimizer a registered one with a
    compiled update (`Rule.update_kernel`).
    """
    rule = RULES.get(type(optimizer))
    return (
        supports(arch, optimizer)  # what the numpy step assumes (no dropout, biases, ...)
        and rule is not None
        and rule.update_kernel is not None
        and arch.hidden in kernels.ACTIVATION_CODES
        and (arch.output, arch.loss) in kernels.OUTPUT_CODES
        and arch.sizes[-1] >= 2
    )


class KernelStep(FastStep):
    """`FastStep` with its elementwise passes compiled (module docstring). Build with
    `make_step`."""

    uses_kernels = True

    def __init__(self, arch: Architecture, optimizer: Any, **kwargs: Any) -> None:
        super().__init__(arch, optimizer, **kwargs)
        if not supports_kernels(arch, optimizer) or not isinstance(arch.hidden, str):
            raise ValueError(f"no kernels for {arch} with {type(optimizer).__name__}")
        one = self.dtype.type
        self._code = kernels.ACTIVATION_CODES[arch.hidden]
        self._pair_code = kernels.OUTPUT_CODES[arch.output, arch.loss]
        self._one, self._slope, self._l2 = one(1), one(LEAKY_SLOPE), one(self.l2)
        k = arch.sizes[-1]
        self._targets = np.zeros((self.batch_size, k), self.dtype)
        self._no_labels = np.zeros(self.batch_size, np.int64)
        self._scalar_cache: dict[int, Array] = {}
        self.runs_steps = self.l2 == 0  # the loop's totals take the penalty as 0
        self._batch_buffers_by: dict[Any, tuple[Array, Array, Array]] = {}

    def accepts(self, y: Array) -> bool:
        """Whether `run_steps` takes these targets: labels, or targets of the output's width."""
        return y.ndim == 1 or y.shape[1:] == (self.arch.sizes[-1],)

    def run_steps(
        self, x: Array, y: Array, order: Array, first: int, lr: float, losses: Array,
        correct: Array,
    ) -> tuple[int, str | None]:  # fmt: skip
        """Run `len(losses)` steps, batch `first + s` for step s: the same bits as `__call__`
        on the same batches, its checks made once, each batch gathered by `kernels.gather`
        (which prefetches the next) into buffers of the step.

        Args:
            x: (n, sizes[0]) inputs of the step's dtype, C order; y: (n,) labels or (n, k)
                targets (`accepts(y)`).
            order: (n,) int64, the epoch's sample order: batch b is
                `order[b * batch_size :][:batch_size]`, the last one shorter.
            first: the first batch's number; lr: the rate of every step, >= 0.
            losses, correct: (steps,) float64 and int64, written per step (the loss before
                the step, the samples right).

        Returns:
            `(done, fault)`: the steps taken, and None, or for the step after them what was not
            finite (`NonFinite.what`); nothing of that step applied.

        Raises:
            ValueError: x, y or lr that `__call__` refuses.
        """
        if len(losses):  # the checks of a call, on the first row of each
            self._checked(x[:1], y[:1], lr)
        rate = NON_NEGATIVE.check("learning_rate", lr)
        size = self.batch_size
        buffers = self._batch_buffers(y)
        for s in range(len(losses)):
            start = (first + s) * size
            rows = order[start : start + size]
            m = len(rows)
            kernels.gather(x, rows, buffers[0][:m], order[start + size : start + 2 * size])
            kernels.gather(y.reshape(len(y), -1), rows, buffers[1][:m], None)
            try:
                losses[s], correct[s] = self._step(buffers[0][:m], buffers[2][:m], rate)
            except NonFinite as fault:
                return s, fault.what
        return len(losses), None

    def _batch_buffers(self, y: Array) -> tuple[Array, Array, Array]:
        """`(x, y as 2-D, y)` batch buffers for `run_steps`, kept per kind of `y`."""
        key = (y.dtype, y.shape[1:])
        if key not in self._batch_buffers_by:
            y_batch = np.empty((self.batch_size, *y.shape[1:]), y.dtype)
            x_batch = np.empty((self.batch_size, self.arch.sizes[0]), self.dtype)
            self._batch_buffers_by[key] = (x_batch, y_batch.reshape(len(y_batch), -1), y_batch)
        return self._batch_buffers_by[key]

    def _scalars(self, m: int) -> Array:
        """`(1, m, 1 / m, leaky slope)` in the step's dtype, for the kernels (kept per m)."""
        scalars = self._scalar_cache.get(m)
        if scalars is None:
            scalars = self._scalar_cache[m] = np.array([1, m, 1 / m, LEAKY_SLOPE], self.dtype)
        return scalars

    def _output_inputs(self, y: Array, m: int) -> tuple[Array, Array] | None:
        """(labels, targets) for the output kernel, or None when the numpy step must do it."""
        k = self.arch.sizes[-1]
        if self._pair_code == 0:
            if y.ndim != 1:
                return None  # softmax cross-entropy on soft targets: the numpy path
            return _labels(y, k), self._targets[:m]
        targets = self._targets[:m]
        if y.ndim == 1:
            labels = _labels(y, k)
            targets.fill(0)
            targets[np.arange(m), labels] = 1
        elif y.shape[1] != k:
            return None  # the numpy path raises the shape error
        else:
            np.copyto(targets, y)
        return self._no_labels[:m], targets

    def _bias_activation(self, i: int, h: Array, m: int) -> None:
        kernels.bias_activation(h, self._p[2 * i + 1], self._code, self._one, self._slope)

    def _output_layer(self, z: Array, y: Array, m: int) -> tuple[float, int, Array]:
        inputs = self._output_inputs(y, m)
        if inputs is None:
            return super()._output_layer(z, y, m)
        delta = self._deltas[-1][:m]
        value, correct = kernels.output_delta(
            z, self._p[-1], *inputs, delta, self._pair_code, self._scalars(m)
        )
        return value, correct, delta

    def _bias_grad(self, i: int, delta: Array) -> None:
        if i == len(self._acts) - 1:
            kernels.bias_grad(delta, self._grads[2 * i + 1])
        # Hidden layers: summed by `_derivative`, in the same pass as the delta.

    def _derivative(self, i: int, delta: Array, m: int) -> None:
        kernels.derivative_bias_grad(
            delta, self._acts[i][:m], self._code, self._one, self._slope, self._grads[2 * i + 1]
        )

    def _apply_update(self, rate: float) -> None:
        update = self._rule.update_kernel
        assert update is not None  # supports_kernels checked it
        update(self.optimizer, self._buffers, rate, self._count)


class SmallStep(KernelStep):
    """The whole step in one compiled call, for batches of up to ~`SMALL_BATCH` samples.

    With SGD or RMSProp and no l2, the call includes the optimizer's update
    (`kernels_small.small_steps`), and `run_steps` runs many steps, gathering each batch, in one
    call: a step and `run_steps` compute the same bits. Otherwise (Adam, l2) the compiled
    forward and backward is followed by the usual update, and `run_steps` is `KernelStep`'s.
    """

    def __init__(self, arch: Architecture, optimizer: Any, **kwargs: Any) -> None:
        super().__init__(arch, optimizer, **kwargs)
        p, g = self._p, self._grads
        widest, k = max(arch.sizes[1:]), arch.sizes[-1]
        self._layers = _pairs(p)
        self._grad_layers = _pairs(g)
        self._scratch = (np.empty(widest, np.float64), np.empty(max(arch.sizes[:-1]), np.int64))
        self._finite = True
        self._whole = False  # whether the last _forward ran the whole step compiled
        self._fuses = type(optimizer) in kernels_small.FUSED_UPDATES and self.l2 == 0
        mode = kernels_small.update_mode(optimizer) if self._fuses else -1
        self._codes = (self._code, self._pair_code, mode)
        moment = self._buffers.moments[0] if self._moments else self._flat_p  # SGD, mu 0
        self._net = (self._layers, self._grad_layers, (self._flat_p, self._flat_grads, moment))
        self._work = (tuple(self._acts), tuple(self._deltas), self._scratch)
        self._batch_work = (
            np.empty((self.batch_size, arch.sizes[0]), self.dtype),
            np.empty(self.batch_size, np.int64),
            self._targets,
        )
        self._no_targets = np.zeros((0, k), self.dtype)
        self._order = np.arange(self.batch_size)
        self._one_loss = (np.zeros(1), np.zeros(1, np.int64))

    def __call__(self, x: Array, y: Array, lr: float) -> tuple[float, int]:
        if not self._fuses:
            return super().__call__(x, y, lr)
        x, y, rate = self._checked(x, y, lr)
        data = self._data(x, y)
        if data is None:  # soft targets for softmax, or a shape the numpy path reports
            return super().__call__(x, y, lr)
        losses, correct = self._one_loss
        m = x.shape[0]
        _, fault = self._run(data, self._order[:m], 0, m, rate, losses, correct)
        if fault is not None:
            raise NonFinite(fault)
        return float(losses[0]), int(correct[0])

    def run_steps(
        self, x: Array, y: Array, order: Array, first: int, lr: float, losses: Array,
        correct: Array,
    ) -> tuple[int, str | None]:  # fmt: skip
        """`KernelStep.run_steps` in one compiled call (with SGD or RMSProp, no l2, labels or
        targets the compiled output takes; else `KernelStep`'s)."""
        if len(losses):  # the checks of a call, on the first row of each
            self._checked(x[:1], y[:1], lr)
        data = self._data(x, y) if self._fuses else None
        if data is None:
            return super().run_steps(x, y, order, first, lr, losses, correct)
        rate = NON_NEGATIVE.check("learning_rate", lr)
        return self._run(data, order, first, self.batch_size, rate, losses, correct)

    def _data(self, x: Array, y: Array) -> tuple[Array, Array, Array] | None:
        """`(x, labels, targets)` for `kernels_small.small_steps`, or None where it cannot."""
        if not (y.ndim == 1 or (self._pair_code != 0 and self.accepts(y))):
            return None
        k = self.arch.sizes[-1]
        if y.ndim == 1:
            labels = np.asarray(_labels(y, k), np.int64)
            return np.ascontiguousarray(x), labels, self._no_targets
        no_labels = self._no_labels[:0]
        return np.ascontiguousarray(x), no_labels, np.ascontiguousarray(y, self.dtype)

    def _run(
        self, data: tuple[Array, Array, Array], order: Array, first: int, batch: int,
        rate: float, losses: Array, correct: Array,
    ) -> tuple[int, str | None]:  # fmt: skip
        done, fault = kernels_small.small_steps(
            data, order, first, batch, losses, correct, self._net, self._work,
            self._batch_work, self._codes, self._scalars(batch),
            kernels_small.update_scalars(self.optimizer, rate, self.dtype),
        )  # fmt: skip
        self._count += done
        if fault == 0:
            return done, None
        return done, f"loss ({losses[done]})" if fault == 1 else "gradient"

    def _forward(self, x: Array, y: Array, m: int) -> tuple[float, int, Array]:
        inputs = self._output_inputs(y, m)
        self._whole = inputs is not None
        if inputs is None:
            return super()._forward(x, y, m)
        value, correct, self._finite = kernels_small.small_step(
            np.ascontiguousarray(x),
            *inputs,
            self._layers,
            self._grad_layers,
            tuple(self._acts),
            tuple(self._deltas),
            self._scratch,
            self._code,
            self._pair_code,
            self._scalars(m),
            self._l2,
        )
        return value, correct, self._deltas[-1][:m]

    def _backward(self, x: Array, delta: Array, m: int) -> None:
        if not self._whole:
            super()._backward(x, delta, m)

    def _grads_finite(self) -> bool:
        return self._finite if self._whole else super()._grads_finite()


def _pairs(leaves: list[Array]) -> tuple[tuple[Array, Array], ...]:
    """Per layer `(w, b)` from the flat list of leaves `[w0, b0, w1, b1, ...]`."""
    return tuple((leaves[i], leaves[i + 1]) for i in range(0, len(leaves), 2))
