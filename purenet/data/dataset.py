"""`Dataset(x, y)` and its small pure steps: `one_hot`, `map_labels`, `split`, `shuffle`, `batches`.

The readers (`purenet.data.idx.read_idx`, `purenet.data.csv.read_csv`,
`purenet.data.load.load_dataset`) check everything they read and raise `DataFormatError` naming
the file, what was expected and what was found; the input transforms (`scale`, `standardize`,
`flatten`) live in `purenet.pipeline.transforms`. Steps are pure functions: they never change
their inputs, and the same call gives the same bits.

Example:
    >>> import numpy as np
    >>> from purenet.data.dataset import Dataset, batches, one_hot, shuffle
    >>> from purenet.pipeline.transforms import flatten, scale
    >>> images = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    >>> ds = Dataset(flatten(scale(images, low=0.01, high=1.0)), one_hot(np.arange(4), 4))
    >>> [len(b) for b in batches(shuffle(ds, seed=0), 3)]
    [3, 1]
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence

import attrs
import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from purenet.core.checks import check_int, float_dtype
from purenet.core.tree import readonly

Seed = int | Sequence[int]


# ---------------------------------------------------------------------------------------------
# Dataset


@attrs.frozen(eq=False)
class Dataset:
    """Inputs and targets of equal length: a frozen tree of two read-only arrays.

    Attributes:
        x: `(n, ...)` inputs, e.g. `(60000, 28, 28)` uint8 images or `(n, 784)` float32.
        y: `(n,)` integer labels or `(n, k)` targets.

    Raises:
        ValueError: `x` and `y` have different lengths.
    """

    x: np.ndarray = attrs.field(converter=readonly)
    y: np.ndarray = attrs.field(converter=readonly)

    def __attrs_post_init__(self) -> None:
        # Only arrays with a sample axis are checked: `tree_map` rebuilds a Dataset from
        # whatever its function returns (shapes, None), and that must keep working.
        if self.x.ndim and self.y.ndim and len(self.x) != len(self.y):
            raise ValueError(
                f"Dataset x and y differ in length: x {self.x.shape} vs y {self.y.shape}"
            )

    def __len__(self) -> int:
        return len(self.x)


def integer_labels(labels: ArrayLike, what: str = "labels") -> np.ndarray:
    """The one rule for the type of class labels: integers (or bools) as they are, finite
    whole-number floats (`3.0`, as a CSV may hold them) as int64.

    Raises:
        ValueError: `WHAT needs integer labels; got dtype float64` for anything else.

    Example:
        >>> integer_labels(np.array([1.0, 0.0]))
        array([1, 0])
    """
    values = np.asarray(labels)
    if values.dtype.kind in "iub":
        return values
    if (
        values.dtype.kind == "f"
        and np.isfinite(values).all()
        and (values == np.round(values)).all()
    ):
        return values.astype(np.int64)
    raise ValueError(f"{what} needs integer labels; got dtype {values.dtype}")


def class_labels(labels: ArrayLike, n_classes: int, what: str = "labels") -> np.ndarray:
    """The one rule for class labels, worded once: `(n,)` integers (`integer_labels`), each
    in `[0, n_classes)`. `one_hot`, the losses, evaluation and `purenet run` all check here.

    Args:
        labels: `(n,)` integer labels (whole-number floats are accepted).
        n_classes: the number of classes, >= 1.
        what: how the message names the labels.

    Returns:
        `(n,)` int64 labels.

    Raises:
        ValueError: `labels must be integers of shape (n,), found dtype float64 shape (3,)`,
            or `labels must lie in [0, 2), found values in [0, 7]`.

    Example:
        >>> class_labels(np.array([1.0, 0.0]), 2)
        array([1, 0])
    """
    values = np.asarray(labels)
    with contextlib.suppress(ValueError):
        values = integer_labels(values, what)
    if values.ndim != 1 or values.dtype.kind not in "iub":
        raise ValueError(
            f"{what} must be integers of shape (n,), found dtype {values.dtype} "
            f"shape {values.shape}"
        )
    if values.size and (values.min() < 0 or values.max() >= n_classes):
        raise ValueError(
            f"{what} must lie in [0, {n_classes}), found values in [{values.min()}, {values.max()}]"
        )
    return values.astype(np.int64, copy=False)


def one_hot(
    labels: ArrayLike,
    n_classes: int,
    *,
    on: float = 1.0,
    off: float = 0.0,
    dtype: DTypeLike = np.float32,
) -> np.ndarray:
    """Turn integer labels into target rows: `on` at the label's column, `off` elsewhere.

    Args:
        labels: `(n,)` integers in `[0, n_classes)` (whole-number floats are accepted).
        n_classes: number of columns, >= 1.
        on: the target value of the true class, e.g. 1.0 or the tutorials' 0.99.
        off: the value of the other classes, e.g. 0.0 or 0.01.
        dtype: float dtype of the result.

    Returns:
        `(n, n_classes)` of `dtype`; `argmax(one_hot(y), axis=1) == y` when `on > off`.

    Raises:
        ValueError: labels not 1-D integers, a label out of range, `n_classes < 1`.
        TypeError: `n_classes` is not an integer (a bool is none).

    Example:
        >>> import numpy as np
        >>> from purenet.data.dataset import one_hot
        >>> one_hot(np.array([2, 0]), 3, on=0.99, off=0.01)
        array([[0.01, 0.01, 0.99],
               [0.99, 0.01, 0.01]], dtype=float32)
    """
    n_classes = check_int("n_classes", n_classes, low=1)
    values = class_labels(labels, n_classes, "one_hot labels")
    out = np.full((len(values), int(n_classes)), off, dtype=float_dtype(dtype))
    out[np.arange(len(values)), values] = on
    return out


def map_labels(labels: ArrayLike, mapping: Mapping[int, int]) -> np.ndarray:
    """Replace label values through `mapping`; labels not in it are kept.

    Args:
        labels: `(n,)` integer labels.
        mapping: old value to new value, e.g. `{10: 0}` for a data set whose label 10 means
            the digit 0.

    Returns:
        `(n,)` new labels, same dtype as `labels`.

    Raises:
        ValueError: non-integer labels, or a new value that does not fit the labels' dtype.

    Example:
        >>> import numpy as np
        >>> from purenet.data.dataset import map_labels
        >>> map_labels(np.array([10, 1, 10]), {10: 0})
        array([0, 1, 0])
    """
    values = integer_labels(labels, "map_labels")
    out = values.copy()
    for old, new in mapping.items():
        if np.array(new).astype(values.dtype) != new:
            raise ValueError(f"map_labels: new label {new!r} does not fit dtype {values.dtype}")
        # Mask on the original labels, so {1: 2, 2: 1} swaps instead of chaining.
        out[values == old] = new
    return out


def _rng(seed: Seed) -> np.random.Generator:
    return np.random.default_rng(seed)


def _take(ds: Dataset, index: np.ndarray) -> Dataset:
    return Dataset(ds.x[index], ds.y[index])


def split(
    ds: Dataset, valid_fraction: float, *, seed: Seed, stratify: bool = False
) -> tuple[Dataset, Dataset]:
    """Split a data set into seeded train and validation parts (each keeps the input order).

    Args:
        ds: the data set, `n >= 2` samples.
        valid_fraction: share of samples for validation, in `(0, 1)`; the count is rounded
            and kept between 1 and `n - 1`.
        seed: an int or a sequence of ints.
        stratify: keep each class's share in both parts (needs `(n,)` integer labels);
            the validation part then has `round(count * fraction)` samples of each class.

    Returns:
        `(train, valid)`: two `Dataset`s that together hold every sample once.

    Raises:
        ValueError: a fraction outside `(0, 1)`, fewer than 2 samples, or `stratify` with
            labels that are not `(n,)` integers.

    Example:
        >>> import numpy as np
        >>> from purenet.data.dataset import Dataset, split
        >>> train, valid = split(Dataset(np.arange(10), np.arange(10)), 0.2, seed=0)
        >>> len(train), len(valid)
        (8, 2)
    """
    n = len(ds)
    if not 0 < valid_fraction < 1:
        raise ValueError(f"valid_fraction must be in (0, 1); got {valid_fraction}")
    if n < 2:
        raise ValueError(f"split needs at least 2 samples; got {n}")
    order = _rng(seed).permutation(n)
    if stratify:
        labels = integer_labels(ds.y, "split(stratify=True)")
        if labels.ndim != 1:
            raise ValueError(f"split(stratify=True) needs labels of shape (n,); got {labels.shape}")
        shuffled = labels[order]
        # Stable sort keeps the random order within each class; rank = position in class.
        by_class = order[np.argsort(shuffled, kind="stable")]
        classes, starts, counts = np.unique(labels[by_class], return_index=True, return_counts=True)
        rank = np.arange(n) - np.repeat(starts, counts)
        quota = np.repeat(np.round(counts * valid_fraction).astype(np.int64), counts)
        is_valid = np.zeros(n, dtype=bool)
        is_valid[by_class] = rank < quota
        if is_valid.all() or not is_valid.any():
            raise ValueError(
                f"split: valid_fraction {valid_fraction} leaves a part empty for "
                f"{len(classes)} classes of {n} samples"
            )
    else:
        count = min(max(round(n * valid_fraction), 1), n - 1)
        is_valid = np.zeros(n, dtype=bool)
        is_valid[order[:count]] = True
    return _take(ds, np.flatnonzero(~is_valid)), _take(ds, np.flatnonzero(is_valid))


def shuffle(ds: Dataset, *, seed: Seed) -> Dataset:
    """Return the samples in a seeded random order (a permutation of indices, x and y alike).

    Args:
        ds: `Dataset` of n samples.
        seed: an int or a sequence of ints such as `(seed, epoch)`.

    Returns:
        A new `Dataset` `(x[p], y[p])` with `p = np.random.default_rng(seed).permutation(n)`.

    Example:
        >>> import numpy as np
        >>> from purenet.data.dataset import Dataset, shuffle
        >>> sorted(shuffle(Dataset(np.arange(5), np.arange(5)), seed=1).y.tolist())
        [0, 1, 2, 3, 4]
    """
    return _take(ds, _rng(seed).permutation(len(ds)))


def batches(ds: Dataset, size: int, *, drop_last: bool = False) -> Iterator[Dataset]:
    """Yield consecutive batches of `size` samples, in order (shuffle first for SGD).

    `size == len(ds)` gives one batch (full-batch gradient descent) and `size == 1` gives
    per-sample SGD. The last batch may be shorter unless `drop_last`.

    Args:
        ds: `Dataset` of n samples.
        size: samples per batch, an int >= 1 (larger than n gives one batch).
        drop_last: skip a short final batch.

    Yields:
        `Dataset`s whose arrays are read-only views of `ds`'s.

    Raises:
        ValueError: `size` < 1.
        TypeError: `size` is not an integer (a bool is none).

    Example:
        >>> import numpy as np
        >>> from purenet.data.dataset import Dataset, batches
        >>> [b.y.tolist() for b in batches(Dataset(np.arange(5), np.arange(5)), 2)]
        [[0, 1], [2, 3], [4]]
    """
    size = check_int("batch size", size, low=1)
    n = len(ds)
    stop = n - n % size if drop_last else n
    for start in range(0, stop, int(size)):
        yield Dataset(ds.x[start : start + size], ds.y[start : start + size])
