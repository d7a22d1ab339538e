"""purenet: small, exact, fast multilayer perceptrons on numpy.

Immutable parameter trees, pure functions (`init`, `forward`, `loss`, `grad`, `sgd_step`),
a data pipeline of pure steps, recipes as data and one JSON file per trained model.
"""

from purenet.activations import ACTIVATIONS, OUTPUTS, Activation
from purenet.errors import (
    DataFormatError,
    DivergenceError,
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
from purenet.tree import tree_allclose, tree_equal, tree_leaves, tree_map

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OUTPUTS",
    "Activation",
    "Architecture",
    "DataFormatError",
    "Dense",
    "DivergenceError",
    "ModelFormatError",
    "Params",
    "PurenetError",
    "RecipeError",
    "__version__",
    "evaluate",
    "forward",
    "grad",
    "init",
    "labels_of",
    "loss",
    "loss_grad_and_output",
    "predict",
    "sgd_step",
    "tree_allclose",
    "tree_equal",
    "tree_leaves",
    "tree_map",
    "value_and_grad",
]
