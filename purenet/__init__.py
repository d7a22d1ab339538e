"""purenet: small, exact, fast multilayer perceptrons on numpy.

Immutable parameter trees, pure functions (`init`, `forward`, `loss`, `grad`, `sgd_step`),
a data pipeline of pure steps, recipes as data and one JSON file per trained model.
"""

from purenet.errors import (
    DataFormatError,
    DivergenceError,
    ModelFormatError,
    PurenetError,
    RecipeError,
)
from purenet.tree import tree_allclose, tree_equal, tree_leaves, tree_map

__version__ = "0.1.0"

__all__ = [
    "DataFormatError",
    "DivergenceError",
    "ModelFormatError",
    "PurenetError",
    "RecipeError",
    "__version__",
    "tree_allclose",
    "tree_equal",
    "tree_leaves",
    "tree_map",
]
