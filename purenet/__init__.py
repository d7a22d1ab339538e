"""purenet: small, exact, fast multilayer perceptrons on numpy.

Immutable parameter trees, pure functions (`init`, `forward`, `loss`, `grad`, `sgd_step`),
a data pipeline of pure steps, recipes as data and one JSON file per trained model.

The names below are imported on first use (PEP 562), so `import purenet` is quick and a
command-line Ctrl-C during start-up meets purenet's own handler, not an import in progress.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from purenet import optim
    from purenet.core.tree import tree_allclose, tree_equal, tree_leaves, tree_map
    from purenet.data.csv import read_csv
    from purenet.data.dataset import Dataset, batches, map_labels, one_hot, shuffle, split
    from purenet.data.idx import read_idx
    from purenet.data.images import load_images, to_mnist
    from purenet.data.inputs import read_inputs
    from purenet.data.load import load_dataset
    from purenet.errors import (
        DataFormatError,
        DivergenceError,
        FetchError,
        MissingExtraError,
        ModelFormatError,
        PurenetError,
        RecipeError,
    )
    from purenet.modelfile.evaluation import Evaluation, Prediction, evaluate_model, predict_inputs
    from purenet.modelfile.io import (
        describe_model,
        load_model,
        model_from_data,
        model_to_data,
        save_model,
    )
    from purenet.modelfile.model import Model, ModelMeta
    from purenet.modelfile.summary import summary
    from purenet.nn.activations import ACTIVATIONS, OUTPUTS, Activation
    from purenet.nn.dropout import DropoutMasks, dropout_masks
    from purenet.nn.init import Glorot, He, Normal
    from purenet.nn.losses import LOSSES
    from purenet.nn.metrics import Scores
    from purenet.nn.model import (
        Architecture,
        Dense,
        Params,
        evaluate,
        forward,
        grad,
        init,
        l2_penalty,
        labels_of,
        loss,
        loss_grad_and_output,
        predict,
        predict_multilabel,
        score,
        value_and_grad,
    )
    from purenet.optim.optimizers import sgd_step
    from purenet.pipeline.augment import affine, rotate, shift, warp
    from purenet.pipeline.steps import Flatten, Scale, Standardize, apply_preprocess, fit_preprocess
    from purenet.pipeline.transforms import (
        Standardizer,
        fit_standardizer,
        flatten,
        scale,
        standardize,
    )
    from purenet.plots.boundary import plot_decision_boundary
    from purenet.plots.common import save_figure
    from purenet.plots.curves import plot_convergence, plot_curves
    from purenet.plots.digits import plot_digits, show_digits
    from purenet.plots.matrices import plot_confusion, plot_first_layer
    from purenet.recipe.load import dump_recipe, load_recipe
    from purenet.recipe.schema import Recipe
    from purenet.run.plot import plot_run
    from purenet.run.runner import RunInterrupted, RunResult, run_recipe
    from purenet.training.checkpoint import Checkpoint
    from purenet.training.loop import train
    from purenet.training.reports import (
        BatchReport,
        EarlyStopping,
        EpochReport,
        KeepBest,
        Track,
        Tracked,
        TrainResult,
    )
    from purenet.training.rules import ReduceOnPlateau, clip_by_global_norm

_LAZY: dict[str, str] = {
    "ACTIVATIONS": "purenet.nn.activations",
    "Activation": "purenet.nn.activations",
    "Architecture": "purenet.nn.model",
    "BatchReport": "purenet.training.reports",
    "Checkpoint": "purenet.training.checkpoint",
    "DataFormatError": "purenet.errors",
    "Dataset": "purenet.data.dataset",
    "Dense": "purenet.nn.model",
    "DivergenceError": "purenet.errors",
    "DropoutMasks": "purenet.nn.dropout",
    "EarlyStopping": "purenet.training.reports",
    "EpochReport": "purenet.training.reports",
    "Evaluation": "purenet.modelfile.evaluation",
    "FetchError": "purenet.errors",
    "Flatten": "purenet.pipeline.steps",
    "Glorot": "purenet.nn.init",
    "He": "purenet.nn.init",
    "KeepBest": "purenet.training.reports",
    "LOSSES": "purenet.nn.losses",
    "MissingExtraError": "purenet.errors",
    "Model": "purenet.modelfile.model",
    "ModelFormatError": "purenet.errors",
    "ModelMeta": "purenet.modelfile.model",
    "Normal": "purenet.nn.init",
    "OUTPUTS": "purenet.nn.activations",
    "Params": "purenet.nn.model",
    "Prediction": "purenet.modelfile.evaluation",
    "PurenetError": "purenet.errors",
    "Recipe": "purenet.recipe.schema",
    "RecipeError": "purenet.errors",
    "ReduceOnPlateau": "purenet.training.rules",
    "RunInterrupted": "purenet.run.runner",
    "RunResult": "purenet.run.runner",
    "Scale": "purenet.pipeline.steps",
    "Scores": "purenet.nn.metrics",
    "Standardize": "purenet.pipeline.steps",
    "Standardizer": "purenet.pipeline.transforms",
    "Track": "purenet.training.reports",
    "Tracked": "purenet.training.reports",
    "TrainResult": "purenet.training.reports",
    "affine": "purenet.pipeline.augment",
    "apply_preprocess": "purenet.pipeline.steps",
    "batches": "purenet.data.dataset",
    "clip_by_global_norm": "purenet.training.rules",
    "describe_model": "purenet.modelfile.io",
    "dropout_masks": "purenet.nn.dropout",
    "dump_recipe": "purenet.recipe.load",
    "evaluate": "purenet.nn.model",
    "evaluate_model": "purenet.modelfile.evaluation",
    "fit_preprocess": "purenet.pipeline.steps",
    "fit_standardizer": "purenet.pipeline.transforms",
    "flatten": "purenet.pipeline.transforms",
    "forward": "purenet.nn.model",
    "grad": "purenet.nn.model",
    "init": "purenet.nn.model",
    "l2_penalty": "purenet.nn.model",
    "labels_of": "purenet.nn.model",
    "load_dataset": "purenet.data.load",
    "load_images": "purenet.data.images",
    "load_model": "purenet.modelfile.io",
    "load_recipe": "purenet.recipe.load",
    "loss": "purenet.nn.model",
    "loss_grad_and_output": "purenet.nn.model",
    "map_labels": "purenet.data.dataset",
    "model_from_data": "purenet.modelfile.io",
    "model_to_data": "purenet.modelfile.io",
    "one_hot": "purenet.data.dataset",
    "optim": "purenet.optim",
    "plot_confusion": "purenet.plots.matrices",
    "plot_convergence": "purenet.plots.curves",
    "plot_curves": "purenet.plots.curves",
    "plot_decision_boundary": "purenet.plots.boundary",
    "plot_digits": "purenet.plots.digits",
    "plot_first_layer": "purenet.plots.matrices",
    "plot_run": "purenet.run.plot",
    "predict": "purenet.nn.model",
    "predict_inputs": "purenet.modelfile.evaluation",
    "predict_multilabel": "purenet.nn.model",
    "read_csv": "purenet.data.csv",
    "read_idx": "purenet.data.idx",
    "read_inputs": "purenet.data.inputs",
    "rotate": "purenet.pipeline.augment",
    "run_recipe": "purenet.run.runner",
    "save_figure": "purenet.plots.common",
    "save_model": "purenet.modelfile.io",
    "scale": "purenet.pipeline.transforms",
    "score": "purenet.nn.model",
    "sgd_step": "purenet.optim.optimizers",
    "shift": "purenet.pipeline.augment",
    "show_digits": "purenet.plots.digits",
    "shuffle": "purenet.data.dataset",
    "split": "purenet.data.dataset",
    "standardize": "purenet.pipeline.transforms",
    "summary": "purenet.modelfile.summary",
    "to_mnist": "purenet.data.images",
    "train": "purenet.training.loop",
    "tree_allclose": "purenet.core.tree",
    "tree_equal": "purenet.core.tree",
    "tree_leaves": "purenet.core.tree",
    "tree_map": "purenet.core.tree",
    "value_and_grad": "purenet.nn.model",
    "warp": "purenet.pipeline.augment",
}
"""Each public name and the module that defines it (`optim`: the subpackage itself)."""


def __getattr__(name: str) -> _typing.Any:
    """A public name, imported from its module on first use and bound here for the next."""
    if name == "__version__":
        from purenet.core.checks import package_version

        value: _typing.Any = package_version()
    elif name in _LAZY:
        module = _importlib.import_module(_LAZY[name])
        value = module if _LAZY[name] == f"purenet.{name}" else vars(module)[name]
    else:
        raise AttributeError(f"module 'purenet' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def from_sklearn(estimator: object) -> "Model":
    """A purenet `Model` of a fitted scikit-learn MLP (the `sklearn` extra, imported on use).

    See `purenet.sklearn.from_sklearn`; raises `MissingExtraError` without scikit-learn.
    """
    from purenet.sklearn import from_sklearn as convert

    return convert(estimator)


__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUTS",
    "Activation",
    "Architecture",
    "BatchReport",
    "Checkpoint",
    "DataFormatError",
    "Dataset",
    "Dense",
    "DivergenceError",
    "DropoutMasks",
    "EarlyStopping",
    "EpochReport",
    "Evaluation",
    "FetchError",
    "Flatten",
    "Glorot",
    "He",
    "KeepBest",
    "MissingExtraError",
    "Model",
    "ModelFormatError",
    "ModelMeta",
    "Normal",
    "Params",
    "Prediction",
    "PurenetError",
    "Recipe",
    "RecipeError",
    "ReduceOnPlateau",
    "RunInterrupted",
    "RunResult",
    "Scale",
    "Scores",
    "Standardize",
    "Standardizer",
    "Track",
    "Tracked",
    "TrainResult",
    "__version__",
    "affine",
    "apply_preprocess",
    "batches",
    "clip_by_global_norm",
    "describe_model",
    "dropout_masks",
    "dump_recipe",
    "evaluate",
    "evaluate_model",
    "fit_preprocess",
    "fit_standardizer",
    "flatten",
    "forward",
    "from_sklearn",
    "grad",
    "init",
    "l2_penalty",
    "labels_of",
    "load_dataset",
    "load_images",
    "load_model",
    "load_recipe",
    "loss",
    "loss_grad_and_output",
    "map_labels",
    "model_from_data",
    "model_to_data",
    "one_hot",
    "optim",
    "plot_confusion",
    "plot_convergence",
    "plot_curves",
    "plot_decision_boundary",
    "plot_digits",
    "plot_first_layer",
    "plot_run",
    "predict",
    "predict_inputs",
    "predict_multilabel",
    "read_csv",
    "read_idx",
    "read_inputs",
    "rotate",
    "run_recipe",
    "save_figure",
    "save_model",
    "scale",
    "score",
    "sgd_step",
    "shift",
    "show_digits",
    "shuffle",
    "split",
    "standardize",
    "summary",
    "to_mnist",
    "train",
    "tree_allclose",
    "tree_equal",
    "tree_leaves",
    "tree_map",
    "value_and_grad",
    "warp",
]
