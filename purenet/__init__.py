"""purenet: small, exact, fast multilayer perceptrons on numpy.

Immutable parameter trees, pure functions (`init`, `forward`, `loss`, `grad`, `sgd_step`),
a data pipeline of pure steps, recipes as data and one JSON file per trained model.
"""

from purenet import optim
from purenet.core.checks import package_version as _package_version
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
from purenet.pipeline.transforms import Standardizer, fit_standardizer, flatten, scale, standardize
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

__version__ = _package_version()


def from_sklearn(estimator: object) -> Model:
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
