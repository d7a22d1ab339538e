"""Target transforms: labels as users have them turned into class indices, and regression
targets standardized on the training set and restored after prediction.

Class labels arrive as integers (`3`, the Ng-style `1..10`) or as names (`setosa`, `yes`).
`fit_classes` decides the classes from the training labels and `encode_labels` turns any
labels (training, validation, test) into indices `0..k-1` with that one coding:

- `label_map` first rewrites raw labels, keyed by their text: `{"10": 0}` for the digit 0
  written as 10, `{"yes": 1, "no": 0}` for names given explicit indices;
- `classes` keeps only the rows of those labels, in that order (`["setosa", "virginica"]`
  or `[3, 8]`): class i is `classes[i]`;
- else names become classes in sorted order (`"setosa" < "versicolor" < "virginica"`), the
  order scikit-learn's `LabelEncoder` uses, so the same file gives the same coding whatever
  its row order; integer labels are their own indices.

Example:
    >>> import numpy as np
    >>> y = np.array(["yes", "no", "yes"])
    >>> coding = fit_classes(y)
    >>> coding.names, encode_labels(y, coding).labels.tolist()
    (('no', 'yes'), [1, 0, 1])
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs
import numpy as np

from purenet.data.dataset import integer_labels
from purenet.pipeline.steps import Standardize

Label = int | str
"""A raw class label as a recipe writes it: an integer or a name."""


@attrs.frozen
class ClassCoding:
    """How raw labels become class indices.

    Attributes:
        names: the class names, in index order; None: integer labels are their own indices.
        label_map: raw label text to a new raw label (an index or a name).
        subset: True when only the rows of `names` are kept (`classes` was given).
    """

    names: tuple[str, ...] | None = None
    label_map: Mapping[str, Label] = attrs.field(factory=dict)
    subset: bool = False


@attrs.frozen(eq=False)
class EncodedLabels:
    """Labels as class indices, and which rows were kept.

    Attributes:
        labels: (kept,) int64 class indices.
        keep: (n,) bool, the rows whose label is one of the classes (all True without a subset).
    """

    labels: np.ndarray
    keep: np.ndarray


def _is_text(values: np.ndarray) -> bool:
    return values.dtype.kind in "USO"


def _text(label: Label) -> str:
    return label if isinstance(label, str) else str(int(label))


def _mapped(y: np.ndarray, label_map: Mapping[str, Label]) -> np.ndarray:
    """Raw labels after `label_map`: all integers (int64) or all names (str)."""
    values = np.asarray(y)
    if values.ndim != 1:
        raise ValueError(f"class labels must have shape (n,), found {values.shape}")
    if not _is_text(values):
        values = integer_labels(values)
    if not label_map:
        return values.astype(str) if _is_text(values) else values.astype(np.int64)
    keys = values.astype(str) if _is_text(values) else values.astype(np.int64).astype(str)
    out = values.astype(object)
    for old, new in label_map.items():
        out[keys == old] = new
    if all(isinstance(v, str) for v in out):
        return out.astype(str)
    numbers = [v for v in out if not isinstance(v, str)]
    if len(numbers) == len(out):
        return np.array(numbers, dtype=np.int64).reshape(len(out))
    names = sorted({v for v in out if isinstance(v, str)})
    raise ValueError(
        f"label_map leaves names {', '.join(map(repr, names[:5]))} beside integer labels; "
        "map every name to an integer, or none"
    )


def fit_classes(
    y: np.ndarray,
    *,
    label_map: Mapping[str, Label] | None = None,
    classes: Sequence[Label] | None = None,
) -> ClassCoding:
    """Decide the classes from the training labels (see the module docstring for the rules).

    Args:
        y: (n,) raw training labels: integers, whole-number floats or names.
        label_map: raw label text to a new label, applied first.
        classes: keep only these labels, class i being `classes[i]`.

    Returns:
        A `ClassCoding` for `encode_labels`.

    Raises:
        ValueError: labels that are neither integers nor names, a class listed twice, or
            labels mixing names and integers after the map.
    """
    mapping = dict(label_map or {})
    values = _mapped(y, mapping)
    if classes is not None:
        names = tuple(_text(c) for c in classes)
        if len(set(names)) != len(names):
            raise ValueError(f"classes lists a label twice: {list(names)}")
        return ClassCoding(names, mapping, subset=True)
    if _is_text(values):
        return ClassCoding(tuple(sorted(set(values.tolist()))), mapping)
    return ClassCoding(None, mapping)


def encode_labels(y: np.ndarray, coding: ClassCoding) -> EncodedLabels:
    """Raw labels as class indices under `coding` (from `fit_classes` on the training labels).

    Args:
        y: (n,) raw labels.
        coding: the classes.

    Returns:
        `EncodedLabels`: indices of the kept rows and the (n,) mask of kept rows.

    Raises:
        ValueError: a name that is not one of the classes (without a subset), or names
            given to a coding of integer labels.
    """
    values = _mapped(y, coding.label_map)
    if coding.names is None:
        if _is_text(values):
            raise ValueError("expected integer labels, found names; map them with label_map")
        return EncodedLabels(values, np.ones(len(values), dtype=bool))
    text = values if _is_text(values) else values.astype(str)
    names = np.array(coding.names)
    keep = np.isin(text, names)
    if not coding.subset and not keep.all():
        unknown = sorted(set(text[~keep].tolist()))
        raise ValueError(
            f"unknown label {', '.join(map(repr, unknown[:5]))}; the classes are "
            f"{', '.join(coding.names)}"
        )
    order = np.argsort(names, kind="stable")
    index = order[np.searchsorted(names[order], text[keep])]
    return EncodedLabels(index.astype(np.int64), keep)


# ---------------------------------------------------------------------------------------------
# Regression targets


def regression_values(y: np.ndarray) -> np.ndarray:
    """Regression targets as float64 `(n, k)` (a `(n,)` column becomes `(n, 1)`).

    Raises:
        ValueError: non-numeric or non-finite values, or a shape that is not (n,) or (n, k).
    """
    values = np.asarray(y)
    if values.dtype.kind not in "iufb":
        raise ValueError(f"regression targets must be numbers, found dtype {values.dtype}")
    if values.ndim not in (1, 2):
        raise ValueError(f"regression targets must have shape (n,) or (n, k), found {values.shape}")
    values = values.astype(np.float64).reshape(len(values), -1)
    if not np.isfinite(values).all():
        raise ValueError("regression targets hold NaN or Inf")
    return values


def fit_target_scaling(y: np.ndarray) -> Standardize:
    """z-score statistics of regression targets, per output (float64), to store in the model.

    Args:
        y: (n,) or (n, k) training targets.

    Returns:
        A fitted `Standardize` with `mean` and `std` of shape (k,); `std` 1 for a constant
        output.
    """
    return Standardize(per_feature=True).fit(regression_values(y).astype(np.float32))


def scale_targets(scaling: Standardize | None, y: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Targets as the network is trained on them: `(y - mean) / std`, shaped like `y`."""
    values = regression_values(y)
    if scaling is not None:
        values = scaling.apply(values, np.dtype(np.float64))
    out = values.astype(dtype)
    return out[:, 0] if np.ndim(y) == 1 else out


def restore_targets(scaling: Standardize | None, outputs: np.ndarray) -> np.ndarray:
    """Undo `scale_targets` on network outputs: `outputs * std + mean` (float64).

    Args:
        scaling: the model's fitted target scaling, or None (outputs returned as float64).
        outputs: (n, k) network outputs.

    Returns:
        (n, k) float64 values in the units of the training targets.
    """
    values = np.asarray(outputs, dtype=np.float64)
    if scaling is None or scaling.mean is None or scaling.std is None:
        return values
    return values * scaling.std.astype(np.float64) + scaling.mean.astype(np.float64)
