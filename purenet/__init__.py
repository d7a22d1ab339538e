"""purenet: small, exact, fast multilayer perceptrons on numpy.

Immutable parameter trees, pure functions (`init`, `forward`, `loss`, `grad`, `sgd_step`),
a data pipeline of pure steps, recipes as data and one JSON file per trained model.
"""

from purenet.activations import ACTIVATIONS, OUTPUTS, Activation
from purenet.augment import affine, rotate, shift, warp
from purenet.data import (
    Dataset,
    Standardizer,
    batches,
    fit_standardizer,
    flatten,
    load_dataset,
    map_labels,
    one_hot,
    read_csv,
    read_idx,
    scale,
    shuffle,
    split,
    standardize,
)
from purenet.errors import (
    DataFormatError,
    DivergenceError,
    FetchError,
    MissingExtraError,
    ModelFormatError,
    PurenetError,
    RecipeError,
)
from purenet.losses import LOSSES
from purenet.model import (
    Architecture,
    Dense,
    Params,
    evaluate,
    forward,
    grad,
    init,
    labels_of,
    loss,
    loss_grad_and_output,
    predict,
    value_and_grad,
)
from purenet.optim import sgd_step
from purenet.preprocess import Flatten, Scale, Standardize, apply_preprocess, fit_preprocess
from purenet.serialize import (
    Model,
    ModelMeta,
    describe_model,
    load_model,
    model_from_data,
    model_to_data,
    save_model,
)
from purenet.tree import tree_allclose, tree_equal, tree_leaves, tree_map

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUTS",
    "Activation",
    "Architecture",
    "DataFormatError",
    "Dataset",
    "Dense",
    "DivergenceError",
    "FetchError",
    "Flatten",
    "MissingExtraError",
    "Model",
    "ModelFormatError",
    "ModelMeta",
    "Params",
    "PurenetError",
    "RecipeError",
    "Scale",
    "Standardize",
    "Standardizer",
    "__version__",
    "affine",
    "apply_preprocess",
    "batches",
    "describe_model",
    "evaluate",
    "fit_preprocess",
    "fit_standardizer",
    "flatten",
    "forward",
    "grad",
    "init",
    "labels_of",
    "load_dataset",
    "load_model",
    "loss",
    "loss_grad_and_output",
    "map_labels",
    "model_from_data",
    "model_to_data",
    "one_hot",
    "predict",
    "read_csv",
    "read_idx",
    "rotate",
    "save_model",
    "scale",
    "sgd_step",
    "shift",
    "shuffle",
    "split",
    "standardize",
    "tree_allclose",
    "tree_equal",
    "tree_leaves",
    "tree_map",
    "value_and_grad",
    "warp",
]
