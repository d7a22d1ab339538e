"""The names scikit-learn and purenet give the same activations (one table, both directions)."""

from __future__ import annotations

ACTIVATION_NAMES: dict[str, str] = {
    "identity": "identity",
    "logistic": "sigmoid",
    "tanh": "tanh",
    "relu": "relu",
}
"""scikit-learn's hidden activations by name, to purenet's names (`purenet.ACTIVATIONS`)."""

OUTPUT_NAMES: dict[str, str] = {"softmax": "softmax", "sigmoid": "logistic", "identity": "identity"}
"""purenet's output activations, to scikit-learn's `out_activation_` names."""


def purenet_activation(name: str | tuple[str, ...]) -> str | tuple[str, ...]:
    """purenet's name for a scikit-learn activation name, or for each of a tuple of names
    (one per hidden layer); other names pass unchanged.

    Example:
        >>> purenet_activation("logistic"), purenet_activation(("leaky_relu", "logistic"))
        ('sigmoid', ('leaky_relu', 'sigmoid'))
    """
    if isinstance(name, tuple):
        return tuple(ACTIVATION_NAMES.get(item, item) for item in name)
    return ACTIVATION_NAMES.get(name, name)


def sklearn_activation(name: str) -> str | None:
    """scikit-learn's name for a purenet hidden activation, or None if it has none.

    Example:
        >>> sklearn_activation("sigmoid"), sklearn_activation("elu")
        ('logistic', None)
    """
    return {value: key for key, value in ACTIVATION_NAMES.items()}.get(name)
