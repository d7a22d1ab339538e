"""numba kernels for small batches (the `fast` extra): the whole step in one compiled call.

- `small_step`: forward and backward of the whole network for a small batch, loops instead of
  BLAS calls (batches of 1 or 2, where call overhead and numpy's slow outer product are most
  of the time);
- `small_steps`: many such steps, each with its gather and the optimizer's update (SGD and
  RMSProp), in one call: an epoch or a chunk of one, as JAX's `lax.scan` runs it.

The loops' products are in the arrays' dtype, their sums in float64, rounded once at the end
(a float32 BLAS rounds along the way: this path's difference to it stays within the BLAS's own
error). Deterministic: the same inputs give the same bits, whatever the number of steps per
call. Used by `purenet.training.fused.SmallStep`.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from purenet.optim import rmsprop, sgd
from purenet.training.kernels import (
    _derivative,
    _jit,
    bias_activation,
    bias_grad,
    gather,
    output_delta,
)


@_jit
def _at_least(biggest: float, value: Any) -> float:
    """max(biggest, |value|), NaN winning (Python's max would drop a NaN value)."""
    size = abs(float(value))
    return size if not size <= biggest else biggest


@_jit
def _dense_forward(a: Any, w: Any, h: Any, scratch: Any) -> float:
    """`h = a @ w`, the products (in the arrays' dtype) summed in float64 and rounded once;
    returns max |a|. `scratch` starts `(acc, index)`: float64 of n, int64 of fan-in.

    A float32 BLAS rounds along the way, so summing in float64 keeps this path's difference
    to it within the BLAS's own error. Per sample, the nonzero inputs are listed first (MNIST
    is mostly zeros) and taken four at a time: one pass over the sums per four rows of `w`
    (1.7x faster than one per row at 784-200).
    """
    acc, index = scratch[0], scratch[1]
    m, fan_in = a.shape
    n = h.shape[1]
    biggest = 0.0
    for r in range(m):
        count = 0
        for i in range(fan_in):
            biggest = _at_least(biggest, a[r, i])
            if a[r, i] != 0:
                index[count] = i
                count += 1
        row = acc[:n]
        row[:] = 0.0
        q = 0
        while q + 4 <= count:
            i0, i1, i2, i3 = index[q], index[q + 1], index[q + 2], index[q + 3]
            a0, a1, a2, a3 = a[r, i0], a[r, i1], a[r, i2], a[r, i3]
            w0, w1, w2, w3 = w[i0], w[i1], w[i2], w[i3]
            for j in range(n):
                row[j] += (np.float64(a0 * w0[j]) + np.float64(a1 * w1[j])) + (
                    np.float64(a2 * w2[j]) + np.float64(a3 * w3[j])
                )
            q += 4
        for i in index[q:count]:
            ai, w_row = a[r, i], w[i]
            for j in range(n):
                row[j] += np.float64(ai * w_row[j])
        out = h[r]
        for j in range(n):
            out[j] = row[j]
    return biggest


@numba.njit(inline="always")  # once per weight row: inlined into its loop
def _grad_row(a: Any, delta: Any, i: int, out: Any, acc: Any) -> None:
    """Row `i` of `a.T @ delta` into `out`, the products summed over the batch in float64
    (`acc`, scratch of out's length) and rounded once, as `_dense_forward`; zero inputs
    skipped."""
    m, n = delta.shape
    first, top = a[0, i], delta[0]
    if m == 1:
        for j in range(n):
            out[j] = first * top[j]
        return
    for j in range(n):
        acc[j] = first * top[j]
    for r in range(1, m):
        weight = a[r, i]
        if weight != 0:
            row = delta[r]
            for j in range(n):
                acc[j] += np.float64(weight * row[j])
    for j in range(n):
        out[j] = acc[j]


@_jit
def _back_delta(delta: Any, w: Any, a: Any, out: Any, code: int, one: Any, slope: Any) -> float:
    """`out = (delta @ w.T) * f'(a)`, the products (in the arrays' dtype) summed in float64;
    returns max |out|."""
    biggest = 0.0
    for r in range(delta.shape[0]):
        for i in range(w.shape[0]):
            total = 0.0
            w_row = w[i]
            for j in range(w.shape[1]):
                total += np.float64(delta[r, j] * w_row[j])
            out[r, i] = total
            out[r, i] = out[r, i] * _derivative(a[r, i], code, one, slope)
            biggest = _at_least(biggest, out[r, i])
    return biggest


@_jit
def _forward_and_deltas(
    x: Any, labels: Any, targets: Any, layers: Any, grads: Any, acts: Any, deltas: Any,
    scratch: Any, code: int, pair: int, scalars: Any,
) -> tuple[float, int, float]:  # fmt: skip
    """Forward, output loss, every delta and bias gradient, no BLAS (see `small_step`).

    Returns `(loss, n_correct, bound)`: the loss without the l2 term, the correct count, and
    `m * max(1, max |input|) * max |delta|`, a bound on every weight gradient (NaN if any
    delta or input is NaN).
    """
    one, slope = scalars[0], scalars[3]
    m, n_layers = x.shape[0], len(layers)
    biggest_input = 0.0
    a = x
    for i in range(n_layers):
        w, b = layers[i]
        h = acts[i][:m]
        biggest_input = _at_least(biggest_input, _dense_forward(a, w, h, scratch))
        if i < n_layers - 1:
            bias_activation(h, b, code, one, slope)
        a = h
    top = deltas[n_layers - 1][:m]
    value, correct = output_delta(
        acts[n_layers - 1][:m], layers[n_layers - 1][1], labels, targets, top, pair, scalars
    )
    bias_grad(top, grads[n_layers - 1][1])
    biggest_delta = 0.0
    for r in range(top.shape[0]):
        for j in range(top.shape[1]):
            biggest_delta = _at_least(biggest_delta, top[r, j])
    for i in range(n_layers - 1, 0, -1):  # every delta before any weight changes
        below = deltas[i - 1][:m]
        found = _back_delta(deltas[i][:m], layers[i][0], acts[i - 1][:m], below, code, one, slope)
        biggest_delta = _at_least(biggest_delta, found)
        bias_grad(below, grads[i - 1][1])
    return value, correct, max(biggest_input, 1.0) * biggest_delta * m


@_jit
def _weight_grads(x: Any, acts: Any, deltas: Any, grads: Any, acc: Any) -> None:
    """Every weight gradient `a.T @ delta` into `grads`, row by row (`_grad_row`)."""
    m = x.shape[0]
    for i in range(len(grads)):
        g_w = grads[i][0]
        a, delta = x if i == 0 else acts[i - 1][:m], deltas[i][:m]
        for row in range(g_w.shape[0]):
            _grad_row(a, delta, row, g_w[row], acc)


@_jit
def small_step(
    x: Any, labels: Any, targets: Any, layers: Any, grads: Any, acts: Any, deltas: Any,
    scratch: Any, code: int, pair: int, scalars: Any, l2: Any,
) -> tuple[float, int, bool]:  # fmt: skip
    """Forward and backward of the whole network on a small batch, in one call, no BLAS.

    Args:
        x: (m, n0) inputs.
        labels, targets: as `output_delta`.
        layers: per layer `(w, b)` views of the step's working parameters (a tuple).
        grads: per layer `(w, b)` views of the gradient buffer, written.
        acts, deltas: per layer (>= m, width) buffers, their first m rows written.
        scratch: `(float64 of the widest layer, int64 of the widest fan-in)`.
        code: the hidden `ACTIVATION_CODES` value; pair: the `OUTPUT_CODES` value.
        scalars: `(1, m, 1 / m, leaky slope)` in the arrays' dtype; l2: the penalty, that dtype.

    Returns:
        `(loss, n_correct, finite)`: the loss without the l2 term, the correct count, and
        whether every gradient is finite (checked exactly, cheaply when a bound allows).
    """
    value, correct, bound = _forward_and_deltas(
        x, labels, targets, layers, grads, acts, deltas, scratch, code, pair, scalars
    )
    _weight_grads(x, acts, deltas, grads, scratch[0])
    if l2 != 0:
        for i in range(len(layers)):
            w, g_w = layers[i][0], grads[i][0]
            for r in range(w.shape[0]):
                for j in range(w.shape[1]):
                    g_w[r, j] = g_w[r, j] + w[r, j] * l2
    # Every gradient is a sum of at most m products |a| |delta|: below this bound none
    # overflows, so all are finite; otherwise (or with l2) look at each.
    return value, correct, (l2 == 0 and bound < 1e30) or _all_finite(grads)


@_jit
def _all_finite(grads: Any) -> bool:
    for i in range(len(grads)):
        if not (np.isfinite(grads[i][0]).all() and np.isfinite(grads[i][1]).all()):
            return False
    return True


# ---------------------------------------------------------------------------------------------
# Small batches: the update in the same call, and many steps in one call


# The optimizers' own per-element loops (purenet.optim), compiled for calls from the kernels
# below: the same operations as their `update_kernel`, over the same flat buffers.
_SGD_LOOP = _jit(sgd.update_loop)
_RMSPROP_LOOP = _jit(rmsprop.update_loop)

FUSED_UPDATES = (sgd.SGD, rmsprop.RMSProp)
"""Optimizers whose update `small_steps` applies (`update_scalars` gives their arguments);
Adam's scalars change with every step count: it keeps the step-by-step update."""


def update_scalars(spec: Any, lr: float, dtype: np.dtype) -> Any:
    """The scalars of `spec`'s update at rate `lr`, cast as its `update_kernel` casts them:
    SGD `(-lr, momentum)`, RMSProp `(rho, 1 - rho, -lr, eps)`."""
    if type(spec) is sgd.SGD:
        return np.array([-lr, spec.momentum], dtype)
    return np.array([spec.rho, 1.0 - spec.rho, -lr, spec.eps], dtype)


def update_mode(spec: Any) -> int:
    """`_fused_step`'s update mode: SGD 0, with momentum 1, Nesterov 2; RMSProp 3."""
    if type(spec) is sgd.SGD:
        return 2 if spec.nesterov else int(bool(spec.momentum))
    return 3


@_jit
def _fused_step(
    x: Any, labels: Any, targets: Any, net: Any, work: Any, code: int, pair: int,
    scalars: Any, mode: int, hyper: Any,
) -> tuple[float, int, int]:  # fmt: skip
    """One step on a small batch, the update included: `(loss, n_correct, fault)`, fault 0
    (done), 1 (non-finite loss) or 2 (non-finite gradient; nothing changed in either case).

    `net` is `(layers, grads, flat)`: per layer `(w, b)` views of the params and gradients,
    and `(params, grads, moment)` the flat buffers they view (the moment is the params for
    SGD without momentum); `work` is `(acts, deltas, scratch)` as for `small_step`; `mode` is
    `update_mode`'s, `hyper` `update_scalars`'. The optimizer's loop runs once over the flat
    buffers. (Applying it a block of weight rows at a time, as each block's gradient is
    computed, was slower: 42 us against 28 at 784-200-10, the compiled loops on slices of
    the buffers not vectorizing.)
    """
    layers, grads, flat = net
    acts, deltas, scratch = work
    value, correct, bound = _forward_and_deltas(
        x, labels, targets, layers, grads, acts, deltas, scratch, code, pair, scalars
    )
    if not np.isfinite(value):
        return value, correct, 1
    _weight_grads(x, acts, deltas, grads, scratch[0])
    if not bound < 1e30 and not _all_finite(grads):  # the bound proves them finite
        return value, correct, 2
    p, g, moment = flat
    if mode == 3:
        _RMSPROP_LOOP(p, g, moment, hyper[0], hyper[1], hyper[2], hyper[3])
    else:
        _SGD_LOOP(p, g, moment, hyper[0], hyper[1], mode != 0, mode == 2)
    return value, correct, 0


@_jit
def small_steps(
    data: Any, order: Any, first: int, batch: int, losses: Any, correct: Any, net: Any,
    work: Any, batch_work: Any, codes: Any, scalars: Any, hyper: Any,
) -> tuple[int, int]:  # fmt: skip
    """`len(losses)` steps of `_fused_step` on batches gathered by `order`, in one call.

    Args:
        data: `(x, labels, targets)`: the training inputs (n, n0), labels (n,) int (used by
            softmax x cross-entropy, and one-hot into targets for the others when `targets`
            has no rows) and targets (n, k) or (0, k).
        order: (n,) the epoch's sample order; step s takes batch `first + s`, the rows
            `order[(first + s) * batch :][:batch]` (the last batch of an epoch is shorter).
        losses, correct: (steps,) float64 and int64, written with each step's loss and count.
        net, work: as `_fused_step`; batch_work: `(x, labels, targets)` batch buffers.
        codes: `(activation code, output pair, update mode)`.
        scalars, hyper: as `_fused_step`'s.

    Returns:
        `(steps done, fault)`: fault as `_fused_step`'s, of the step after the ones done (its
        loss is in `losses`); the parameters are those after the steps done.
    """
    x_all, labels_all, targets_all = data
    x_batch, label_batch, target_batch = batch_work
    n = x_all.shape[0]
    one = scalars[0]
    for s in range(losses.shape[0]):
        start = (first + s) * batch
        m = min(batch, n - start)
        rows = order[start : start + m]
        x, labels, targets = x_batch[:m], label_batch[:m], target_batch[:m]
        gather(x_all, rows, x, order[start + m : start + m + batch])  # prefetches the next
        if codes[1] == 0 or not targets_all.shape[0]:
            for r in range(m):
                labels[r] = labels_all[rows[r]]
        if codes[1] != 0:
            if targets_all.shape[0]:
                gather(targets_all, rows, targets, None)
            else:
                targets[:] = one - one
                for r in range(m):
                    targets[r, labels[r]] = one
        if m == batch:
            step_scalars = scalars
        else:
            step_scalars = scalars.copy()
            step_scalars[1], step_scalars[2] = m, one / m
        value, right, fault = _fused_step(
            x, labels, targets, net, work, codes[0], codes[1], step_scalars, codes[2], hyper
        )
        losses[s], correct[s] = value, right
        if fault:
            return s, fault
    return losses.shape[0], 0
