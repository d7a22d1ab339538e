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
- `small_step`: forward and backward of the whole network for a small batch, loops instead of
  BLAS calls (batches of 1 or 2, where call overhead and numpy's slow outer product are most
  of the time); `small_steps`: many such steps with their gathers and updates in one call.

The loops' products are in the arrays' dtype, their sums in float64, rounded once at the end.

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

from purenet.optim import rmsprop, sgd

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


@_jit
def gather(source: Any, index: Any, out: Any) -> None:
    """`out[r] = source[index[r]]` for r < len(index): rows of a 2-D array (a 1-D one as
    (n, 1))."""
    n = source.shape[1]
    for r in range(index.shape[0]):
        row, picked = out[r], source[index[r]]
        for j in range(n):
            row[j] = picked[j]


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
_SGD_LOOP = _jit(sgd._loop)
_RMSPROP_LOOP = _jit(rmsprop._loop)

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
        gather(x_all, rows, x)
        if codes[1] == 0 or not targets_all.shape[0]:
            for r in range(m):
                labels[r] = labels_all[rows[r]]
        if codes[1] != 0:
            if targets_all.shape[0]:
                gather(targets_all, rows, targets)
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
