"""Activations that purenet's ONNX export writes as several basic operators, as patterns.

ONNX has no SiLU operator before opset 24 (`Swish`), and onnxruntime has no float64 `Elu` or
`Softplus` (1.32), so the export composes silu, and in float64 graphs also leaky_relu,
softplus and elu, from basic operators (`purenet.exchange.onnx_export`). The import recognizes
exactly those compositions: each is a pattern matched node by node from its last node, its
constants compared exactly. Nothing in the graph is run.

A pattern is `"z"`, the layer's value (one value throughout a pattern); a float, a one-element
float constant equal to it in the constant's own dtype; or `(op, *inputs)`, a node of that
operator with exactly those inputs and no attributes. The two inputs of `Add`, `Mul`, `Max`
and `Min` may come in either order (IEEE arithmetic gives the same result, bit for bit).

Example:
    >>> formula(COMPOSITES["leaky_relu"])
    'Max(z, Mul(z, 0.01))'
"""

from __future__ import annotations

from typing import Any

import numpy as np

from purenet.nn.activations import LEAKY_SLOPE

Pattern = str | float | tuple[Any, ...]

COMPOSITES: dict[str, tuple[Any, ...]] = {
    "silu": ("Mul", "z", ("Sigmoid", "z")),
    "leaky_relu": ("Max", "z", ("Mul", "z", LEAKY_SLOPE)),
    "softplus": ("Add", ("Max", "z", 0.0), ("Log", ("Add", 1.0, ("Exp", ("Neg", ("Abs", "z")))))),
    "elu": ("Where", ("Greater", "z", 0.0), "z", ("Sub", ("Exp", ("Min", "z", 0.0)), 1.0)),
}
"""Each composed activation's pattern, by purenet name; every pattern's last node is a different
operator (Mul, Max, Add, Where)."""

COMMUTATIVE = frozenset({"Add", "Mul", "Max", "Min"})
"""Operators whose two inputs may come in either order."""


class Mismatch(Exception):
    """Where a graph stops matching a pattern: how deep in the pattern, and why."""

    def __init__(self, depth: int, why: str) -> None:
        super().__init__(why)
        self.depth = depth


def formula(pattern: Pattern) -> str:
    """A pattern as text, for messages: `Max(z, Mul(z, 0.01))`."""
    if isinstance(pattern, tuple):
        return f"{pattern[0]}({', '.join(formula(part) for part in pattern[1:])})"
    return pattern if isinstance(pattern, str) else f"{pattern:g}"


def match(
    pattern: Pattern,
    name: str,
    producers: dict[str, Any],
    constants: dict[str, np.ndarray],
    z: str | None = None,
    depth: int = 0,
) -> str | None:
    """Match `pattern` at the graph value `name`.

    Args:
        pattern: a pattern (see the module's description).
        name: the value the pattern should compute.
        producers: the graph's nodes by the values they output.
        constants: the graph's constant values by name.
        z: the layer's value, if an enclosing match has bound it already.
        depth: how deep `pattern` sits in the whole pattern (for `Mismatch`).

    Returns:
        The layer's value `z` (bound by this match if it was not).

    Raises:
        Mismatch: the deepest place where the graph differs from the pattern (trying both
            input orders of a commutative node).
    """
    if isinstance(pattern, str):  # "z"
        if name in constants or (z is not None and name != z):
            raise Mismatch(depth, f"{name!r} is not the layer's value {z or 'z'!r}")
        return name
    if isinstance(pattern, float):
        value = constants.get(name)
        if value is None:
            raise Mismatch(depth, f"{name!r} is computed, not the constant {pattern:g}")
        if value.dtype.kind != "f" or value.size != 1 or value.ndim > 2:
            raise Mismatch(depth, f"{name!r} is {value.dtype} {list(value.shape)}, not {pattern:g}")
        if value.item() != value.dtype.type(pattern):
            raise Mismatch(depth, f"{name!r} is {value.item()!r}, not {pattern:g}")
        return z
    op, *inputs = pattern
    node = producers.get(name)
    if node is None:
        raise Mismatch(depth, f"{name!r} is the graph's input, not {op}")
    if node.op_type != op or len(node.input) != len(inputs):
        found = f"{node.op_type} of {len(node.input)} inputs"
        raise Mismatch(depth, f"{name!r} is {found}, not {op} of {len(inputs)}")
    if node.attribute:
        raise Mismatch(depth, f"{name!r} ({op}) has attributes; purenet's has none")
    mismatches = []
    for order in [inputs, inputs[::-1]] if op in COMMUTATIVE else [inputs]:
        try:
            bound = z
            for part, value_name in zip(order, node.input, strict=True):
                bound = match(part, value_name, producers, constants, bound, depth + 1)
            return bound
        except Mismatch as mismatch:
            mismatches.append(mismatch)
    raise max(mismatches, key=lambda mismatch: mismatch.depth)
