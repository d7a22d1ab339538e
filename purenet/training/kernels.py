"""numba kernels for the training step (the `fast` extra): the elementwise work between GEMMs.

Imported only when numba is installed (`purenet.training.fused` asks `purenet.core.kernel`).
Each kernel does in one pass over its arrays what the numpy step does in several calls, with
the same float operations per element (scalars cast to the arrays' dtype, no fast-math):

- `bias_activation`: `h = f(h + b)` after a layer's GEMM;
- `output_delta`: the output layer's bias, loss, correct count and delta `dL/dz` (softmax
  cross-entropy on labels; sigmoid cross-entropy, sigmoid or identity MSE on targets);
- `derivative_bias_grad`: `delta *= f'(a)` and the bias gradient of that delta, summed row
  after row (numpy's order for a column sum of a C array: the same bits);
- `gather`: rows of the data set picked by index into the batch buffer, and
  `prefetch_rows`: the next batch's rows started towards the caches before the step;
- the whole step for small batches, in `purenet.training.kernels_small`.

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
from llvmlite import ir  # type: ignore[import-untyped]
from numba.extending import intrinsic

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
    # One loop per cheap activation: a loop with the code's branches inside does not vectorize
    # (ReLU over 128 x 256: 36 us against 2.5 us); exp-based ones cost their exp either way.
    m, n = h.shape
    zero = one - one
    for r in range(m):
        row = h[r]
        if code == 1:
            for j in range(n):
                z = row[j] + b[j]
                row[j] = z if not z <= zero else zero
        elif code == 2:
            for j in range(n):
                z = row[j] + b[j]
                row[j] = max(z, z * slope)
        elif code == 0:
            for j in range(n):
                row[j] = row[j] + b[j]
        else:
            for j in range(n):
                row[j] = _activate(row[j] + b[j], code, one, slope)


@_jit
def bias_grad(delta: Any, grad_b: Any) -> None:
    """`grad_b = delta.sum(axis=0)`, rows added in order (numpy's order: the same bits)."""
    m, n = delta.shape
    for j in range(n):
        grad_b[j] = delta[0, j]
    for r in range(1, m):
        row = delta[r]
        for j in range(n):
            grad_b[j] = grad_b[j] + row[j]


@_jit
def derivative_bias_grad(delta: Any, a: Any, code: int, one: Any, slope: Any, grad_b: Any) -> None:
    """`delta *= f'(a)` in place, then `grad_b = delta.sum(axis=0)` as `bias_grad`."""
    m, n = delta.shape
    zero = one - one
    for r in range(m):
        row, out = delta[r], a[r]
        if code == 1:  # as bias_activation: the common derivatives in loops of their own
            for j in range(n):
                row[j] = row[j] * (one if out[j] > zero else zero)
        elif code == 3:
            for j in range(n):
                row[j] = row[j] * (out[j] * (one - out[j]))
        elif code == 4:
            for j in range(n):
                row[j] = row[j] * (one - out[j] * out[j])
        else:
            for j in range(n):
                row[j] = row[j] * _derivative(out[j], code, one, slope)
    bias_grad(delta, grad_b)


@intrinsic
def _prefetch(typingctx: Any, array: Any, position: Any) -> Any:
    """Ask the CPU to fetch the cache line holding `array.flat[position]` (for reading, into
    the outer caches): `llvm.prefetch`, a hint that never faults and never waits."""
    signature = numba.types.void(array, position)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        byte = ir.IntType(8).as_pointer()
        address = builder.bitcast(builder.gep(data, [args[1]]), byte)
        i32 = ir.IntType(32)
        hint = builder.module.declare_intrinsic(
            "llvm.prefetch", fnty=ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        )
        # read (0), locality 2 (L2 and out), data cache (1)
        builder.call(hint, [address, i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return signature, codegen


@_jit
def prefetch_rows(source: Any, index: Any) -> None:
    """Start fetching rows `index` of the C-order 2-D `source` towards the caches, one hint
    per 128 bytes (the CPU fetches 64-byte lines in pairs), so that a `gather` of them finds
    them there. The loop issues it for the next batch before a step's matrix products: on the
    canonical job the gather went from 60-80 us to ~45 us, for ~11 us of hints."""
    width = source.shape[1]
    line = max(1, 128 // source.itemsize)
    for r in range(index.shape[0]):
        start = index[r] * width
        for k in range(0, width, line):
            _prefetch(source, start + k)  # type: ignore[call-arg]  # (typingctx is numba's)


@_jit
def gather(source: Any, index: Any, out: Any, ahead: Any) -> None:
    """`out[r] = source[index[r]]` for r < len(index): rows of a 2-D array (a 1-D one as
    (n, 1)); then `prefetch_rows(source, ahead)` (None: nothing)."""
    n = source.shape[1]
    for r in range(index.shape[0]):
        row, picked = out[r], source[index[r]]
        for j in range(n):
            row[j] = picked[j]
    if ahead is not None:
        prefetch_rows(source, ahead)


@numba.njit(inline="always")  # once per row: inlined into `_output_rows`
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


@numba.njit(inline="always")
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
