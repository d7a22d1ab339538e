"""The training step with numba kernels (the `fast` extra): `KernelStep` and `SmallStep`.

`KernelStep` is `FastStep` with the elementwise work between its GEMMs done by the kernels of
`purenet.training.kernels` (bias + activation, output loss and delta, activation derivative
with the bias gradient, the optimizer's one-pass update); the GEMMs stay numpy's BLAS calls
with `out=`. `SmallStep` runs the whole forward and backward pass in one compiled call
(`kernels.small_step`): for batches of a few samples, where a step is mostly call overhead.

Both keep `FastStep`'s contract (see `purenet.training.step`). Their numbers agree with the
pure functions to ~1e-6 relative over 50 steps; the optimizer update and the bias gradients are
bit-identical to the numpy step's, exp/log/tanh and row sums are not (see the kernels module).
`make_step` picks them when numba is installed and `supports_kernels` says yes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from purenet.nn.activations import LEAKY_SLOPE
from purenet.nn.model import Architecture
from purenet.optim.optimizers import RULES
from purenet.training import kernels
from purenet.training.step import Array, FastStep, _labels, supports

SMALL_BATCH = 2
"""Largest batch for which `make_step` prefers `SmallStep`: beyond it, the numpy GEMMs of
`KernelStep` beat the compiled loops (measured on 784-200-10; see the README)."""


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
    """The whole step in one compiled call, for batches of up to ~`SMALL_BATCH` samples."""

    def __init__(self, arch: Architecture, optimizer: Any, **kwargs: Any) -> None:
        super().__init__(arch, optimizer, **kwargs)
        p, g = self._p, self._grads
        self._layers = tuple((p[i], p[i + 1]) for i in range(0, len(p), 2))
        self._grad_layers = tuple((g[i], g[i + 1]) for i in range(0, len(g), 2))
        self._acc = np.empty((self.batch_size, max(arch.sizes[1:])), np.float64)
        self._finite = True
        self._whole = False  # whether the last _forward ran the whole step compiled

    def _forward(self, x: Array, y: Array, m: int) -> tuple[float, int, Array]:
        inputs = self._output_inputs(y, m)
        self._whole = inputs is not None
        if inputs is None:
            return super()._forward(x, y, m)
        value, correct, self._finite = kernels.small_step(
            np.ascontiguousarray(x),
            *inputs,
            self._layers,
            self._grad_layers,
            tuple(a[:m] for a in self._acts),
            tuple(d[:m] for d in self._deltas),
            self._acc[:m],
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
