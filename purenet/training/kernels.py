"""numba kernels for the training step (the `fast` extra): the elementwise work between GEMMs.

Imported only when numba is installed (`purenet.training.fused` asks `purenet.core.kernel`).
Each kernel does in one pass over its arrays what the numpy step does in several calls, with
the same float operations per element (scalars cast to the arrays' dtype, no fast-math):

- `bias_activation`: `h = f(h + b)` after a layer's GEMM;
- `output_delta`: the output layer's bias, loss, correct count and delta `dL/dz` (softmax
  cross-entropy on labels; sigmoid cross-entropy, sigmoid or identity MSE on targets);
- `derivative_bias_grad`: `delta *= f'(a)` and the bias gradient of that delta, summed row
  after row (numpy's order for a column sum of a C array: the same bits);
- `gather`: rows of the data set picked by index into the batch buffer;
- `small_step`: forward and backward of the whole network for a small batch, loops instead of
  BLAS calls (batches of 1 or 2, where call overhead and numpy's slow outer product are most
  of the time).

What cannot be bit-identical to numpy: exp, log, tanh and log1p (numba's libm against numpy's
SIMD loops, within an ulp) and sums over a row (numpy sums pairwise, these kernels in order).
So the kernel path agrees with the pure functions to ~1e-6 relative after 50 steps, not bit
for bit; every kernel path is deterministic (same inputs, same bits).

Activation codes (`ACTIVATION_CODES`): identity 0, relu 1, leaky_relu 2, sigmoid 3, tanh 4,
softplus 5, elu 6. Output codes (`OUTPUT_CODES`): softmax x cross_entropy 0, sigmoid x
cross_entropy 1, sigmoid x mse 2, identity x mse 3.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

ACTIVATION_CODES = {
    "identity": 0,
    "relu": 1,
    "leaky_relu": 2,
    "sigmoid": 3,
    "tanh": 4,
    "softplus": 5,
    "elu": 6,
}
"""Hidden activations the kernels compute (silu and swish need z: the numpy step does them)."""

OUTPUT_CODES = {
    ("softmax", "cross_entropy"): 0,
    ("sigmoid", "cross_entropy"): 1,
    ("sigmoid", "mse"): 2,
    ("identity", "mse"): 3,
}
"""(output, loss) pairs the kernels compute (softmax x mse: the numpy step does it)."""

_jit = numba.njit(cache=True, nogil=True, error_model="numpy")

# Scalars are passed in the arrays' dtype (`one`, `slope`): numba, unlike numpy, would promote
# a float32 array element times a Python float to float64.


@_jit
def _activate(z: Any, code: int, one: Any, slope: Any) -> Any:
    zero = one - one
    if code == 1:  # a NaN passes, as through np.maximum
        return z if not z <= zero else zero
    if code == 2:
        return max(z, z * slope)
    if code == 3:
        return one / (one + np.exp(-z))
    if code == 4:
        return np.tanh(z)
    if code == 5:  # numpy's logaddexp(z, 0)
        if z == zero:
            return z + np.log(one + one)
        if z > zero:
            return z + np.log1p(np.exp(-z))
        return np.log1p(np.exp(z))
    if code == 6:
        return z if z > zero else np.expm1(min(z, zero))
    return z


@_jit
def _derivative(a: Any, code: int, one: Any, slope: Any) -> Any:
    # From the output, as the registry's derivatives (purenet.nn.activations).
    zero = one - one
    if code == 1:
        return one if a > zero else zero
    if code == 2:
        return one if a > zero else slope
    if code == 3:
        return a * (one - a)
    if code == 4:
        return one - a * a
    if code == 5:
        return -np.expm1(-a)
    if code == 6:
        return one if a > zero else a + one
    return one


@_jit
def bias_activation(h: Any, b: Any, code: int, one: Any, slope: Any) -> None:
    """`h[r, j] = f(h[r, j] + b[j])` in place; h (m, n) C order, b (n,)."""
    m, n = h.shape
    for r in range(m):
        for j in range(n):
            h[r, j] = _activate(h[r, j] + b[j], code, one, slope)


@_jit
def bias_grad(delta: Any, grad_b: Any) -> None:
    """`grad_b = delta.sum(axis=0)`, rows added in order (numpy's order: the same bits)."""
    m, n = delta.shape
    for j in range(n):
        grad_b[j] = delta[0, j]
    for r in range(1, m):
        for j in range(n):
            grad_b[j] = grad_b[j] + delta[r, j]


@_jit
def derivative_bias_grad(delta: Any, a: Any, code: int, one: Any, slope: Any, grad_b: Any) -> None:
    """`delta *= f'(a)` in place, then `grad_b = delta.sum(axis=0)` as `bias_grad`."""
    m, n = delta.shape
    for r in range(m):
        for j in range(n):
            delta[r, j] = delta[r, j] * _derivative(a[r, j], code, one, slope)
    bias_grad(delta, grad_b)


@_jit
def gather(source: Any, index: Any, out: Any) -> None:
    """`out[r] = source[index[r]]` for r < len(index): rows of a 1-D or 2-D array."""
    for r in range(index.shape[0]):
        out[r] = source[index[r]]


@_jit
def _softmax_ce_row(z: Any, label: int, delta: Any, m_value: Any, inv_m: Any) -> tuple[Any, bool]:
    # FastStep._softmax_cross_entropy for one row: max, shift, exp, sum, log, divide.
    k = z.shape[0]
    top = z[0]
    for j in range(1, k):
        top = max(top, z[j])
    total = top - top
    for j in range(k):
        e = np.exp(z[j] - top)
        delta[j] = e
        total += e
    log_p = (z[label] - top) - np.log(total)
    best, best_p = 0, delta[0] / total
    for j in range(k):
        p = delta[j] / total
        if p > best_p:
            best, best_p = j, p
        delta[j] = p / m_value
    delta[label] -= inv_m
    return log_p, best == label


@_jit
def _dense_row(z: Any, t: Any, delta: Any, pair: int, m_value: Any, one: Any) -> tuple[float, int]:
    # The losses' value and delta (purenet.nn.losses) for one row of targets; and its argmax.
    value = 0.0
    best, best_a = 0, z[0]
    for j in range(z.shape[0]):
        zj = z[j]
        a = zj if pair == 3 else one / (one + np.exp(-zj))
        if j == 0 or a > best_a:
            best, best_a = j, a
        error = a - t[j]
        if pair == 1:
            value += float(_activate(zj, 5, one, one) - t[j] * zj)
            delta[j] = error / m_value
        else:
            value += float(error * error)
            g = error / m_value
            delta[j] = g if pair == 3 else (g * a) * (one - a)
    return value, best


@_jit
def _output_rows(
    z: Any, labels: Any, targets: Any, delta: Any, pair: int, scalars: Any
) -> tuple[float, int]:
    """Loss (float64 mean), correct count and delta of output logits `z` (bias added)."""
    m, k = z.shape
    one, m_value, inv_m = scalars[0], scalars[1], scalars[2]
    total, correct = 0.0, 0
    for r in range(m):
        if pair == 0:
            log_p, right = _softmax_ce_row(z[r], labels[r], delta[r], m_value, inv_m)
            total -= float(log_p)
            correct += right
        else:
            value, best = _dense_row(z[r], targets[r], delta[r], pair, m_value, one)
            total += value
            label = 0
            for j in range(1, k):
                if targets[r, j] > targets[r, label]:
                    label = j
            correct += best == label
    return (0.5 * total if pair >= 2 else total) / m, correct


@_jit
def output_delta(
    z: Any, b: Any, labels: Any, targets: Any, delta: Any, pair: int, scalars: Any
) -> tuple[float, int]:
    """The output layer after its GEMM: bias, loss, correct count and delta.

    Args:
        z: (m, k) `a @ w` of the output layer; the bias `b` (k,) is added in place.
        labels: (m,) int labels for softmax cross-entropy (pair 0), else unused.
        targets: (m, k) targets for the other pairs, else unused.
        delta: (m, k), written with `dL/dz` of the batch mean loss.
        pair: an `OUTPUT_CODES` value.
        scalars: `(1, m, 1 / m)` in the arrays' dtype.

    Returns:
        `(loss, n_correct)`: the mean loss (summed in float64) and the rows whose argmax
        output is the label (or the targets' argmax).
    """
    m, k = z.shape
    for r in range(m):
        for j in range(k):
            z[r, j] = z[r, j] + b[j]
    return _output_rows(z, labels, targets, delta, pair, scalars)


@_jit
def _at_least(biggest: float, value: Any) -> float:
    """max(biggest, |value|), NaN winning (Python's max would drop a NaN value)."""
    size = abs(float(value))
    return size if not size <= biggest else biggest


@_jit
def _dense_forward(a: Any, w: Any, h: Any, acc: Any) -> float:
    """`h = a @ w`, summed in float64 (`acc`, (m, n) scratch); returns max |a|.

    The input index is the outer loop: each row of `w` is read once for the whole batch (the
    batch's rows of `acc` stay in L1), and zero inputs (MNIST is mostly zeros) are skipped.
    The float64 sum is rounded once: a float32 BLAS rounds along the way, so summing exactly
    keeps this path's difference to it within the BLAS's own error.
    """
    m, fan_in = a.shape
    biggest = 0.0
    acc[:] = 0.0
    for i in range(fan_in):
        for r in range(m):
            ai = a[r, i]
            biggest = _at_least(biggest, ai)
            if ai != 0:
                weight = float(ai)
                for j in range(h.shape[1]):
                    acc[r, j] += weight * w[i, j]
    for r in range(m):
        for j in range(h.shape[1]):
            h[r, j] = acc[r, j]
    return biggest


@_jit
def _weight_grad(a: Any, delta: Any, g: Any) -> None:
    """`g = a.T @ delta`, summed over the batch in float64 and rounded once (as `_dense_forward`),
    each row of `g` written once; a zero input's row is zero without a product."""
    m = a.shape[0]
    for i in range(a.shape[1]):
        first = float(a[0, i])
        if m == 1 or (m == 2 and a[1, i] == 0):
            for j in range(g.shape[1]):
                g[i, j] = first * delta[0, j]
            continue
        for j in range(g.shape[1]):
            total = 0.0
            for r in range(m):
                total += float(a[r, i]) * delta[r, j]
            g[i, j] = total


@_jit
def _back_delta(delta: Any, w: Any, a: Any, out: Any, code: int, one: Any, slope: Any) -> float:
    """`out = (delta @ w.T) * f'(a)`, the products summed in float64; returns max |out|."""
    biggest = 0.0
    for r in range(delta.shape[0]):
        for i in range(w.shape[0]):
            total = 0.0
            for j in range(w.shape[1]):
                total += float(delta[r, j]) * w[i, j]
            out[r, i] = total
            out[r, i] = out[r, i] * _derivative(a[r, i], code, one, slope)
            biggest = _at_least(biggest, out[r, i])
    return biggest


@_jit
def small_step(
    x: Any,
    labels: Any,
    targets: Any,
    layers: Any,
    grads: Any,
    acts: Any,
    deltas: Any,
    acc: Any,
    code: int,
    pair: int,
    scalars: Any,
    l2: Any,
) -> tuple[float, int, bool]:
    """Forward and backward of the whole network on a small batch, in one call, no BLAS.

    Args:
        x: (m, n0) inputs.
        labels, targets: as `output_delta`.
        layers: per layer `(w, b)` views of the step's working parameters (a tuple).
        grads: per layer `(w, b)` views of the gradient buffer, written.
        acts, deltas: per layer (m, width) buffers, written.
        acc: (m, widest layer) float64 scratch.
        code: the hidden `ACTIVATION_CODES` value; pair: the `OUTPUT_CODES` value.
        scalars: `(1, m, 1 / m, leaky slope)` in the arrays' dtype; l2: the penalty, that dtype.

    Returns:
        `(loss, n_correct, finite)`: the loss without the l2 term, the correct count, and
        whether every gradient is finite (checked exactly, cheaply when a bound allows).
    """
    one, slope = scalars[0], scalars[3]
    n_layers = len(layers)
    biggest_input = 0.0
    a = x
    for i in range(n_layers):
        w, b = layers[i]
        h = acts[i]
        biggest_input = _at_least(biggest_input, _dense_forward(a, w, h, acc[:, : h.shape[1]]))
        if i < n_layers - 1:
            bias_activation(h, b, code, one, slope)
        a = h
    value, correct = output_delta(
        acts[n_layers - 1], layers[n_layers - 1][1], labels, targets, deltas[n_layers - 1],
        pair, scalars,
    )  # fmt: skip
    bias_grad(deltas[n_layers - 1], grads[n_layers - 1][1])
    biggest_delta = 0.0
    top = deltas[n_layers - 1]
    for r in range(top.shape[0]):
        for j in range(top.shape[1]):
            biggest_delta = _at_least(biggest_delta, top[r, j])
    for i in range(n_layers - 1, -1, -1):
        w = layers[i][0]
        g_w = grads[i][0]
        _weight_grad(x if i == 0 else acts[i - 1], deltas[i], g_w)
        if l2 != 0:
            for r in range(w.shape[0]):
                for j in range(w.shape[1]):
                    g_w[r, j] = g_w[r, j] + w[r, j] * l2
        if i > 0:
            found = _back_delta(deltas[i], w, acts[i - 1], deltas[i - 1], code, one, slope)
            biggest_delta = _at_least(biggest_delta, found)
            bias_grad(deltas[i - 1], grads[i - 1][1])
    # Every gradient is a sum of at most m products |a| |delta| (plus l2 w): below this bound
    # none overflows, so all are finite; otherwise look at each.
    bound = max(biggest_input, 1.0) * biggest_delta * x.shape[0]
    finite = l2 == 0 and bound < 1e30
    if not finite:
        finite = True
        for i in range(n_layers):
            finite = finite and np.isfinite(grads[i][0]).all() and np.isfinite(grads[i][1]).all()
    return value, correct, finite
