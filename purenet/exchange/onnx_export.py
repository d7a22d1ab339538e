"""ONNX export: one graph from raw inputs to probabilities and labels (the `onnx` extra).

The graph takes the model's *raw* inputs (`(N, 28, 28)` pixel values 0..255 for an MNIST model,
`(N, 2)` test scores for microchips) with a dynamic batch size, applies the model's fitted
preprocessing (`scale` as Mul and Add, `standardize` as Sub and Div, `flatten` as Flatten), the
dense layers (Gemm) with their activations and the output activation, and has two outputs:

- `probabilities` (`outputs` for an identity output): `(N, sizes[-1])` in the model's dtype;
- `label`: `(N,)` int64, the predicted class (argmax, or `p > 0.5` for one sigmoid unit); absent
  for an identity output.

The class names, the architecture, the preprocessing and the metadata are kept as JSON in the
graph's `metadata_props` (`purenet.labels`, `purenet.architecture`, `purenet.preprocess`,
`purenet.meta`), so `purenet import` reads a purenet-made graph back whole. Element-wise steps
are computed in the model's dtype in the same order as purenet's, so they are bit-identical;
the matrix products differ from numpy's only by summation order (about 1e-7 relative in
float32).

Example:
    >>> from purenet.exchange.onnx_export import export_onnx
    >>> export_onnx("model.onnx", load_model("model.json"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np

from purenet.core.atomic import atomic_write
from purenet.errors import ModelFormatError, require_extra
from purenet.modelfile.io import converter
from purenet.modelfile.model import Model
from purenet.nn.model import forward
from purenet.pipeline.steps import Flatten, Scale, Standardize, apply_preprocess

OPSET = 17
"""The ai.onnx opset of exported graphs (Softmax over the last axis; onnxruntime >= 1.13)."""

IR_VERSION = 8
"""The ONNX IR version of exported graphs: the oldest that carries opset 17, for old runtimes."""

_HIDDEN_OPS: dict[str, tuple[str, dict[str, float]]] = {
    "sigmoid": ("Sigmoid", {}),
    "tanh": ("Tanh", {}),
    "relu": ("Relu", {}),
    "leaky_relu": ("LeakyRelu", {"alpha": 0.01}),
    "softplus": ("Softplus", {}),
    "elu": ("Elu", {"alpha": 1.0}),
}
"""Hidden activations with one ONNX operator (identity has none; silu is x * Sigmoid(x); float64
models use `_COMPOSED`)."""

TOLERANCE = 1e-5
"""Largest difference between onnxruntime's and purenet's outputs `export_onnx` accepts."""


def raw_input_shape(model: Model) -> tuple[int, ...]:
    """The per-sample shape of the model's raw inputs, as far as its steps fix it.

    Returns:
        `Flatten.input_shape` of the first fitted flatten step, else the shape of per-feature
        `standardize` statistics, else `(sizes[0],)`.
    """
    for step in model.preprocess:
        if isinstance(step, Flatten) and step.input_shape is not None:
            return step.input_shape
        if isinstance(step, Standardize) and step.mean is not None and step.mean.shape:
            return tuple(step.mean.shape)
    return (model.arch.sizes[0],)


class _Graph:
    """Nodes and initializers being appended, with fresh value names."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(np.asarray(value, self.dtype), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, **attributes: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name


def _preprocess_nodes(graph: _Graph, model: Model, x: str) -> str:
    dtype = graph.dtype.type
    for i, step in enumerate(model.preprocess):
        if isinstance(step, Scale):
            # The same two roundings as purenet.pipeline.transforms.scale: x * factor + low.
            factor = dtype((step.high - step.low) / step.max_value)
            scaled = graph.node(
                "Mul", [x, graph.constant(f"scale{i}_factor", factor)], f"scale{i}_mul"
            )
            x = graph.node(
                "Add", [scaled, graph.constant(f"scale{i}_low", dtype(step.low))], f"scale{i}"
            )
        elif isinstance(step, Standardize):
            if step.mean is None or step.std is None:
                raise ModelFormatError(f"$.preprocess[{i}]: standardize has no statistics")
            mean = graph.constant(f"standardize{i}_mean", step.mean)
            std = graph.constant(f"standardize{i}_std", step.std)
            centred = graph.node("Sub", [x, mean], f"standardize{i}_sub")
            x = graph.node("Div", [centred, std], f"standardize{i}")
        else:
            x = graph.node("Flatten", [x], f"flatten{i}", axis=1)
    return x


def _layer_nodes(graph: _Graph, model: Model, x: str) -> str:
    # Dropout only acts in training (inverted dropout): inference uses the weights as they are.
    for i, (layer, hidden) in enumerate(
        zip(model.params, model.arch.layer_activations, strict=True)
    ):
        inputs = [x, graph.constant(f"layers{i}_w", layer.w)]
        if layer.b.size:  # a layer without bias holds b of shape (0,)
            inputs.append(graph.constant(f"layers{i}_b", layer.b))
        x = graph.node("Gemm", inputs, f"layers{i}_z")
        if i == len(model.params) - 1:
            break
        name = f"layers{i}_a"
        if hidden in _COMPOSED and graph.dtype == np.float64:
            x = _COMPOSED[hidden](graph, x, name)
        elif hidden in _HIDDEN_OPS:
            op, attributes = _HIDDEN_OPS[hidden]
            x = graph.node(op, [x], name, **attributes)
        elif hidden in ("silu", "swish"):
            x = graph.node("Mul", [x, graph.node("Sigmoid", [x], f"{name}_gate")], name)
    return x


def _leaky_relu(graph: _Graph, z: str, name: str) -> str:
    slope = graph.constant(f"{name}_slope", np.array(0.01))
    return graph.node("Max", [z, graph.node("Mul", [z, slope], f"{name}_mul")], name)


def _softplus(graph: _Graph, z: str, name: str) -> str:
    # max(z, 0) + log(1 + exp(-|z|)): never overflows.
    zero = graph.constant(f"{name}_zero", np.array(0.0))
    one = graph.constant(f"{name}_one", np.array(1.0))
    negative = graph.node("Neg", [graph.node("Abs", [z], f"{name}_abs")], f"{name}_neg")
    tail = graph.node("Add", [one, graph.node("Exp", [negative], f"{name}_exp")], f"{name}_sum")
    log = graph.node("Log", [tail], f"{name}_log")
    return graph.node("Add", [graph.node("Max", [z, zero], f"{name}_pos"), log], name)


def _elu(graph: _Graph, z: str, name: str) -> str:
    zero = graph.constant(f"{name}_zero", np.array(0.0))
    one = graph.constant(f"{name}_one", np.array(1.0))
    exp = graph.node("Exp", [graph.node("Min", [z, zero], f"{name}_min")], f"{name}_exp")
    below = graph.node("Sub", [exp, one], f"{name}_below")
    above = graph.node("Greater", [z, zero], f"{name}_above")
    return graph.node("Where", [above, z, below], name)


_COMPOSED = {"leaky_relu": _leaky_relu, "softplus": _softplus, "elu": _elu}
"""Float64 versions from basic operators: onnxruntime has no double LeakyRelu, Softplus or Elu."""


def model_to_onnx(model: Model) -> Any:
    """Build the ONNX graph of a model, from raw inputs to probabilities and labels.

    Args:
        model: a purenet model (float32 or float64).

    Returns:
        An `onnx.ModelProto` (opset `OPSET`), checked with `onnx.checker`; its input `input`
        is `(N, *raw_input_shape(model))` in the model's dtype.

    Raises:
        MissingExtraError: `onnx` is not installed (the `onnx` extra).
    """
    require_extra("onnx", "onnx")
    import onnx
    from onnx import helper

    dtype = model.params[0].w.dtype
    elem = helper.np_dtype_to_tensor_dtype(dtype)
    graph = _Graph(dtype)
    x = _layer_nodes(graph, model, _preprocess_nodes(graph, model, "input"))
    k = model.arch.sizes[-1]
    output = "outputs" if model.arch.output == "identity" else "probabilities"
    activation = {"softmax": "Softmax", "sigmoid": "Sigmoid", "identity": "Identity"}
    scaling = model.targets
    if scaling is not None and scaling.std is not None and scaling.mean is not None:
        # Targets were standardized for training: undo it, as predict does.
        scaled = graph.node("Identity", [x], "scaled_outputs")
        std = graph.constant("target_std", scaling.std)
        unscaled = graph.node("Mul", [scaled, std], "unscaled_outputs")
        graph.node("Add", [unscaled, graph.constant("target_mean", scaling.mean)], output)
    else:
        graph.node(activation[model.arch.output], [x], output)
    outputs = [helper.make_tensor_value_info(output, elem, ["N", k])]
    if model.multilabel:
        # One 0/1 label per unit, as predict_multilabel at 0.5.
        above = graph.node("Greater", [output, graph.constant("half", np.array(0.5))], "above")
        graph.node("Cast", [above], "label", to=onnx.TensorProto.INT64)
        outputs.append(helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["N", k]))
    elif model.arch.output != "identity":
        if k == 1:
            half = graph.constant("half", np.array(0.5))
            above = graph.node("Greater", [output, half], "above_half")
            flat = graph.node("Flatten", [above], "above_half_flat", axis=0)
            graph.node("Cast", [flat], "label_2d", to=onnx.TensorProto.INT64)
            shape = "label_shape"
            graph.initializers.append(onnx.numpy_helper.from_array(np.array([-1], np.int64), shape))
            graph.node("Reshape", ["label_2d", shape], "label")
        else:
            graph.node("ArgMax", [output], "label", axis=1, keepdims=0)
        outputs.append(helper.make_tensor_value_info("label", onnx.TensorProto.INT64, ["N"]))
    inputs = [helper.make_tensor_value_info("input", elem, ["N", *raw_input_shape(model)])]
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "purenet", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="purenet",
        producer_version=model.meta.purenet_version,
        doc_string="A purenet multilayer perceptron: raw inputs -> preprocessing -> layers.",
    )
    metadata = {
        "purenet.labels": list(model.labels),
        "purenet.architecture": converter.unstructure(model.arch),
        "purenet.preprocess": [converter.unstructure(step) for step in model.preprocess],
        "purenet.meta": converter.unstructure(model.meta),
    }
    helper.set_model_props(proto, {key: json.dumps(value) for key, value in metadata.items()})
    onnx.checker.check_model(proto)
    return proto


def sample_inputs(model: Model, n: int = 64, *, seed: int = 0) -> np.ndarray:
    """Raw inputs in the range the model takes: integers in `[0, max_value]` for a model that
    scales first, standard normal values otherwise; `(n, *raw_input_shape(model))`."""
    rng = np.random.default_rng(seed)
    shape = (n, *raw_input_shape(model))
    first = next((s for s in model.preprocess if not isinstance(s, Flatten)), None)
    if isinstance(first, Scale):
        return rng.integers(0, math.floor(first.max_value) + 1, shape).astype(np.float64)
    return rng.standard_normal(shape)


def run_onnx(proto: Any, x_raw: np.ndarray) -> dict[str, np.ndarray]:
    """Run an exported graph in onnxruntime on raw inputs.

    Args:
        proto: an `onnx.ModelProto` from `model_to_onnx` (or its serialized bytes).
        x_raw: `(n, ...)` raw inputs; cast to the graph input's dtype.

    Returns:
        Every graph output by name (`probabilities`, `label`).

    Raises:
        MissingExtraError: `onnxruntime` is not installed.
    """
    require_extra("onnxruntime", "onnx")
    import onnxruntime

    data = proto if isinstance(proto, bytes) else proto.SerializeToString()
    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    feed = session.get_inputs()[0]
    dtype = np.float64 if feed.type == "tensor(double)" else np.float32
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {feed.name: np.asarray(x_raw, dtype)})
    return dict(zip(names, values, strict=True))


def export_onnx(path: str | os.PathLike[str], model: Model, *, verify: bool = True) -> float | None:
    """Write the model as an ONNX file atomically, verified in onnxruntime first.

    Args:
        path: the `.onnx` file to write.
        model: the model.
        verify: run the graph in onnxruntime on `sample_inputs(model)` and compare with
            purenet (largest difference at most `TOLERANCE`, same labels) before writing.

    Raises:
        MissingExtraError: `onnx` (or, to verify, `onnxruntime`) is not installed.
        ModelFormatError: the graph's outputs differ from purenet's (nothing is written).
    """
    proto = model_to_onnx(model)
    gap = None
    if verify:
        x_raw = sample_inputs(model)
        x = apply_preprocess(model.preprocess, x_raw, dtype=model.params[0].w.dtype)
        expected = forward(model.arch, model.params, x)
        if model.targets is not None and model.targets.std is not None:
            expected = expected * model.targets.std + model.targets.mean
        found = next(iter(run_onnx(proto, x_raw).values()))
        gap = float(np.max(np.abs(found.astype(np.float64) - expected)))
        if not gap <= TOLERANCE:
            raise ModelFormatError(
                f"{os.fspath(path)}: onnxruntime's outputs differ from purenet's by {gap:.3g} "
                f"(more than {TOLERANCE:g}); not written"
            )
    with atomic_write(path, binary=True) as file:
        file.write(proto.SerializeToString())
    return gap
