"""Training steps for the loop: a fused, workspace-reusing step and the pure one it replaces.

`make_step(arch, optimizer, batch_size=..., dtype=..., l2=...)` (`purenet.training.select`)
returns a `TrainStep`, an object the training loop drives as a session:

    step.start(params, state)            # copies them in; the caller's trees are never written
    loss, n_correct = step(x, y, lr)     # one optimizer step per batch
    params, state = step.params(), step.state()   # fresh read-only trees, whenever needed

For the optimizers and models it `supports` (SGD with or without (Nesterov) momentum, Adam,
AdamW and RMSProp; every hidden activation and every output x loss pair), it is a `FastStep`:
the same float operations, in the same order, as `value_and_grad` + `optim.update` +
`optim.apply_updates` (so the same bits wherever the BLAS is deterministic), done in buffers the
step allocated once: activations, deltas, gradients, scratch arrays, and its own working copy
of the parameters and optimizer moments, which it updates in place. Nothing is allocated per
batch. Otherwise it is an `OptionStep` (training.option_step), which calls those pure functions.

The contract, for both:

- `start` copies (`FastStep`) or keeps (`OptionStep`, whose trees are immutable) the params and
  state; no array a caller holds is ever written.
- `step(x, y, lr)` reads `x` and `y` only during the call and keeps no reference to them (they
  may be buffers the caller refills). It returns the batch's loss before the step (a float,
  with the l2 penalty) and the number of samples whose label predicted by that same forward
  pass equals `labels_of(y)`.
- A non-finite loss or gradient raises `NonFinite` before anything changes: the step still
  holds the params and state from before that batch.
- `params()` and `state()` return trees that nothing will change later (`FastStep`: copies of
  its working buffers, so call them at epoch ends, for checkpoints or callbacks, not per batch).

Example:
    >>> import numpy as np, purenet as pn
    >>> from purenet import optim
    >>> from purenet.training.select import make_step
    >>> arch = pn.Architecture((4, 8, 3))
    >>> params, spec = pn.init(arch, seed=0), optim.SGD(0.1, momentum=0.9)
    >>> step = make_step(arch, spec, batch_size=2)
    >>> step.start(params, optim.init(spec, params))
    >>> loss, n_correct = step(np.ones((2, 4), np.float32), np.array([0, 2]), 0.1)
    >>> int(step.state().count), step.params()[0].w.flags.writeable
    (1, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol, cast

import numpy as np
from numpy.typing import DTypeLike

from purenet import optim
from purenet.core.checks import COUNT, NON_NEGATIVE, check_all, float_dtype
from purenet.core.tree import tree_leaves
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.losses import LOSSES, check_labels
from purenet.nn.model import (
    Architecture,
    Dense,
    Params,
    check_params,
    labels_of,
)
from purenet.optim.base import Flat
from purenet.optim.optimizers import RULES, make_state, state_moments

Array = np.ndarray

STEP_CONSTRAINTS = {"batch_size": COUNT, "l2": NON_NEGATIVE}
"""The rules of the step's (and the loop's) size and penalty arguments."""


class NonFinite(Exception):
    """The batch gave a non-finite loss or gradient; `what` names which (`"loss (nan)"`)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class TrainStep(Protocol):
    """What the training loop drives: `start`, then one call per batch, then `params`/`state`."""

    uses_kernels: bool
    """Whether the step runs numba kernels (then the loop gathers batches with one too)."""

    def start(self, params: Params, state: Any) -> None:
        """Begin from `params` and optimizer `state` (not written, not kept mutable)."""
        ...

    def __call__(self, x: Array, y: Array, lr: float) -> tuple[float, int]:
        """One step on the batch `(x, y)` at rate `lr`: `(loss before the step, n_correct)`."""
        ...

    def params(self) -> Params:
        """The current parameters, as a tree that never changes."""
        ...

    def param_value(self, layer: int, field: str, index: tuple[int, ...]) -> float:
        """One current parameter, e.g. `(0, "w", (3, 2))`, read without copying the tree."""
        ...

    def state(self) -> Any:
        """The current optimizer state, as a tree that never changes."""
        ...


def supports(arch: Architecture, optimizer: Any) -> bool:
    """True when `make_step` gives a fused `FastStep` for this architecture and optimizer.

    Args:
        arch: the architecture (every registered activation and output x loss pair is fused).
        optimizer: an optimizer spec; every optimizer of `purenet.optim.optimizers.RULES` (each
            carries its in-place flat update) is fused; any other type (subclasses too, whose
            formulas may differ) gets an `OptionStep`.

    Returns:
        Whether the step is fused.

    Example:
        >>> import purenet as pn
        >>> from purenet import optim
        >>> supports(pn.Architecture((2, 3, 2)), optim.Adam())
        True
    """
    # One activation for every hidden layer, every layer with a bias, no dropout and the
    # default Huber threshold: the buffers and kernels assume those; anything else is pure.
    return (
        type(optimizer) in RULES
        and isinstance(arch.hidden, str)
        and arch.hidden in ACTIVATIONS
        and (arch.output, arch.loss) in LOSSES
        and all(arch.has_bias)
        and not any(arch.dropout_rates)
        and arch.input_dropout == 0.0
        and arch.huber_delta == 1.0
    )


def _is_finite(arrays: list[Array]) -> bool:
    """True when every value is finite; exact, with a fast path for the common case."""
    # A finite sum of squares (one BLAS dot per array) proves every value finite; only when it
    # is not (a NaN or Inf, or finite values whose squares overflow) is every value looked at.
    if math.isfinite(sum(float(np.dot(a, a)) for a in arrays)):
        return True
    return all(bool(np.isfinite(a).all()) for a in arrays)


def _labels(y: Array, k: int) -> Array:
    # Two bare reductions; check_labels (and its message) only when they find a fault.
    if y.dtype.kind in "iu" and np.minimum.reduce(y) >= 0 and np.maximum.reduce(y) < k:
        return y
    return check_labels(y, k)


def _flat(shapes: Sequence[tuple[int, ...]], dtype: np.dtype) -> tuple[Array, list[Array]]:
    """One flat buffer and a C-contiguous view of it for each shape, in order."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    flat = np.empty(sum(sizes), dtype)
    ends = np.cumsum(sizes)
    views = [
        flat[end - size : end].reshape(shape)
        for shape, size, end in zip(shapes, sizes, ends, strict=True)
    ]
    return flat, views


def _layers(leaves: list[Array]) -> Params:
    # Dense's converter makes read-only views; the copies are reachable only through them.
    return tuple(Dense(leaves[i].copy(), leaves[i + 1].copy()) for i in range(0, len(leaves), 2))


class FastStep:
    """The fused step: the pure functions' numbers with no allocation per batch (module docstring).

    Build it with `make_step`. Not thread-safe: the workspaces are shared between calls.
    """

    uses_kernels = False
    runs_steps = False
    """Whether the step has `run_steps(x, y, order, first, lr, losses, correct)`: many steps
    per call, the loop's way through plain epochs (`purenet.training.fused.KernelStep`)."""

    def __init__(
        self,
        arch: Architecture,
        optimizer: optim.Optimizer,
        *,
        batch_size: int,
        dtype: DTypeLike = "float32",
        l2: float = 0.0,
    ) -> None:
        if not supports(arch, optimizer):
            raise ValueError(
                f"no fused step for {type(optimizer).__name__}; fused optimizers: "
                f"{', '.join(t.__name__ for t in RULES)} (make_step falls back to OptionStep)"
            )
        check_all(STEP_CONSTRAINTS, {"batch_size": batch_size, "l2": l2})
        resolved = float_dtype(dtype)
        self.arch, self.optimizer, self._rule = arch, optimizer, RULES[type(optimizer)]
        self.batch_size, self.dtype, self.l2 = int(batch_size), resolved, float(l2)
        self._hidden = ACTIVATIONS[cast(str, arch.hidden)]  # supports(): one name for all
        self._output = OUTPUTS[arch.output]
        self._pair = LOSSES[arch.output, arch.loss]
        self._softmax_ce = (arch.output, arch.loss) == ("softmax", "cross_entropy")
        self._is_relu = arch.hidden == "relu"

        shapes = [
            s for fan_in, fan_out in arch.layer_shapes for s in ((fan_in, fan_out), (fan_out,))
        ]
        widths = arch.sizes[1:]
        rows = batch_size
        # Workspaces: layer outputs, pre-activations (for derivatives that need z), deltas,
        # ReLU masks, one column, gradients and two scratch arrays per parameter.
        self._acts = [np.empty((rows, n), resolved) for n in widths]
        uses_input = self._hidden.uses_input
        self._pre = [np.empty((rows, n) if uses_input else 0, resolved) for n in widths[:-1]]
        self._deltas = [np.empty((rows, n), resolved) for n in widths]
        self._masks = [np.empty((rows, n) if self._is_relu else 0, np.bool_) for n in widths[:-1]]
        # ReLU as np.maximum against an array of zeros: the same values as against the scalar 0
        # (the registry's form), through numpy's vectorized two-array loop, 5x faster.
        self._zeros = [np.zeros((rows, n) if self._is_relu else 0, resolved) for n in widths[:-1]]
        self._column = np.empty((rows, 1), resolved)
        self._logits_t = np.empty(rows * arch.sizes[-1], resolved)
        self._rows = np.arange(rows)
        # Each parameter-shaped set is one flat array with a view per leaf, so the optimizer
        # runs a handful of whole-network operations instead of a handful per leaf.
        self._flat_grads, self._grads = _flat(shapes, resolved)
        self._flat_tmp, self._tmp = _flat(shapes, resolved)
        tmp2 = _flat(shapes, resolved)[0] if self._rule.scratch > 1 else self._flat_tmp
        # The working copy of the params and moments, updated in place by every step.
        self._flat_p, self._p = _flat(shapes, resolved)
        moments = [_flat(shapes, resolved) for _ in self._rule.moments(optimizer)]
        self._moments = [leaves for _, leaves in moments]
        is_weight = np.concatenate([np.full(int(np.prod(s)), len(s) >= 2) for s in shapes])
        self._buffers = Flat(
            params=self._flat_p,
            grads=self._flat_grads,
            moments=[flat for flat, _ in moments],
            scratch=(self._flat_tmp, tmp2),
            is_weight=is_weight,
        )
        self._count = 0
        self._started = False
        self.penalty = 0.0  # the l2 penalty included in the last call's loss

    def start(self, params: Params, state: Any) -> None:
        """Copy `params` and the optimizer `state` into the step's working buffers.

        Args:
            params: parameters fitting `arch`, of the step's dtype.
            state: their optimizer state (from `optim.init` or a previous run).

        Raises:
            ValueError: params or moments of the wrong shapes or dtype.
            TypeError: a state of another optimizer.
        """
        check_params(self.arch, params)
        if params[0].w.dtype != self.dtype:
            raise ValueError(f"params have dtype {params[0].w.dtype}; the step is {self.dtype}")
        trees = state_moments(self.optimizer, state)
        for tree in trees:
            try:
                check_params(self.arch, tree)
            except (ValueError, TypeError, AttributeError) as error:
                raise ValueError(f"optimizer state does not fit the params: {error}") from None
            if tree[0].w.dtype != self.dtype:
                raise ValueError(f"optimizer state has dtype {tree[0].w.dtype}, not {self.dtype}")
        for buffers, tree in zip([self._p, *self._moments], [params, *trees], strict=True):
            for buffer, leaf in zip(buffers, tree_leaves(tree), strict=True):
                np.copyto(buffer, leaf)
        self._count = int(state.count)
        self._started = True

    def params(self) -> Params:
        """A copy of the current parameters (read-only arrays nothing else refers to)."""
        self._check_started()
        return _layers(self._p)

    def param_value(self, layer: int, field: str, index: tuple[int, ...]) -> float:
        """One current parameter, read from the working buffers (per-step tracking)."""
        self._check_started()
        return float(self._p[2 * layer + (field == "b")][index])

    def state(self) -> Any:
        """A copy of the current optimizer state (`SGDState`, `AdamState` or `RMSPropState`)."""
        self._check_started()
        count = np.asarray(self._count, dtype=np.int64)
        return make_state(self.optimizer, count, [_layers(m) for m in self._moments])

    def _check_started(self) -> None:
        if not self._started:
            raise RuntimeError("call start(params, state) before using the step")

    def __call__(self, x: Array, y: Array, lr: float) -> tuple[float, int]:
        """Take one optimizer step on a batch, in place on the step's working copy.

        Args:
            x: (m, sizes[0]) inputs, 1 <= m <= batch_size; cast to the step's dtype if needed.
            y: (m,) integer labels or (m, sizes[-1]) targets.
            lr: the learning rate for this step, a float > 0.

        Returns:
            `(loss, n_correct)`: the batch's loss before the step (with the l2 penalty) and
            the samples whose predicted label from that forward pass equals `labels_of(y)`.

        Raises:
            NonFinite: the loss or a gradient is not finite; the step is unchanged.
            ValueError: shapes that do not fit, or a bad learning rate.
            RuntimeError: `start` was not called.
        """
        x, y, rate = self._checked(x, y, lr)
        return self._step(x, y, rate)

    def _step(self, x: Array, y: Array, rate: float) -> tuple[float, int]:
        """`__call__` on arguments `_checked` has passed."""
        m = x.shape[0]
        value, n_correct, delta = self._forward(x, y, m)
        if self.l2:
            p = self._p
            squares = sum(float(np.square(p[i]).sum(dtype=np.float64)) for i in range(0, len(p), 2))
            # Kept apart too: the loop reports the data loss and the penalty separately.
            self.penalty = 0.5 * self.l2 * squares
            value += self.penalty
        if not math.isfinite(value):
            raise NonFinite(f"loss ({value})")
        self._backward(x, delta, m)
        if not self._grads_finite():
            raise NonFinite("gradient")
        self._count += 1
        self._apply_update(rate)
        return value, n_correct

    def _checked(self, x: Array, y: Array, lr: float) -> tuple[Array, Array, float]:
        """`(x, y, rate)` of a call, checked: x (m, sizes[0]) in the step's dtype, y (m,) or
        (m, k), the rate a float >= 0 (see `__call__`)."""
        self._check_started()
        x, y = np.asarray(x), np.asarray(y)
        # Zero is allowed, as in optim.update: a schedule may decay to it.
        rate = NON_NEGATIVE.check("learning_rate", lr)
        m = x.shape[0] if x.ndim == 2 else 0
        if x.ndim != 2 or x.shape[1] != self.arch.sizes[0] or not 1 <= m <= self.batch_size:
            raise ValueError(
                f"x has shape {x.shape}; the step expects (m, {self.arch.sizes[0]}) "
                f"with 1 <= m <= {self.batch_size}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        if y.ndim not in (1, 2) or y.shape[0] != m:
            raise ValueError(f"y has shape {y.shape}; expected labels ({m},) or targets ({m}, k)")
        return x, y, rate

    def _forward(self, x: Array, y: Array, m: int) -> tuple[float, int, Array]:
        """Run the network on the batch; return (loss, n_correct, output delta (m, k))."""
        p = self._p
        a = x
        for i in range(len(p) // 2 - 1):
            h = self._acts[i][:m]
            np.matmul(a, p[2 * i], out=h)
            self._bias_activation(i, h, m)
            a = h
        z = self._acts[-1][:m]
        np.matmul(a, p[-2], out=z)
        return self._output_layer(z, y, m)

    def _bias_activation(self, i: int, h: Array, m: int) -> None:
        """`h = f(h + b)` in place for hidden layer `i`."""
        hidden = self._hidden
        h += self._p[2 * i + 1]
        if self._is_relu:
            np.maximum(h, self._zeros[i][:m], out=h)
        elif hidden.uses_input:
            z = self._pre[i][:m]
            np.copyto(z, h)
            hidden.function(z, out=h)
        else:
            hidden.function(h, out=h)

    def _output_layer(self, z: Array, y: Array, m: int) -> tuple[float, int, Array]:
        """Add the output bias to `z = a @ w` (m, k); return (loss, n_correct, delta)."""
        z += self._p[-1]
        if self._softmax_ce and y.ndim == 1:
            return self._softmax_cross_entropy(z, _labels(y, z.shape[1]), m)
        out = self._output.function(z)
        value = self._pair.value(z, out, y)
        n_correct = int(np.count_nonzero(labels_of(out) == labels_of(y)))
        return value, n_correct, self._pair.delta(z, out, y)

    def _softmax_cross_entropy(self, z: Array, labels: Array, m: int) -> tuple[float, int, Array]:
        # The operations of log_softmax, softmax and the categorical delta (losses.py), in
        # place; the exp-sum is shared by the loss and the probabilities.
        rows, column = self._rows[:m], self._column[:m]
        shifted = self._deltas[-1][:m]
        # ufunc.reduce directly: np.max/np.sum/mean add microseconds of Python per call. The
        # row maxima from a transposed copy: a max is exact in any order, and reducing (k, m)
        # over axis 0 runs along contiguous rows, 3x faster than (m, k) over axis 1.
        z_t = self._logits_t[: z.size].reshape(z.shape[1], m)
        np.copyto(z_t, z.T)
        np.maximum.reduce(z_t, axis=0, keepdims=True, out=column.reshape(1, m))
        np.subtract(z, column, out=shifted)
        picked = shifted[rows, labels]
        np.exp(shifted, out=shifted)
        np.add.reduce(shifted, axis=1, keepdims=True, out=column)
        log_p = picked - np.log(column[:, 0])
        value = -float(np.add.reduce(log_p, dtype=np.float64) / m)
        shifted /= column
        n_correct = int(np.count_nonzero(shifted.argmax(axis=1) == labels))
        np.divide(shifted, z.dtype.type(m), out=shifted)
        shifted[rows, labels] -= z.dtype.type(1 / m)
        return value, n_correct, shifted

    def _backward(self, x: Array, delta: Array, m: int) -> None:
        """Fill the gradient buffers from the output delta, as `loss_grad_and_output` does."""
        p, grads = self._p, self._grads
        for i in range(len(p) // 2 - 1, -1, -1):
            inputs = x if i == 0 else self._acts[i - 1][:m]
            w = p[2 * i]
            np.matmul(inputs.T, delta, out=grads[2 * i])
            if self.l2:
                np.multiply(w, w.dtype.type(self.l2), out=self._tmp[2 * i])
                grads[2 * i] += self._tmp[2 * i]
            self._bias_grad(i, delta)
            if i == 0:
                return
            previous = self._deltas[i - 1][:m]
            np.matmul(delta, w.T, out=previous)
            self._derivative(i - 1, previous, m)
            delta = previous

    def _bias_grad(self, i: int, delta: Array) -> None:
        """The bias gradient of layer `i` from its delta (m, n): column sums."""
        np.add.reduce(delta, axis=0, out=self._grads[2 * i + 1])

    def _derivative(self, i: int, delta: Array, m: int) -> None:
        """`delta *= f'` of hidden layer `i`'s activations, in place."""
        a = self._acts[i][:m]
        if self._is_relu:
            # (a > 0) as 0/1, like the registry's relu derivative, without a float copy.
            mask = self._masks[i][:m]
            np.greater(a, 0, out=mask)
            np.multiply(delta, mask, out=delta)
        else:
            z = self._pre[i][:m] if self._hidden.uses_input else None
            delta *= self._hidden.derivative(z, a)  # type: ignore[arg-type]

    def _grads_finite(self) -> bool:
        """Whether every gradient of this step is finite (exact)."""
        return _is_finite([self._flat_grads])

    def _apply_update(self, rate: float) -> None:
        """The optimizer's in-place update of the working copy (`count` already advanced)."""
        self._rule.update_flat(self.optimizer, self._buffers, rate, self._count)
