"""ONNX import of plain MLP graphs: dense layers and element-wise activations, nothing else.

The graph's probabilities output (the output named `probabilities`, else its first float
output) is traced back to the single graph input. Every node on that path must be part of a
plain MLP: a dense layer is `Gemm` (alpha = beta = 1, no transposed input) or `MatMul` by a
constant followed by `Add` of a constant bias (a layer without them has no bias); after a
layer may come `Relu`, `Sigmoid`, `Tanh`, `LeakyRelu` (alpha 0.01, purenet's slope), `Softplus`,
`Elu` (alpha 1), `Swish` (alpha 1, read as silu) or, last, `Softmax`, each layer its own;
`Identity` and a leading `Cast`, `Flatten` or `Reshape` are passed over. An activation may
also be one of the compositions of basic operators purenet's export writes
(`purenet.exchange.onnx_composites`: silu as `Mul(z, Sigmoid(z))`, and in float64 graphs
leaky_relu, softplus and elu), matched node by node and constant by constant. The first node
that is anything else is refused by name. This is what `torch.onnx.export` of an
`nn.Sequential` of Linear layers and `skl2onnx` of an `MLPClassifier` produce (its two-class
graph ends in `Concat(1 - p, p)` after one sigmoid unit, read as purenet's single sigmoid
unit); nodes that only compute other outputs from the probabilities (skl2onnx's label) are not
part of the model.

A graph exported by purenet carries its preprocessing, labels, architecture and meta as JSON in
its metadata; with it, the leading `Mul`, `Add`, `Sub` and `Div` of the preprocessing are read
from the metadata, a trailing `Mul`, `Add` as the regression targets' standardization, a
`(N, k)` `label` output as a multi-label model, and the architecture's training options (loss,
dropout) and activation names (swish, which computes silu) are taken from it where it agrees
with the graph, so export then import gives the same model file.

Example:
    >>> from purenet.exchange.onnx_import import import_onnx
    >>> model = import_onnx("mlp.onnx", labels=("cat", "dog"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from purenet.errors import ModelFormatError, require_extra
from purenet.exchange.onnx_composites import COMPOSITES, Mismatch, formula, match
from purenet.modelfile.io import converter
from purenet.modelfile.model import Model, ModelMeta
from purenet.nn.activations import ACTIVATIONS, LEAKY_SLOPE
from purenet.nn.model import Architecture, Dense
from purenet.pipeline.steps import Flatten, PreprocessStep, Standardize

_ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "LeakyRelu": "leaky_relu",
    "Softplus": "softplus",
    "Elu": "elu",
    "Swish": "silu",
    "Softmax": "softmax",
}
"""ONNX operators read as a layer's activation, and their purenet names."""

_LEADING = frozenset({"Cast", "Flatten", "Reshape"})
_PURENET_PREPROCESS = frozenset({"Mul", "Add", "Sub", "Div"})

SUPPORTED = (
    "a plain MLP graph has Gemm or MatMul + Add layers, each followed by Relu, Sigmoid, Tanh, "
    "LeakyRelu (alpha 0.01), Softplus, Elu (alpha 1), Swish (alpha 1), one of purenet's "
    "compositions (silu, leaky_relu, softplus, elu) or, last, Softmax"
)


@attrs.define
class _Layer:
    w: np.ndarray
    b: np.ndarray | None = None
    activation: str = "identity"
    node: str = ""


@attrs.define
class _Reader:
    """One graph being read: constants, producers, and the layers found so far."""

    source: str
    constants: dict[str, np.ndarray]
    attributes: dict[str, dict[str, Any]]
    layers: list[_Layer] = attrs.field(factory=list)
    leading: list[str] = attrs.field(factory=list)
    composed: dict[str, str] = attrs.field(factory=dict)
    """The activation of each composite's last node, by its output."""

    def refuse(self, node: Any, why: str) -> ModelFormatError:
        name = node.name or node.output[0]
        return ModelFormatError(
            f"{self.source}: node {name!r} ({node.op_type}) is not supported: {why}; {SUPPORTED}"
        )

    def constant(self, node: Any, name: str) -> np.ndarray:
        if name not in self.constants:
            raise self.refuse(node, f"its input {name!r} is not a constant")
        return self.constants[name]

    def constant_input(self, node: Any) -> np.ndarray:
        """The constant input of a node that has one computed input and one constant."""
        name = next((i for i in node.input if i in self.constants), None)
        if name is None:
            raise self.refuse(node, "none of its inputs is a constant")
        return self.constants[name]


def _attributes(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {attribute.name: helper.get_attribute_value(attribute) for attribute in node.attribute}


def _constants(graph: Any) -> dict[str, np.ndarray]:
    """Initializers, Constant nodes, and Transpose or Identity of a constant (exporters such as
    torch's write `MatMul(x, Transpose(weight))`), folded in graph order."""
    from onnx import numpy_helper

    values = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        attributes = _attributes(node)
        if node.op_type == "Constant" and "value" in attributes:
            values[node.output[0]] = numpy_helper.to_array(attributes["value"])
        elif node.op_type in ("Transpose", "Identity") and node.input[0] in values:
            value = values[node.input[0]]
            if node.op_type == "Transpose":
                value = np.transpose(value, attributes.get("perm"))
            values[node.output[0]] = value
    return values


def _pick_output(graph: Any, source: str) -> str:
    from onnx import TensorProto

    floats = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16)
    candidates = [
        output.name
        for output in graph.output
        if output.type.HasField("tensor_type") and output.type.tensor_type.elem_type in floats
    ]
    if not candidates:
        raise ModelFormatError(f"{source}: the graph has no float tensor output; {SUPPORTED}")
    named = [name for name in candidates if name in ("probabilities", "outputs")]
    return (named or candidates)[0]


def _is_binary_concat(node: Any, producers: dict[str, Any], reader: _Reader) -> str | None:
    """skl2onnx's two-class ending `Concat(1 - p, p)`: the name of p, else None."""
    if node.op_type != "Concat" or len(node.input) != 2:
        return None
    negative = producers.get(node.input[0])
    p = node.input[1]
    if negative is None or negative.op_type != "Sub" or list(negative.input[1:]) != [p]:
        return None
    one = reader.constants.get(negative.input[0])
    return p if one is not None and np.all(one == 1) else None


def _composite(reader: _Reader, producers: dict[str, Any], node: Any, computed: int) -> str | None:
    """The layer's value `z` of the composite activation `node` ends (recorded in
    `reader.composed`), or None if no composite ends in its operator.

    Raises:
        ModelFormatError: a node that ends no composite but looks like the end of one.
    """
    for activation, pattern in COMPOSITES.items():
        if pattern[0] == node.op_type:
            try:
                z = match(pattern, node.output[0], producers, reader.constants)
            except Mismatch as mismatch:
                raise reader.refuse(
                    node,
                    f"it combines {computed} computed values and is not purenet's {activation} "
                    f"{formula(pattern)} ({mismatch})",
                ) from None
            reader.composed[node.output[0]] = activation
            return z
    return None


def _trace(graph: Any, reader: _Reader) -> tuple[list[Any], bool]:
    """The nodes from the graph input to the chosen output, input side first; and whether the
    graph ends in a two-class `Concat(1 - p, p)`."""
    producers = {out: node for node in graph.node for out in node.output}
    inputs = [i.name for i in graph.input if i.name not in reader.constants]
    if len(inputs) != 1:
        raise ModelFormatError(
            f"{reader.source}: the graph has {len(inputs)} data inputs ({', '.join(inputs)}); "
            f"an MLP has one"
        )
    chain: list[Any] = []
    binary = False
    name = _pick_output(graph, reader.source)
    seen: set[str] = set()
    while name != inputs[0]:
        node = producers.get(name)
        if node is None:
            raise ModelFormatError(f"{reader.source}: value {name!r} has no producer")
        if name in seen:
            raise ModelFormatError(f"{reader.source}: value {name!r} depends on itself (a cycle)")
        seen.add(name)
        dynamic = [i for i in node.input if i and i not in reader.constants]
        z = _composite(reader, producers, node, len(dynamic)) if len(dynamic) > 1 else None
        if z is not None:
            chain.append(node)
            name = z
            continue
        if len(dynamic) != 1:
            p = _is_binary_concat(node, producers, reader) if not chain else None
            if p is None:
                raise reader.refuse(node, f"it combines {len(dynamic)} computed values")
            binary, name = True, p
            continue
        chain.append(node)
        name = dynamic[0]
    chain.reverse()
    return chain, binary


def _dense(reader: _Reader, node: Any) -> _Layer:
    attributes = reader.attributes[node.output[0]]
    if node.op_type == "MatMul":
        if node.input[0] in reader.constants:
            raise reader.refuse(node, "the weights multiply from the left (W @ x)")
        return _Layer(reader.constant(node, node.input[1]), node=node.name)
    alpha, beta = attributes.get("alpha", 1.0), attributes.get("beta", 1.0)
    if alpha != 1.0 or beta != 1.0 or attributes.get("transA", 0):
        raise reader.refuse(node, "alpha and beta must be 1 and transA 0")
    w = reader.constant(node, node.input[1])
    if attributes.get("transB", 0):
        w = w.T
    b = reader.constant(node, node.input[2]) if len(node.input) > 2 and node.input[2] else None
    return _Layer(w, b, node=node.name)


def _activation(reader: _Reader, node: Any) -> str:
    """The purenet name of a one-node activation, its attributes checked."""
    op = node.op_type
    attributes = reader.attributes[node.output[0]]
    # ONNX stores alpha as float32: LeakyRelu's alpha is float32(0.01) at best.
    if op == "LeakyRelu" and np.float32(attributes.get("alpha", 0.01)) != np.float32(LEAKY_SLOPE):
        raise reader.refuse(node, f"alpha {attributes['alpha']:g}; purenet's is {LEAKY_SLOPE}")
    if op in ("Elu", "Swish") and attributes.get("alpha", 1.0) != 1.0:
        raise reader.refuse(node, f"alpha {attributes['alpha']:g}; purenet's is 1")
    if op == "Softmax" and attributes.get("axis", -1) not in (-1, 1):
        raise reader.refuse(node, "softmax over an axis other than the last")
    return _ACTIVATIONS[op]


def _read_node(reader: _Reader, node: Any, has_metadata: bool) -> None:
    op = node.op_type
    last = reader.layers[-1] if reader.layers else None
    composed = reader.composed.get(node.output[0])
    if op in ("Gemm", "MatMul"):
        reader.layers.append(_dense(reader, node))
    elif composed is not None or op in _ACTIVATIONS:
        if last is None or last.activation != "identity":
            raise reader.refuse(node, "an activation that does not follow a dense layer")
        last.activation = composed or _activation(reader, node)
    elif op == "Add" and last is not None and last.b is None and last.activation == "identity":
        last.b = reader.constant_input(node)
    elif op == "Identity":
        return
    elif last is None and (op in _LEADING or (has_metadata and op in _PURENET_PREPROCESS)):
        reader.leading.append(op)
    else:
        raise reader.refuse(node, "not a dense layer or an activation in its place")


def _architecture(reader: _Reader, binary: bool) -> tuple[Architecture, tuple[Dense, ...]]:
    if not reader.layers:
        raise ModelFormatError(f"{reader.source}: the graph has no dense layer; {SUPPORTED}")
    dtype = np.dtype(np.float64 if reader.layers[0].w.dtype == np.float64 else np.float32)
    params: list[Dense] = []
    for i, layer in enumerate(reader.layers):
        w = np.asarray(layer.w, dtype)
        # A layer without bias (MatMul alone, Gemm without C) holds b of shape (0,).
        b = np.asarray(layer.b if layer.b is not None else np.zeros(0), dtype)
        if w.ndim != 2 or b.size not in (0, w.shape[1]):
            raise ModelFormatError(
                f"{reader.source}: layer {i} ({layer.node}): weights {list(w.shape)} and bias "
                f"{list(b.shape)} do not make a dense layer"
            )
        if params and params[-1].w.shape[1] != w.shape[0]:
            raise ModelFormatError(
                f"{reader.source}: layer {i} ({layer.node}) takes {w.shape[0]} inputs, the "
                f"layer before gives {params[-1].w.shape[1]}"
            )
        params.append(Dense(w, b.reshape(-1)))
    hidden = tuple(layer.activation for layer in reader.layers[:-1])
    output = reader.layers[-1].activation
    if "softmax" in hidden:
        raise ModelFormatError(
            f"{reader.source}: layer {hidden.index('softmax')} applies softmax; purenet's "
            f"softmax is an output activation only"
        )
    if output not in ("softmax", "sigmoid", "identity"):
        raise ModelFormatError(
            f"{reader.source}: the last layer's activation is {output}; purenet's outputs are "
            f"softmax, sigmoid or identity"
        )
    if binary and (output != "sigmoid" or params[-1].w.shape[1] != 1):
        raise ModelFormatError(f"{reader.source}: Concat(1 - p, p) needs one sigmoid unit")
    sizes = (params[0].w.shape[0], *(p.w.shape[1] for p in params))
    loss = "mse" if output == "identity" else "cross_entropy"
    bias = tuple(bool(layer.b.size) for layer in params)
    arch = Architecture(sizes, hidden or "relu", output, loss, bias=bias)
    return arch, tuple(params)


def _classes(graph: Any, reader: _Reader) -> tuple[str, ...] | None:
    """Class names an `ArrayFeatureExtractor` picks by the argmax (skl2onnx's label output)."""
    for node in graph.node:
        if node.op_type == "ArrayFeatureExtractor" and node.input[0] in reader.constants:
            return tuple(
                item.decode() if isinstance(item, bytes) else str(item)
                for item in reader.constants[node.input[0]].ravel().tolist()
            )
    return None


def _preprocess(proto: Any, reader: _Reader, metadata: dict[str, str]) -> tuple[Any, ...]:
    if "purenet.preprocess" in metadata:
        steps: tuple[Any, ...] = converter.structure(
            json.loads(metadata["purenet.preprocess"]), tuple[PreprocessStep, ...]
        )
        return steps
    if not {"Flatten", "Reshape"} & set(reader.leading):
        return ()
    dims = proto.graph.input[0].type.tensor_type.shape.dim[1:]
    if all(dim.HasField("dim_value") for dim in dims) and len(dims) > 1:
        return (Flatten(tuple(dim.dim_value for dim in dims)),)
    return (Flatten(),)


def _layers(arch: Architecture) -> tuple[Any, ...]:
    """What a graph shows of an architecture: sizes, activations, biases. swish is silu under
    another name (the registry gives both one function), so the graph cannot tell them apart."""
    hidden = tuple(ACTIVATIONS[name].function for name in arch.activations)
    return arch.sizes, hidden, arch.output, arch.has_bias


def _target_scaling(reader: _Reader, chain: list[Any]) -> Standardize | None:
    """The standardization of a regression model's targets a purenet export undoes at the end
    of its graph (`Mul` by std, then `Add` of mean), else None.

    purenet fits target statistics in float32; a float64 graph holds them widened, and they are
    read back as float32 where that is exact.
    """
    if len(chain) < 3 or [node.op_type for node in chain[-2:]] != ["Mul", "Add"]:
        return None
    std, mean = (reader.constant_input(node) for node in chain[-2:])
    narrow = all(np.array_equal(value.astype(np.float32), value) for value in (std, mean))
    dtype = np.float32 if narrow else std.dtype
    try:
        return Standardize(mean=mean.astype(dtype), std=std.astype(dtype))
    except ValueError as exc:
        raise reader.refuse(chain[-1], f"not a target standardization ({exc})") from None


def model_from_onnx(
    proto: Any, *, source: str = "model.onnx", labels: Sequence[str] | None = None
) -> Model:
    """Read a plain MLP from an ONNX graph (see the module's description of what is read).

    Args:
        proto: an `onnx.ModelProto`.
        source: a name for messages, usually the file.
        labels: class names; default: those a purenet export or skl2onnx stored, else
            `"0"`, `"1"`, ...

    Returns:
        The model: weights bit-identical to the graph's (float64 stays float64, other float
        types become float32), the preprocessing and metadata a purenet export stored (or a
        flatten of a leading Flatten/Reshape), and labels.

    Raises:
        MissingExtraError: `onnx` is not installed.
        ModelFormatError: a node that is not part of a plain MLP (named, with its operator),
            layers whose shapes do not chain, or labels that do not fit the outputs.
    """
    require_extra("onnx", "onnx")
    graph = proto.graph
    reader = _Reader(
        source, _constants(graph), {node.output[0]: _attributes(node) for node in graph.node}
    )
    metadata = {prop.key: prop.value for prop in proto.metadata_props}
    chain, binary = _trace(graph, reader)
    purenet_made = "purenet.preprocess" in metadata
    targets = _target_scaling(reader, chain) if purenet_made else None
    for node in chain[: len(chain) - 2 * (targets is not None)]:
        _read_node(reader, node, purenet_made)
    arch, params = _architecture(reader, binary)
    if "purenet.architecture" in metadata:
        stored = converter.structure(json.loads(metadata["purenet.architecture"]), Architecture)
        if _layers(stored) == _layers(arch):
            arch = stored
    if labels is None and "purenet.labels" in metadata:
        labels = json.loads(metadata["purenet.labels"])
    names = tuple(labels) if labels is not None else _classes(graph, reader)
    parts: dict[str, Any] = {} if names is None else {"labels": names}
    if "purenet.meta" in metadata:
        parts["meta"] = converter.structure(json.loads(metadata["purenet.meta"]), ModelMeta)
    multilabel = purenet_made and any(
        output.name == "label" and len(output.type.tensor_type.shape.dim) == 2
        for output in graph.output
    )
    try:
        return Model(
            arch,
            params,  # type: ignore[arg-type]
            _preprocess(proto, reader, metadata),
            targets=targets,
            multilabel=multilabel,
            **parts,
        )
    except ValueError as exc:
        raise ModelFormatError(f"{source}: {exc}") from None


def import_onnx(path: str | os.PathLike[str], *, labels: Sequence[str] | None = None) -> Model:
    """Read an ONNX file holding a plain MLP (see `model_from_onnx`).

    Raises:
        MissingExtraError: `onnx` is not installed.
        ModelFormatError: the file is missing, not ONNX, or not a plain MLP.
    """
    require_extra("onnx", "onnx")
    import onnx

    source = os.fspath(path)
    try:
        proto = onnx.load(source)
    except FileNotFoundError:
        raise ModelFormatError(f"{source}: no such file") from None
    except Exception as exc:
        raise ModelFormatError(f"{source}: not an ONNX model ({exc})") from None
    return model_from_onnx(proto, source=source, labels=labels)
