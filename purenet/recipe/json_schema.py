"""The recipe's JSON Schema (draft 2020-12), generated from the attrs schema in `recipe.schema`.

A new section or field of `Recipe` appears in the schema with no change here; this module only
adds what the types do not say: a data set source written `"name:split"`, the registries'
names and the validators' bounds.
"""

from __future__ import annotations

from typing import Any

from purenet.data.registry import DATASETS
from purenet.exchange.schemas import attrs_json_schema
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.init import INIT_SPECS
from purenet.nn.losses import LOSSES
from purenet.nn.model import INIT_SCHEMES
from purenet.recipe.augment_section import Affine, Rotate, Shift
from purenet.recipe.schema import (
    PLOTS,
    DatasetSource,
    DataSpec,
    ModelSpec,
    OutputSpec,
    Recipe,
    TrainSpec,
)


def recipe_json_schema() -> dict[str, Any]:
    """The JSON Schema of a recipe's data (a TOML recipe as parsed, or a JSON recipe).

    Returns:
        The schema as JSON-ready data: sections, keys (unknown ones refused), types, the
        tagged unions on `kind`, the names the registries accept and the validators' bounds.
        `load_recipe` checks more (a split of the named data set, tracked parameters that
        exist, an output and loss that go together).

    Example:
        >>> recipe_json_schema()["required"]
        ['data', 'model', 'optimizer', 'train']
    """
    sources = [f"{name}:{split}" for name, spec in DATASETS.items() for split in spec.splits]
    at_least_0 = {"minimum": 0}
    at_least_1 = {"minimum": 1}
    rate = {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    field_schemas: dict[tuple[type, str], dict[str, Any]] = {
        (DataSpec, "valid_fraction"): {"minimum": 0, "exclusiveMaximum": 1},
        (ModelSpec, "sizes"): {"items": {"type": "integer", "minimum": 1}, "minItems": 2},
        (ModelSpec, "hidden"): _one_or_per_layer({"enum": sorted(ACTIVATIONS)}),
        (ModelSpec, "output"): {"enum": sorted(OUTPUTS)},
        (ModelSpec, "loss"): {"enum": sorted({loss for _, loss in LOSSES})},
        (ModelSpec, "init"): {
            "anyOf": [
                {"enum": [*INIT_SCHEMES, None]},
                {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": list(INIT_SPECS)},
                        "std": {"type": ["number", "null"], "exclusiveMinimum": 0},
                    },
                    "required": ["kind"],
                    "additionalProperties": False,
                },
            ]
        },
        (ModelSpec, "bias"): _one_or_per_layer({"type": "boolean"}),
        (ModelSpec, "dropout"): _one_or_per_layer(rate),
        (ModelSpec, "input_dropout"): rate,
        (ModelSpec, "huber_delta"): {"type": "number", "exclusiveMinimum": 0},
        (TrainSpec, "clip_norm"): {"type": "number", "exclusiveMinimum": 0},
        (TrainSpec, "class_weights"): {
            "type": "object",
            "additionalProperties": {"type": "number", "minimum": 0},
        },
        (TrainSpec, "epochs"): at_least_1,
        (TrainSpec, "batch_size"): {
            "anyOf": [{"type": "integer", "minimum": 1}, {"const": "full"}]
        },
        (TrainSpec, "l2"): at_least_0,
        (TrainSpec, "checkpoint_every"): at_least_1,
        (TrainSpec, "checkpoint_seconds"): {"type": "number", "exclusiveMinimum": 0},
        (TrainSpec, "dtype"): {"enum": ["float32", "float64"]},
        (TrainSpec, "schedule_per"): {"enum": ["epoch", "batch"]},
        (TrainSpec, "track_every"): {"enum": ["epoch", "step"]},
        (OutputSpec, "plots"): {"items": {"enum": list(PLOTS)}},
        (Rotate, "max_degrees"): at_least_0,
        (Rotate, "copies"): at_least_0,
        (Shift, "max_pixels"): at_least_0,
        (Shift, "copies"): at_least_0,
        (Affine, "copies"): at_least_0,
    }
    return attrs_json_schema(
        Recipe,
        title="purenet recipe",
        type_schemas={
            DatasetSource: {
                "type": "string",
                "enum": sources,
                "description": "a named data set split, 'name:split'",
            }
        },
        field_schemas=field_schemas,
        skip_field=lambda field: field.metadata.get("recipe_key") is False,
    )


def _one_or_per_layer(one: dict[str, Any]) -> dict[str, Any]:
    """A value for every layer, or a list with one per layer."""
    return {"anyOf": [one, {"type": "array", "items": one, "minItems": 1}]}
