"""Loading a recipe's data sources: named data set splits, IDX pairs and CSV tables.

Example:
    >>> from purenet.recipe.schema import DatasetSource
    >>> from purenet.run.sources import load_source, source_name
    >>> test = load_source(DatasetSource("mnist", "test"))  # doctest: +SKIP
    >>> test.x.shape, source_name(DatasetSource("mnist", "test"))  # doctest: +SKIP
    ((10000, 28, 28), 'mnist:test')
"""

from __future__ import annotations

import os

from purenet.data.csv import read_csv
from purenet.data.dataset import Dataset
from purenet.data.idx import read_idx_pair
from purenet.data.inputs import read_inputs, read_targets
from purenet.data.load import check_data_dir, load_dataset
from purenet.errors import DataFormatError, ModelFormatError
from purenet.modelfile.model import Model
from purenet.recipe.load import recipe_from_data
from purenet.recipe.schema import DatasetSource, FilesSource, IdxSource, Recipe, Source


def load_source(source: Source, *, data_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Load a recipe data source as raw arrays (`Dataset(x, y)`).

    Args:
        source: a named data set split or a file source.
        data_dir: an existing folder to look for named data sets in first (checked for
            every source, so a wrong folder is never ignored silently).

    Raises:
        PurenetError: a `data_dir` that is not an existing folder, a data set that is
            nowhere on disk and cannot be fetched, or a malformed file (`DataFormatError`
            naming the file, or features and labels files of different lengths).
    """
    check_data_dir(data_dir)
    if isinstance(source, DatasetSource):
        return load_dataset(source.name, source.split, data_dir=data_dir)
    if isinstance(source, IdxSource):
        return read_idx_pair(source.images, source.labels)
    if isinstance(source, FilesSource):
        x = read_inputs(source.features)
        y = read_targets(source.labels, header=source.header)
        if len(x) != len(y):
            raise DataFormatError(
                f"{source.labels}: {len(y)} labels for the {len(x)} samples of {source.features}"
            )
        return Dataset(x, y)
    return read_csv(
        source.path,
        label=source.label,
        header=source.header,
        delimiter=source.delimiter,
    )


def source_name(source: Source | None) -> str:
    """A short name of a source for messages: `mnist:test` or the file path."""
    return "test data" if source is None else source.display_name


def stored_recipe(model: Model, *, source: str = "model") -> Recipe:
    """The recipe stored in a model's meta.

    Raises:
        ModelFormatError: the model holds no recipe.
        RecipeError: the stored recipe is invalid.
    """
    recipe_data = model.meta.recipe
    if recipe_data is None:
        raise ModelFormatError(
            f"{source}: $.meta.recipe: the model holds no recipe; name the data to use"
        )
    return recipe_from_data(recipe_data, source=f"{source}: $.meta.recipe")


def recipe_test_source(model: Model, *, source: str = "model") -> Source:
    """The test source (else the training source) of the recipe stored in a model's meta.

    Raises:
        ModelFormatError: the model holds no recipe.
        RecipeError: the stored recipe is invalid.
    """
    recipe = stored_recipe(model, source=source)
    return recipe.data.test if recipe.data.test is not None else recipe.data.train
