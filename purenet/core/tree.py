"""Parameter trees: frozen attrs instances and tuples whose leaves are numpy arrays.

A tree is a nest of tuples and attrs instances; anything else is a leaf. `Params`
(a tuple of `Dense`), gradients and optimizer states are trees, and every operation on
them (optimizer updates, L2, comparisons, checkpoints) is built on `tree_map`.

Example:
    >>> import numpy as np, purenet as pn
    >>> params = (pn.Dense(np.ones((2, 3)), np.zeros(3)),)
    >>> doubled = pn.tree_map(lambda a: 2 * a, params)
    >>> float(doubled[0].w[0, 0])
    2.0
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import attrs
import numpy as np

T = TypeVar("T")


def readonly(value: Any) -> np.ndarray:
    """Return `value` as an array that cannot be written through (an attrs field converter).

    Arrays are not copied: a read-only view is taken of a writeable array, so the tree
    holding it can never be changed through the tree. Dtype and shape are kept.
    """
    array = np.asarray(value)
    if array.flags.writeable:
        array = array.view()
        array.flags.writeable = False
    return array


def _leaf_repr(leaf: Any) -> str:
    if isinstance(leaf, np.ndarray) and leaf.ndim > 0:
        return f"{leaf.dtype}[{', '.join(map(str, leaf.shape))}]"
    if isinstance(leaf, np.ndarray | np.generic):
        return repr(leaf.item())
    return repr(leaf)


SHORT_TUPLE = 4
"""Tuples longer than this show their first and last items and a count in `tree_repr`."""


def tree_repr(tree: Any) -> str:
    """A one-line repr of a tree that shows array shapes and dtypes instead of values.

    Attrs instances print as `Name(field=..., ...)` (fields with `repr=False` left out),
    arrays as `float32[784, 128]`, 0-d arrays as their value, tuples longer than
    `SHORT_TUPLE` as their first and last items around a count of the rest.

    Example:
        >>> import numpy as np, purenet as pn
        >>> tree_repr((pn.Dense(np.zeros((784, 10), np.float32), np.zeros(10, np.float32)),))
        '(Dense(w=float32[784, 10], b=float32[10]),)'
    """
    if isinstance(tree, tuple) and not hasattr(tree, "_fields"):
        items = [tree_repr(item) for item in tree]
        if len(items) > SHORT_TUPLE:
            items = [items[0], f"... {len(items) - 2} more ...", items[-1]]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    if attrs.has(type(tree)):
        parts = [
            f"{field.name}={tree_repr(getattr(tree, field.name))}"
            for field in attrs.fields(type(tree))
            if field.repr
        ]
        return f"{type(tree).__name__}({', '.join(parts)})"
    return _leaf_repr(tree)


def _is_node(tree: Any) -> bool:
    return isinstance(tree, tuple) or attrs.has(type(tree))


def _children(tree: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(tree, tuple):
        for i, child in enumerate(tree):
            yield f"[{i}]", child
    else:
        for field in attrs.fields(type(tree)):
            yield f".{field.name}", getattr(tree, field.name)


def _rebuild(tree: Any, children: list[Any]) -> Any:
    if isinstance(tree, tuple):
        if hasattr(tree, "_fields"):  # a NamedTuple
            return type(tree)(*children)
        return tuple(children)
    fields = attrs.fields(type(tree))
    return type(tree)(**{f.alias: child for f, child in zip(fields, children, strict=True)})


def _describe(node: Any) -> str:
    if isinstance(node, np.ndarray):
        return f"shape {node.shape}"
    if isinstance(node, tuple):
        return f"tuple of length {len(node)}"
    return type(node).__name__


def _check_same_node(path: str, tree: Any, other: Any) -> None:
    where = path or "<root>"
    if isinstance(tree, tuple):
        if not isinstance(other, tuple) or len(other) != len(tree):
            raise ValueError(f"{where}: {_describe(tree)} vs {_describe(other)}")
    elif type(other) is not type(tree):
        raise ValueError(f"{where}: {type(tree).__name__} vs {type(other).__name__}")


def _check_same_leaf(path: str, leaf: Any, other: Any) -> None:
    if isinstance(leaf, np.ndarray) or isinstance(other, np.ndarray):
        shape, other_shape = np.shape(leaf), np.shape(other)
        if shape != other_shape:
            raise ValueError(f"{path or '<root>'}: shape {shape} vs {other_shape}")


def _map(fn: Callable[..., Any], path: str, tree: Any, rest: tuple[Any, ...]) -> Any:
    if not _is_node(tree):
        for other in rest:
            if _is_node(other):
                raise ValueError(f"{path or '<root>'}: {_describe(tree)} vs {_describe(other)}")
            _check_same_leaf(path, tree, other)
        return fn(tree, *rest)
    for other in rest:
        _check_same_node(path, tree, other)
    rest_children = [list(_children(other)) for other in rest]
    mapped = [
        _map(fn, path + key, child, tuple(rc[i][1] for rc in rest_children))
        for i, (key, child) in enumerate(_children(tree))
    ]
    return _rebuild(tree, mapped)


def tree_map(fn: Callable[..., Any], tree: T, *rest: Any) -> T:
    """Apply `fn` leaf by leaf to `tree` and the trees in `rest`, returning a new tree.

    Args:
        fn: called as `fn(leaf, *other_leaves)` for each leaf position.
        tree: a nest of tuples and attrs instances.
        *rest: trees of the same structure and leaf shapes as `tree`.

    Returns:
        A tree of the same structure as `tree` holding the results of `fn`.

    Raises:
        ValueError: the structures or leaf shapes differ; the message gives the path,
            e.g. `[1].w: shape (100, 10) vs (100, 11)`.
    """
    result: T = _map(fn, "", tree, rest)
    return result


def tree_leaves(tree: Any) -> list[Any]:
    """Return the leaves of `tree` in depth-first order (tuple order, then attrs field order)."""
    if not _is_node(tree):
        return [tree]
    return [leaf for _, child in _children(tree) for leaf in tree_leaves(child)]


def _same_structure(a: Any, b: Any) -> bool:
    try:
        tree_map(lambda x, y: None, a, b)
    except ValueError:
        return False
    return True


def tree_equal(a: Any, b: Any) -> bool:
    """True when `a` and `b` have the same structure, dtypes and bit-identical leaves.

    NaNs in the same positions count as equal, so a tree always equals itself.
    """
    if not _same_structure(a, b):
        return False
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        x_arr, y_arr = np.asarray(x), np.asarray(y)
        if x_arr.dtype != y_arr.dtype:
            return False
        if not np.array_equal(x_arr, y_arr, equal_nan=x_arr.dtype.kind in "fc"):
            return False
    return True


def tree_allclose(a: Any, b: Any, *, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """True when `a` and `b` have the same structure and leaves equal within tolerance.

    Leaves are compared with `np.allclose(x, y, rtol=rtol, atol=atol)`; dtypes may differ.
    """
    if not _same_structure(a, b):
        return False
    return all(
        np.allclose(x, y, rtol=rtol, atol=atol)
        for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True)
    )
