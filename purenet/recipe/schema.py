"""The recipe's frozen attrs schema: data sources, pipeline, model, optimizer, training and output
sections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import attrs
import numpy as np

from purenet.core.checks import NON_NEGATIVE, FieldError, Interval
from purenet.data.registry import DATASETS
from purenet.errors import RecipeError
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.init import InitScheme
from purenet.nn.losses import LOSSES
from purenet.nn.model import INIT_SCHEMES, Architecture
from purenet.optim.optimizers import Optimizer
from purenet.pipeline.steps import (
    PreprocessStep,
    is_fitted,
)
from purenet.plots.common import FIGURES
from purenet.recipe.augment_section import Affine, Rotate, Shift
from purenet.recipe.fields import one_of as _one_of
from purenet.recipe.fields import satisfies as _satisfies
from purenet.recipe.fields import suggest
from purenet.recipe.space import SweepSpec
from purenet.recipe.train_section import TrainSpec
from purenet.training.reports import locate_tracked
from purenet.training.scoring import check_monitor

PLOTS = FIGURES
"""Plot names accepted in `[output] plots`: the figures of `purenet.run.plot.plot_run`."""

DATASET_NAMES = tuple(DATASETS)

FITTED = "not part of a recipe; fit_preprocess fills it in from the training inputs"
"""Why a recipe refuses a fitted field of a preprocessing step."""


_AT_LEAST_0 = _satisfies(Interval(low=0, integer=True))
_NON_NEGATIVE = _satisfies(NON_NEGATIVE)
_FRACTION_BELOW_1 = _satisfies(Interval(0.0, 1.0, closed="left"))


# ---------------------------------------------------------------------------------------------
# Data sources


def _resolve(path: str, base_dir: Path) -> str:
    expanded = Path(path).expanduser()
    return str(expanded if expanded.is_absolute() else base_dir / expanded)


@attrs.frozen
class DatasetSource:
    """A named data set split, written `"name:split"` (e.g. `"mnist:train"`).

    Attributes:
        name: `mnist`, `fashion-mnist` or `microchips`.
        split: a split of that data set (`train`, `train10k`, `test`).
    """

    kind: ClassVar[str] = "dataset"
    name: str = attrs.field(validator=_one_of(DATASET_NAMES, "data set"))
    split: str = attrs.field()

    @split.validator
    def _check_split(self, attribute: attrs.Attribute[Any], value: str) -> None:
        # Attrs runs validators in field order: an unknown name has been refused already.
        splits = DATASETS[self.name].splits
        if value not in splits:
            raise FieldError(
                "split", f"unknown split {value!r} of {self.name}; known: {', '.join(splits)}"
            )

    @property
    def display_name(self) -> str:
        """How messages name the source: `mnist:test`."""
        return f"{self.name}:{self.split}"

    def resolved(self, base_dir: Path) -> DatasetSource:
        """The source itself: a named data set has no paths."""
        return self


@attrs.frozen
class IdxSource:
    """A pair of IDX files (gzip or raw): images `(n, h, w)` and labels `(n,)`.

    Attributes:
        images: path of the images file; relative paths resolve against the recipe's folder.
        labels: path of the labels file; same rule.
    """

    kind: ClassVar[str] = "idx"
    images: str
    labels: str

    @property
    def display_name(self) -> str:
        """How messages name the source: the images file."""
        return self.images

    def resolved(self, base_dir: Path) -> IdxSource:
        """The source with relative paths taken against `base_dir` (`~` expanded)."""
        return IdxSource(_resolve(self.images, base_dir), _resolve(self.labels, base_dir))


Columns = str | tuple[str, ...]
"""Label column(s) of a CSV source: `"first"`, `"last"`, a name, or a list of names."""

Label = int | str
"""A raw class label in a recipe: an integer (`10`) or a name (`"setosa"`)."""


@attrs.frozen
class CsvSource:
    """A table of numeric features and label column(s) (see `purenet.data.csv.read_csv`).

    Attributes:
        path: the file; relative paths resolve against the recipe's folder.
        label: `"first"`, `"last"` or a column name; a list of names for several target
            columns (regression with several outputs, or a 0/1 multi-label matrix).
        header: whether the first line is a header; absent: detected.
        delimiter: the field separator.
    """

    kind: ClassVar[str] = "csv"
    path: str
    label: Columns = attrs.field(default="first")
    header: bool | None = None
    delimiter: str = ","

    @label.validator
    def _check_label(self, attribute: attrs.Attribute[Any], value: Columns) -> None:
        if isinstance(value, tuple) and (not value or len(set(value)) != len(value)):
            raise FieldError("label", f"expected distinct column names, found {list(value)}")

    @property
    def display_name(self) -> str:
        """How messages name the source: the file."""
        return self.path

    @property
    def column_names(self) -> tuple[str, ...] | None:
        """The label columns' names when the recipe names them, else None."""
        names = (self.label,) if isinstance(self.label, str) else self.label
        return None if any(n in ("first", "last") for n in names) else names

    def resolved(self, base_dir: Path) -> CsvSource:
        """The source with a relative path taken against `base_dir` (`~` expanded)."""
        return attrs.evolve(self, path=_resolve(self.path, base_dir))


@attrs.frozen
class FilesSource:
    """Features and labels in two files (`purenet.data.inputs.read_inputs` / `read_targets`).

    Attributes:
        features: IDX, NPY or CSV of inputs, one sample per row (or image).
        labels: IDX, NPY or CSV of labels or targets: `(n,)` class labels (numbers or
            names), values, or `(n, k)` targets; relative paths resolve as `features`.
        header: for a CSV labels file, whether its first line is a header; absent: detected.
    """

    kind: ClassVar[str] = "files"
    features: str
    labels: str
    header: bool | None = None

    @property
    def display_name(self) -> str:
        """How messages name the source: the features file."""
        return self.features

    def resolved(self, base_dir: Path) -> FilesSource:
        """The source with relative paths taken against `base_dir` (`~` expanded)."""
        return attrs.evolve(
            self, features=_resolve(self.features, base_dir), labels=_resolve(self.labels, base_dir)
        )


Source = DatasetSource | IdxSource | CsvSource | FilesSource
"""Where a data set comes from."""


@attrs.frozen
class DataSpec:
    """`[data]`: the training and test sets, and how their labels become classes.

    Attributes:
        train: the training source.
        test: the test source, scored after every epoch (the test curve, never used for a
            decision) and evaluated after training; absent: no test evaluation.
        valid_fraction: share of the training set held out for validation, in [0, 1).
        labels: display names of the classes (or of the outputs of a regression or
            multi-label model), in order; absent: the names in the data (class names
            sorted, or the label columns a CSV source names), else "0", "1", ...
        label_map: raw label (as text: `"10"`, `"yes"`) to a new label, applied first to
            every set: `{10 = 0}` for the digit 0 labelled 10, `{yes = 1, no = 0}`.
        classes: keep only the rows of these labels, class i being `classes[i]`
            (`[3, 8]`, `["setosa", "virginica"]`); absent: every label.
        labels: display names of the classes, in class order; absent: "0", "1", ...
        valid: a validation source of its own (instead of `valid_fraction`).
    """

    train: Source
    test: Source | None = None
    valid_fraction: float = attrs.field(default=0.0, validator=_FRACTION_BELOW_1)
    labels: tuple[str, ...] | None = attrs.field(default=None)
    label_map: dict[str, Label] = attrs.field(factory=dict)
    classes: tuple[Label, ...] | None = attrs.field(default=None)
    valid: Source | None = None

    @classes.validator
    def _check_classes(
        self, attribute: attrs.Attribute[Any], value: tuple[Label, ...] | None
    ) -> None:
        texts = [str(c) for c in value or ()]
        if value is not None and (len(texts) < 2 or len(set(texts)) != len(texts)):
            raise FieldError(
                "classes", f"expected at least two distinct labels, found {list(value)}"
            )

    @labels.validator
    def _check_labels(self, attribute: attrs.Attribute[Any], value: tuple[str, ...] | None) -> None:
        # Found at load, not when the trained model is saved at the end of the run.
        seen: set[str] = set()
        for index, name in enumerate(value or ()):
            if name in seen:
                raise FieldError(f"labels[{index}]", f"duplicate class name {name!r}")
            seen.add(name)

    def __attrs_post_init__(self) -> None:
        if self.valid is not None and self.valid_fraction > 0:
            raise FieldError(
                "valid", "a validation source and valid_fraction > 0 both given; choose one"
            )

    @property
    def has_valid(self) -> bool:
        """Whether training has validation data (a source or a fraction)."""
        return self.valid is not None or self.valid_fraction > 0


Augmentation = Rotate | Shift | Affine
"""An image augmentation; needs image data `(n, h, w)`."""


def _to_image_shape(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, list | tuple) else value


@attrs.frozen
class ImageShape:
    """`{kind = "image", shape = [28, 28]}`: the raw rows are flat images of this shape.

    A recipe step, not a model step: it comes first in `[pipeline] steps` and turns the raw
    `(n, h * w)` rows of a table (a CSV MNIST) into `(n, h, w)` images before anything else,
    so they can be augmented, drawn and flattened like IDX images; the model file then holds
    the same steps as for IDX data and takes either form of input.
    """

    kind: ClassVar[str] = "image"
    shape: tuple[int, ...] = attrs.field(converter=_to_image_shape)

    @shape.validator
    def _check_shape(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not (
            isinstance(value, tuple)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
        ):
            raise FieldError(
                "shape", f"expected [height, width], two integers >= 1, found {value!r}"
            )

    def apply(self, x: np.ndarray) -> np.ndarray:
        """`(n, h * w)` rows (or `(n, h, w)` images) as `(n, h, w)` images.

        Raises:
            ValueError: rows of another width, or images of another shape.
        """
        x = np.asarray(x)
        h, w = self.shape
        if x.ndim == 3 and x.shape[1:] == (h, w):
            return x
        if x.ndim == 2 and x.shape[1] == h * w:
            return x.reshape(len(x), h, w)
        raise ValueError(
            f"image shape {list(self.shape)} needs rows of {h * w} values, found data of "
            f"shape {x.shape}"
        )


RecipeStep = PreprocessStep | ImageShape
"""A step of `[pipeline] steps`: a model's preprocessing step, or the leading `image` step."""


@attrs.frozen
class Targets:
    """One-hot targets with `on` for the true class and `off` elsewhere (0.99 / 0.01)."""

    on: float = 1.0
    off: float = 0.0


@attrs.frozen
class PipelineSpec:
    """`[pipeline]`: how raw data becomes model input.

    The steps are the specs of `purenet.pipeline.steps` (`Scale`, `Standardize`, `Flatten`),
    unfitted: a recipe says what to fit, `fit_preprocess` fits it on the training inputs and
    the model file keeps the fitted steps. So a recipe refuses the fitted fields
    (`Standardize.mean` / `std`, `Flatten.input_shape`): written in the file, they are a
    path-qualified `RecipeError` (`$.pipeline.steps[1].input_shape: ...`); given to the
    constructor, fitted steps raise too, so a dumped recipe never holds arrays or nulls.

    Attributes:
        steps: preprocessing steps, applied in order.
        targets: one-hot targets; absent: integer labels (the loss one-hot encodes them).
        augment: image augmentations of the training set.
        standardize_targets: regression only: train on z-scored targets (mean and std per
            output, fitted on the training targets, stored in the model, undone by predict).
    """

    steps: tuple[RecipeStep, ...] = attrs.field(default=())
    targets: Targets | None = None
    augment: tuple[Augmentation, ...] = ()
    standardize_targets: bool = False

    @property
    def image(self) -> ImageShape | None:
        """The leading `image` step, or None."""
        return self.steps[0] if self.steps and isinstance(self.steps[0], ImageShape) else None

    @property
    def model_steps(self) -> tuple[PreprocessStep, ...]:
        """The steps a model keeps: all but the leading `image` step."""
        return tuple(step for step in self.steps if not isinstance(step, ImageShape))

    def raw_images(self, x: np.ndarray, where: str) -> np.ndarray:
        """Raw data as the `image` step declares them (unchanged without one).

        Raises:
            RecipeError: data of a width the image shape does not fit (naming the step).
        """
        if self.image is None:
            return x
        try:
            return self.image.apply(x)
        except ValueError as exc:
            raise RecipeError(f"{where}: $.pipeline.steps[0]: {exc}") from None

    @steps.validator
    def _check_steps(self, attribute: attrs.Attribute[Any], value: tuple[Any, ...]) -> None:
        for i, step in enumerate(value):
            if isinstance(step, ImageShape):
                if i:
                    raise FieldError(f"steps[{i}]", "the image step must come first")
                continue
            if is_fitted(step):
                fields = ", ".join(step.fitted_fields)
                raise FieldError(f"steps[{i}]", f"{step.kind} holds fitted {fields}, {FITTED}")


# ---------------------------------------------------------------------------------------------
# Model, training, output


@attrs.frozen
class ModelSpec:
    """`[model]`: the `purenet.Architecture` fields plus the initialization scheme.

    Absent options take the architecture's defaults (and a recipe written back leaves them
    out): ReLU, biases everywhere, no dropout, Huber threshold 1.

    Attributes:
        sizes: layer widths, input first.
        hidden: hidden activation, a key of `purenet.ACTIVATIONS`, or a list with one per
            hidden layer (`["relu", "tanh"]`).
        output: `softmax`, `sigmoid` or `identity`.
        loss: `cross_entropy`, `mse`, or for identity outputs `mae` and `huber`.
        init: `he`, `glorot`, `normal` or `small`, or a table `{kind = "normal", std = 1.0}`
            (`he`, `glorot`, `normal` with an optional `std`); absent: He for ReLU-like,
            else Glorot.
        bias: whether the layers have biases: one flag, or a list with one per layer.
        dropout: the fraction of each hidden layer's units dropped in training: one rate,
            or a list with one per hidden layer.
        input_dropout: the fraction of inputs dropped in training.
        huber_delta: the Huber loss' threshold (`loss = "huber"` only).
    """

    sizes: tuple[int, ...] = attrs.field()
    hidden: str | tuple[str, ...] = attrs.field(default="relu")
    output: str = attrs.field(
        default="softmax", validator=_one_of(tuple(OUTPUTS), "output activation")
    )
    loss: str = "cross_entropy"
    init: str | InitScheme | None = attrs.field(default=None)
    bias: bool | tuple[bool, ...] | None = None
    dropout: float | tuple[float, ...] | None = None
    input_dropout: float | None = None
    huber_delta: float | None = None

    @sizes.validator
    def _check_sizes(self, attribute: attrs.Attribute[Any], value: tuple[int, ...]) -> None:
        if len(value) < 2 or min(value) < 1:
            raise FieldError(
                "sizes", f"expected at least two positive layer widths, found {list(value)}"
            )

    @hidden.validator
    def _check_hidden(self, attribute: attrs.Attribute[Any], value: str | tuple[str, ...]) -> None:
        check = _one_of(tuple(ACTIVATIONS), "activation")
        if isinstance(value, str):
            check(self, attribute, value)
            return
        for i, name in enumerate(value):
            try:
                check(self, attribute, name)
            except FieldError as error:
                raise FieldError(f"hidden[{i}]", error.problem) from None

    @init.validator
    def _check_init(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, str):
            _one_of(INIT_SCHEMES, "init scheme")(self, attribute, value)

    def __attrs_post_init__(self) -> None:
        if (self.output, self.loss) not in LOSSES:
            pairs = ", ".join(f"{o} x {loss}" for o, loss in LOSSES)
            raise FieldError(
                "loss",
                f"unsupported output x loss: {self.output} x {self.loss}; supported: {pairs}",
            )
        # Each option alone against the sizes, so a fault names its own key.
        for name, value in self._options().items():
            try:
                Architecture(self.sizes, output=self.output, loss=self.loss, **{name: value})
            except ValueError as exc:
                raise FieldError(name, str(exc).removeprefix(f"{name}: ")) from None

    def _options(self) -> dict[str, Any]:
        options = {
            "hidden": self.hidden,
            "bias": self.bias,
            "dropout": self.dropout,
            "input_dropout": self.input_dropout,
            "huber_delta": self.huber_delta,
        }
        return {name: value for name, value in options.items() if value is not None}

    def architecture(self) -> Architecture:
        """The `purenet.Architecture` this section describes."""
        return Architecture(self.sizes, output=self.output, loss=self.loss, **self._options())


@attrs.frozen
class OutputSpec:
    """`[output]`: where the run folder goes and which plots to draw.

    Attributes:
        dir: the run folder, relative to the working directory; `load_recipe` defaults it
            to `runs/<recipe file stem>`.
        plots: names from `PLOTS`.
        compact: write `model.json` (and `model-last.json`) with base64 arrays (format
            version 2: exact, about a third of the size for float32) instead of decimals.
    """

    dir: str | None = None
    plots: tuple[str, ...] = attrs.field(default=())
    compact: bool = False

    @plots.validator
    def _check_plots(self, attribute: attrs.Attribute[Any], value: tuple[str, ...]) -> None:
        for i, name in enumerate(value):
            if name not in PLOTS:
                raise FieldError(f"plots[{i}]", f"unknown plot {name!r}{suggest(name, PLOTS)}")


@attrs.frozen
class Recipe:
    """A whole recipe: data, pipeline, model, optimizer, training and output (and, for
    `purenet sweep`, the `[sweep]` section of `purenet.recipe.space`).

    Attributes:
        source: the file the recipe was loaded from (`load_recipe`), or the `source` given to
            `recipe_from_data`; None for a recipe built in code. Not part of the recipe's
            data: it is left out of `==`, of `dump_recipe` and of the keys a file may hold,
            and it serves the messages of faults found later (`purenet.run.runner`).
    """

    data: DataSpec
    model: ModelSpec
    optimizer: Optimizer
    train: TrainSpec
    pipeline: PipelineSpec = PipelineSpec()
    output: OutputSpec = OutputSpec()
    sweep: SweepSpec | None = None
    source: str | None = attrs.field(
        default=None, eq=False, repr=False, kw_only=True, metadata={"recipe_key": False}
    )

    @property
    def where(self) -> str:
        """How messages name the recipe: its file (`source`), else `recipe`."""
        return self.source or "recipe"

    def __attrs_post_init__(self) -> None:
        # Tracked scalars must parse and exist in the model [model] describes: checked here
        # only, where the message can name the entry, not when training starts.
        arch = self.model.architecture()
        for i, path in enumerate(self.train.track):
            try:
                locate_tracked(path, arch)
            except ValueError as exc:
                raise FieldError(f"train.track[{i}]", str(exc)) from None
        self._check_training_options(arch)

    def _check_training_options(self, arch: Architecture) -> None:
        """Refuse training options that make no sense for this model and data, by key."""
        train = self.train
        early, plateau = train.early_stopping, train.reduce_on_plateau
        monitors = (
            ("train.early_stopping.monitor", None if early is None else early.monitor),
            ("train.keep_best", train.keep_best_monitor()),
            ("train.reduce_on_plateau.monitor", None if plateau is None else plateau.monitor),
        )
        for key, monitor in monitors:
            if monitor is not None:
                try:
                    check_monitor(key.split(".")[1], monitor, arch, self.data.has_valid)
                except ValueError as exc:
                    raise FieldError(key, str(exc)) from None
        if train.test_curve and self.data.test is None:
            raise FieldError("train.test_curve", "needs a test set ([data] test)")
        if train.class_weights is not None and arch.is_regression:
            raise FieldError(
                "train.class_weights", "a regression model (identity output) has no classes"
            )
