"""ONNX both ways: exported models run in onnxruntime as in purenet; plain MLP graphs import."""

import warnings
from pathlib import Path

import numpy as np
import pytest
from exchange_support import microchips_model, mnist_model
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app
from purenet.errors import ModelFormatError

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra (onnxruntime) is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from purenet.exchange.onnx_export import export_onnx, model_to_onnx, run_onnx  # noqa: E402
from purenet.exchange.onnx_import import import_onnx, model_from_onnx  # noqa: E402


def purenet_outputs(model: pn.Model, x_raw: np.ndarray) -> np.ndarray:
    dtype = model.params[0].w.dtype
    return pn.forward(
        model.arch, model.params, pn.apply_preprocess(model.preprocess, x_raw, dtype=dtype)
    )


def test_the_mnist_model_runs_in_onnxruntime_like_purenet(data_dir: Path, tmp_path: Path) -> None:
    model = mnist_model(data_dir)
    test = pn.load_dataset("mnist", "test", data_dir=data_dir)
    path = tmp_path / "mnist.onnx"
    gap = export_onnx(path, model)
    assert gap is not None and gap <= 1e-5
    found = run_onnx(onnx.load(str(path)), test.x)  # raw uint8 (10000, 28, 28), cast to float32
    expected = purenet_outputs(model, test.x)
    assert found["probabilities"].shape == (10_000, 10)
    assert np.array_equal(found["label"], pn.labels_of(expected))
    assert np.abs(found["probabilities"] - expected).max() <= 1e-5
    # The graph's batch size is dynamic: one digit works as well as ten thousand.
    assert run_onnx(onnx.load(str(path)), test.x[:1])["label"].shape == (1,)


def test_the_microchips_model_runs_in_onnxruntime_like_purenet(
    data_dir: Path, tmp_path: Path
) -> None:
    model = microchips_model(data_dir)
    data = pn.load_dataset("microchips", "train", data_dir=data_dir)
    export_onnx(tmp_path / "chips.onnx", model)
    found = run_onnx(onnx.load(str(tmp_path / "chips.onnx")), data.x)
    expected = purenet_outputs(model, data.x)
    assert np.array_equal(found["label"], pn.labels_of(expected))
    assert np.abs(found["probabilities"] - expected).max() <= 1e-5
    # The standardize step is in the graph: raw test scores go in.
    ops = [node.op_type for node in onnx.load(str(tmp_path / "chips.onnx")).graph.node]
    assert ops[:2] == ["Sub", "Div"]


@pytest.mark.parametrize("hidden", sorted(pn.ACTIVATIONS))
@pytest.mark.parametrize(
    ("output", "width"), [("softmax", 4), ("sigmoid", 1), ("sigmoid", 3), ("identity", 2)]
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_activation_output_and_dtype_exports_exactly(
    hidden: str, output: str, width: int, dtype: str
) -> None:
    images = np.random.default_rng(0).integers(0, 256, (30, 3, 4), dtype=np.uint8)
    steps = pn.fit_preprocess([pn.Scale(0.01, 1.0), pn.Flatten(), pn.Standardize()], images)
    loss = "mse" if output == "identity" else "cross_entropy"
    arch = pn.Architecture((12, 5, width), hidden, output, loss)
    model = pn.Model(arch, pn.init(arch, seed=1, dtype=dtype), steps)
    found = run_onnx(model_to_onnx(model), images)
    expected = purenet_outputs(model, images)
    key = "outputs" if output == "identity" else "probabilities"
    assert found[key].dtype == np.dtype(dtype)
    assert np.abs(found[key] - expected).max() <= (1e-5 if dtype == "float32" else 1e-12)
    if output != "identity":
        assert np.array_equal(found["label"], pn.labels_of(expected))


# --- export, then import: every model comes back ----------------------------------------------


@pytest.mark.parametrize("hidden", sorted(pn.ACTIVATIONS))
@pytest.mark.parametrize(("output", "loss"), sorted(pn.LOSSES))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_exported_model_imports_back_as_the_same_model(
    hidden: str, output: str, loss: str, dtype: str, tmp_path: Path
) -> None:
    from purenet.modelfile.io import model_to_data

    images = np.random.default_rng(0).integers(0, 256, (30, 3, 4), dtype=np.uint8)
    steps = pn.fit_preprocess([pn.Scale(0.01, 1.0), pn.Flatten(), pn.Standardize()], images)
    width = {"softmax": 4, "sigmoid": 1 if loss == "cross_entropy" else 3, "identity": 2}[output]
    options = {"huber_delta": 0.5} if loss == "huber" else {}
    # Two hidden layers: a composed activation feeds the next layer, not only the output.
    arch = pn.Architecture((12, 5, 4, width), hidden, output, loss, **options)
    model = pn.Model(arch, pn.init(arch, seed=1, dtype=dtype), steps)
    onnx.save(model_to_onnx(model), str(tmp_path / "model.onnx"))
    back = import_onnx(tmp_path / "model.onnx")
    assert back.arch == model.arch  # swish stays swish: the name travels in the metadata
    assert pn.tree_equal(back.params, model.params)  # bit-identical, same dtype
    assert back.params[0].w.dtype == np.dtype(dtype)
    assert model_to_data(back) == model_to_data(model)  # the same model file
    key = "outputs" if output == "identity" else "probabilities"
    found = run_onnx(onnx.load(str(tmp_path / "model.onnx")), images)[key]
    gap = np.abs(found - purenet_outputs(back, images)).max()
    assert gap <= (1e-5 if dtype == "float32" else 1e-12)


def small_model(
    hidden: str | tuple[str, ...], dtype: str = "float64", bias: bool | tuple[bool, ...] = True
) -> pn.Model:
    """A 4-4-3 softmax model (4-4-5-3 for two activations) without steps; the hidden layer is
    as wide as the input, so a near miss may take the input for `z`."""
    sizes = (4, 4, 3) if isinstance(hidden, str) else (4, 4, 5, 3)
    arch = pn.Architecture(sizes, hidden, bias=bias)
    return pn.Model(arch, pn.init(arch, seed=0, dtype=dtype), ())


@pytest.mark.parametrize("hidden", ["silu", "swish", "leaky_relu", "softplus", "elu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_graph_alone_gives_the_composed_activations_swish_as_silu(
    hidden: str, dtype: str
) -> None:
    model = small_model(hidden, dtype)
    proto = model_to_onnx(model)
    del proto.metadata_props[:]  # as if another tool had written the same nodes
    back = model_from_onnx(proto)
    # x * sigmoid(x) is silu and swish alike; only purenet's metadata keeps the name swish.
    assert back.arch.activations == ("silu" if hidden == "swish" else hidden,)
    assert pn.tree_equal(back.params, model.params)
    found = run_onnx(proto, X)["probabilities"]
    gap = np.abs(found - pn.forward(back.arch, back.params, X)).max()
    assert gap <= (1e-6 if dtype == "float32" else 1e-12)


def test_composed_activations_in_turn_and_a_layer_without_bias_come_back() -> None:
    from purenet.modelfile.io import model_to_data

    for hidden in [("swish", "elu"), ("softplus", "leaky_relu"), ("elu", "silu")]:
        model = small_model(hidden, bias=(True, False, True))
        back = model_from_onnx(model_to_onnx(model))
        assert model_to_data(back) == model_to_data(model)


def set_constant(proto: onnx.ModelProto, name: str, value: np.ndarray) -> None:
    index = next(i for i, init in enumerate(proto.graph.initializer) if init.name == name)
    proto.graph.initializer[index].CopyFrom(numpy_helper.from_array(value, name))


def rewire(proto: onnx.ModelProto, node: str, index: int, value: str) -> None:
    next(n for n in proto.graph.node if n.name == node).input[index] = value


def retype(proto: onnx.ModelProto, node: str, op: str) -> None:
    next(n for n in proto.graph.node if n.name == node).op_type = op


# The float64 exports' nodes and constants (see onnx_export): leaky_relu is
# Max(z, Mul(z, slope)); softplus Add(Max(z, zero), Log(Add(one, Exp(Neg(Abs(z)))))); elu
# Where(Greater(z, zero), z, Sub(Exp(Min(z, zero)), one)); silu Mul(z, Sigmoid(z)) ("gate").
NEAR_MISSES = {
    "leaky slope 0.02": (
        "leaky_relu",
        lambda p: set_constant(p, "layers0_a_slope", np.array(0.02)),
        "(Max) is not supported: it combines 2 computed values and is not purenet's leaky_relu "
        "Max(z, Mul(z, 0.01)) ('layers0_a_slope' is 0.02, not 0.01)",
    ),
    "leaky slope per unit": (
        "leaky_relu",
        lambda p: set_constant(p, "layers0_a_slope", np.full(4, 0.01)),
        "('layers0_a_slope' is float64 [4], not 0.01)",
    ),
    "leaky slope of another value": (
        "leaky_relu",
        lambda p: rewire(p, "layers0_a_mul", 0, "input"),
        "('input' is not the layer's value 'layers0_z')",
    ),
    "leaky as Min": (
        "leaky_relu",
        lambda p: retype(p, "layers0_a", "Min"),
        "(Min) is not supported: it combines 2 computed values; a plain MLP",
    ),
    "elu alpha 2": (
        "elu",
        lambda p: set_constant(p, "layers0_a_one", np.array(2.0)),
        "(Where) is not supported: it combines 3 computed values and is not purenet's elu "
        "Where(Greater(z, 0), z, Sub(Exp(Min(z, 0)), 1)) ('layers0_a_one' is 2.0, not 1)",
    ),
    "elu threshold": (
        "elu",
        lambda p: set_constant(p, "layers0_a_zero", np.array(1e-300)),
        "('layers0_a_zero' is 1e-300, not 0)",
    ),
    "elu branches swapped": (
        "elu",
        lambda p: (
            rewire(p, "layers0_a", 1, "layers0_a_below"),
            rewire(p, "layers0_a", 2, "layers0_z"),
        ),
        "('layers0_a_below' is not the layer's value 'layers0_z')",
    ),
    "elu on Less": (
        "elu",
        lambda p: retype(p, "layers0_a_above", "Less"),
        "('layers0_a_above' is Less of 2 inputs, not Greater of 2)",
    ),
    "softplus one 2": (
        "softplus",
        lambda p: set_constant(p, "layers0_a_one", np.array(2.0)),
        "and is not purenet's softplus Add(Max(z, 0), Log(Add(1, Exp(Neg(Abs(z)))))) "
        "('layers0_a_one' is 2.0, not 1)",
    ),
    "softplus without Abs": (
        "softplus",
        lambda p: rewire(p, "layers0_a_neg", 0, "layers0_z"),
        "('layers0_z' is Gemm of 3 inputs, not Abs of 1)",
    ),
    "silu gated by another value": (
        "silu",
        lambda p: rewire(p, "layers0_a_gate", 0, "input"),
        "(Mul) is not supported: it combines 2 computed values and is not purenet's silu "
        "Mul(z, Sigmoid(z)) ('input' is not the layer's value 'layers0_z')",
    ),
    "silu gated by tanh": (
        "silu",
        lambda p: retype(p, "layers0_a_gate", "Tanh"),
        "('layers0_a_gate' is Tanh of 1 inputs, not Sigmoid of 1)",
    ),
}


@pytest.mark.parametrize("name", sorted(NEAR_MISSES))
def test_near_miss_compositions_are_refused_naming_the_node(name: str) -> None:
    hidden, change, message = NEAR_MISSES[name]
    proto = model_to_onnx(small_model(hidden))
    change(proto)
    onnx.checker.check_model(proto, full_check=True)  # still a valid graph, just not purenet's
    with pytest.raises(ModelFormatError, match=r"^model\.onnx: node 'layers0_a' ") as info:
        model_from_onnx(proto, source="model.onnx")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_composition_that_does_not_follow_a_dense_layer_is_refused() -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["r1"]),
        helper.make_node("Sigmoid", ["r1"], ["g1"]),
        helper.make_node("Mul", ["r1", "g1"], ["a1"], name="silu"),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
    ]
    with pytest.raises(
        ModelFormatError, match="node 'silu' \\(Mul\\) is not supported: an activation"
    ):
        model_from_onnx(graph(nodes))
    # In either order of Mul's inputs, after a layer, it is silu.
    nodes = [
        nodes[0],
        helper.make_node("Sigmoid", ["z1"], ["g1"]),
        helper.make_node("Mul", ["g1", "z1"], ["a1"]),
        nodes[4],
    ]
    model = model_from_onnx(graph(nodes))
    assert model.arch.activations == ("silu",)
    expected = numpy_mlp(lambda z: z * sigmoid(z), lambda z: z)
    assert np.abs(pn.forward(model.arch, model.params, X) - expected).max() <= 1e-5


# --- import: graphs built with the onnx helper ------------------------------------------------

RNG = np.random.default_rng(7)
W1, B1 = RNG.normal(size=(4, 6)).astype(np.float32), RNG.normal(size=6).astype(np.float32)
W2, B2 = RNG.normal(size=(6, 3)).astype(np.float32), RNG.normal(size=3).astype(np.float32)
X = RNG.normal(size=(50, 4)).astype(np.float32)


def initializers(dtype: type = np.float32) -> list[onnx.TensorProto]:
    arrays = {"W1": W1, "B1": B1, "W1T": W1.T.copy(), "W2": W2, "B2": B2}
    return [numpy_helper.from_array(value.astype(dtype), name) for name, value in arrays.items()]


def graph(
    nodes: list,
    *,
    output_width: int = 3,
    extra: tuple = (),
    dtype: type = np.float32,
    opset: int = 17,
) -> onnx.ModelProto:
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    proto = helper.make_model(
        helper.make_graph(
            nodes,
            "mlp",
            [helper.make_tensor_value_info("x", elem, ["N", 4])],
            [helper.make_tensor_value_info("y", elem, ["N", output_width])],
            [*initializers(dtype), *extra],
        ),
        opset_imports=[helper.make_opsetid("", opset)],
    )
    onnx.checker.check_model(proto)
    return proto


def numpy_mlp(hidden, output) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The oracle: the two-layer network written out in numpy, float64."""
    a = hidden(X.astype(np.float64) @ W1 + B1)
    return output(a @ W2 + B2)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


GRAPHS = {
    "gemm relu softmax": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
            helper.make_node("Relu", ["z1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "W2", "B2"], ["z2"]),
            helper.make_node("Softmax", ["z2"], ["y"], axis=-1),
        ],
        lambda z: np.maximum(z, 0),
        softmax,
    ),
    "transposed gemm, tanh, sigmoid": (
        [
            helper.make_node("Gemm", ["x", "W1T", "B1"], ["z1"], transB=1),
            helper.make_node("Tanh", ["z1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "W2", "B2"], ["z2"]),
            helper.make_node("Sigmoid", ["z2"], ["y"]),
        ],
        np.tanh,
        sigmoid,
    ),
    "matmul add leaky, identity": (
        [
            helper.make_node("MatMul", ["x", "W1"], ["m1"]),
            helper.make_node("Add", ["m1", "B1"], ["z1"]),
            helper.make_node("LeakyRelu", ["z1"], ["a1"], alpha=0.01),
            helper.make_node("MatMul", ["a1", "W2"], ["m2"]),
            helper.make_node("Add", ["m2", "B2"], ["z2"]),
            helper.make_node("Identity", ["z2"], ["y"]),
        ],
        lambda z: np.where(z > 0, z, 0.01 * z),
        lambda z: z,
    ),
    "sigmoid hidden": (
        [
            helper.make_node("MatMul", ["x", "W1"], ["m1"]),
            helper.make_node("Add", ["B1", "m1"], ["z1"]),
            helper.make_node("Sigmoid", ["z1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "W2", "B2"], ["z2"]),
            helper.make_node("Softmax", ["z2"], ["y"], axis=1),
        ],
        sigmoid,
        softmax,
    ),
}


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_plain_mlp_graphs_import_with_the_same_outputs(name: str) -> None:
    nodes, hidden, output = GRAPHS[name]
    model = model_from_onnx(graph(nodes))
    assert model.arch.sizes == (4, 6, 3) and model.preprocess == ()
    assert np.array_equal(model.params[0].w, W1) and np.array_equal(model.params[1].b, B2)
    found = pn.forward(model.arch, model.params, X)
    assert np.abs(found - numpy_mlp(hidden, output)).max() <= 1e-5


UNSUPPORTED = {
    "dropout": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
            helper.make_node("Relu", ["z1"], ["a1"]),
            helper.make_node("Dropout", ["a1"], ["d1"], name="drop"),
            helper.make_node("Gemm", ["d1", "W2", "B2"], ["z2"]),
            helper.make_node("Abs", ["z2"], ["y"], name="abs"),
        ],
        "node 'drop' (Dropout) is not supported",
    ),
    "alpha": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
            helper.make_node("LeakyRelu", ["z1"], ["a1"], alpha=0.2, name="leaky"),
            helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
        ],
        "node 'leaky' (LeakyRelu) is not supported: alpha 0.2; purenet's is 0.01",
    ),
    "scaled gemm": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"], alpha=2.0, name="g"),
            helper.make_node("Gemm", ["z1", "W2", "B2"], ["y"]),
        ],
        "node 'g' (Gemm) is not supported: alpha and beta must be 1",
    ),
    "residual": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
            helper.make_node("Relu", ["z1"], ["a1"]),
            helper.make_node("Add", ["a1", "z1"], ["r1"], name="skip"),
            helper.make_node("Gemm", ["r1", "W2", "B2"], ["y"]),
        ],
        "node 'skip' (Add) is not supported: it combines 2 computed values",
    ),
    "mixed hidden": (
        [
            helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
            helper.make_node("Relu", ["z1"], ["a1"]),
            helper.make_node("Gemm", ["a1", "W2", "B2"], ["z2"]),
            helper.make_node("Tanh", ["z2"], ["y"]),
        ],
        "the last layer's activation is tanh",
    ),
}


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_anything_else_is_refused_naming_the_first_unsupported_node(name: str) -> None:
    nodes, message = UNSUPPORTED[name]
    with pytest.raises(ModelFormatError, match=r"^mlp\.onnx: ") as info:
        model_from_onnx(graph(nodes), source="mlp.onnx")
    assert message in str(info.value)


SINGLE_OPERATORS = {
    "Elu": ({"alpha": 1.0}, 17, "elu", lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0)))),
    "LeakyRelu": ({"alpha": 0.01}, 17, "leaky_relu", lambda z: np.maximum(z, 0.01 * z)),
    "Softplus": ({}, 17, "softplus", lambda z: np.logaddexp(z, 0)),
    "Swish": ({"alpha": 1.0}, 24, "silu", lambda z: z * sigmoid(z)),
}


@pytest.mark.parametrize("op", sorted(SINGLE_OPERATORS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_one_operator_activations_other_tools_write_import_in_both_dtypes(
    op: str, dtype: type
) -> None:
    attributes, opset, name, function = SINGLE_OPERATORS[op]
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
        helper.make_node(op, ["z1"], ["a1"], **attributes),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
    ]
    model = model_from_onnx(graph(nodes, dtype=dtype, opset=opset))
    assert model.arch.activations == (name,) and model.params[0].w.dtype == dtype
    expected = numpy_mlp(function, lambda z: z)  # float64, from float32 weights
    gap = np.abs(pn.forward(model.arch, model.params, X) - expected).max()
    assert gap <= (1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize(
    ("op", "alpha", "opset", "message"),
    [
        ("LeakyRelu", 0.0100001, 17, "alpha 0.0100001; purenet's is 0.01"),
        ("Elu", 0.5, 17, "alpha 0.5; purenet's is 1"),
        ("Swish", 2.0, 24, "alpha 2; purenet's is 1"),
    ],
)
def test_one_operator_activations_with_another_alpha_are_refused(
    op: str, alpha: float, opset: int, message: str
) -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
        helper.make_node(op, ["z1"], ["a1"], alpha=alpha, name="act"),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
    ]
    with pytest.raises(
        ModelFormatError, match=f"node 'act' \\({op}\\) is not supported: {message}"
    ):
        model_from_onnx(graph(nodes, opset=opset))


def test_a_graph_with_a_cycle_is_refused_not_walked_forever() -> None:
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
        helper.make_node("Relu", ["b1"], ["a1"]),
        helper.make_node("Relu", ["a1"], ["b1"]),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
    ]
    proto = helper.make_model(
        helper.make_graph(
            nodes,
            "mlp",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
            initializers(),
        )
    )
    with pytest.raises(ModelFormatError, match="value 'a1' depends on itself"):
        model_from_onnx(proto)


def test_a_file_that_is_not_onnx_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not a protobuf at all \xff\xfe")
    with pytest.raises(ModelFormatError, match=r"model\.onnx: not an ONNX model"):
        import_onnx(path)
    with pytest.raises(ModelFormatError, match="no such file"):
        import_onnx(tmp_path / "missing.onnx")


# --- import: scikit-learn through skl2onnx ----------------------------------------------------


@pytest.mark.parametrize(("activation", "classes"), [("relu", 3), ("tanh", 2), ("logistic", 4)])
def test_a_scikit_learn_mlp_converted_by_skl2onnx_imports_with_identical_predictions(
    activation: str, classes: int
) -> None:
    pytest.importorskip("skl2onnx", reason="skl2onnx is not installed")
    from skl2onnx import to_onnx
    from sklearn.neural_network import MLPClassifier

    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 5)).astype(np.float32)
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1] ** 2, np.linspace(-1, 2, classes - 1))
    names = np.array(["ant", "bee", "cat", "dog"])[:classes]
    clf = MLPClassifier((16, 8), activation=activation, max_iter=300, random_state=0)
    with warnings.catch_warnings():
        # scikit-learn warns when max_iter stops its optimizer early; irrelevant here.
        warnings.simplefilter("ignore")
        clf.fit(x, names[y])
    proto = to_onnx(clf, x[:1], options={"zipmap": False})
    model = model_from_onnx(proto)
    assert model.labels == tuple(clf.classes_)
    assert model.arch.sizes == (5, 16, 8, 1 if classes == 2 else classes)
    x_test = rng.normal(size=(500, 5)).astype(np.float32)
    predicted = np.array(model.labels)[pn.predict(model.arch, model.params, x_test)]
    assert np.array_equal(predicted, clf.predict(x_test))
    p = pn.forward(model.arch, model.params, x_test)
    p = np.hstack([1 - p, p]) if classes == 2 else p
    assert np.abs(p - clf.predict_proba(x_test)).max() <= 1e-5


# --- the commands -----------------------------------------------------------------------------


def test_export_and_import_commands_round_trip(tmp_path: Path) -> None:
    arch = pn.Architecture((6, 4, 3), hidden="tanh")
    images = np.random.default_rng(2).integers(0, 256, (10, 2, 3), dtype=np.uint8)
    steps = pn.fit_preprocess([pn.Scale(), pn.Flatten()], images)
    pn.save_model(
        tmp_path / "model.json", pn.Model(arch, pn.init(arch, seed=0), steps, ("a", "b", "c"))
    )
    runner = CliRunner()
    result = runner.invoke(
        app, ["export", str(tmp_path / "model.json"), "--onnx", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 0, result.output
    assert "verified in onnxruntime" in result.output
    result = runner.invoke(
        app, ["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "back.json")]
    )
    assert result.exit_code == 0, result.output
    back, original = pn.load_model(tmp_path / "back.json"), pn.load_model(tmp_path / "model.json")
    assert back.labels == ("a", "b", "c") and back.preprocess == original.preprocess
    assert pn.tree_equal(back.params, original.params) and back.meta == original.meta
    assert (tmp_path / "back.json").read_bytes() == (tmp_path / "model.json").read_bytes()


def test_the_commands_refuse_bad_arguments_in_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(tmp_path / "model.json")])
    assert result.exit_code == 1 and "give --onnx OUT" in result.output
    result = runner.invoke(
        app, ["export", str(tmp_path / "missing.json"), "--onnx", str(tmp_path / "m.onnx")]
    )
    assert result.exit_code == 1 and "missing.json" in result.output
    assert not (tmp_path / "m.onnx").exists()
    (tmp_path / "m.onnx").write_bytes(b"junk")
    result = runner.invoke(
        app, ["import", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "x.json")]
    )
    assert result.exit_code == 1 and "not an ONNX model" in result.output


def test_weights_transposed_by_a_node_are_folded_like_torchs_export() -> None:
    nodes = [
        helper.make_node("Transpose", ["W1T"], ["W1_t"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "W1_t"], ["m1"]),
        helper.make_node("Add", ["m1", "B1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["y"]),
    ]
    model = model_from_onnx(graph(nodes))
    assert np.array_equal(model.params[0].w, W1) and model.arch.output == "identity"
    expected = numpy_mlp(lambda z: np.maximum(z, 0), lambda z: z)
    assert np.abs(pn.forward(model.arch, model.params, X) - expected).max() <= 1e-5


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_per_layer_activations_layers_without_bias_and_dropout_export_and_return(
    dtype: str,
) -> None:
    from purenet.modelfile.io import model_to_data

    rng = np.random.default_rng(4)
    x_raw = rng.normal(size=(40, 5))
    steps = pn.fit_preprocess([pn.Standardize()], x_raw)
    arch = pn.Architecture(
        (5, 7, 6, 3),
        hidden=("relu", "tanh"),
        output="identity",
        loss="huber",
        bias=(True, False, True),
        dropout=(0.5, 0.2),
        huber_delta=0.5,
    )
    model = pn.Model(arch, pn.init(arch, seed=0, dtype=dtype), steps)
    proto = model_to_onnx(model)
    gemms = [node for node in proto.graph.node if node.op_type == "Gemm"]
    assert [len(node.input) for node in gemms] == [3, 2, 3]  # the middle layer has no bias
    found = run_onnx(proto, x_raw)["outputs"]
    expected = purenet_outputs(model, x_raw)  # dropout acts in training only
    assert np.abs(found - expected).max() <= (1e-5 if dtype == "float32" else 1e-12)
    assert model_to_data(model_from_onnx(proto)) == model_to_data(model)


def test_a_graph_without_biases_and_with_mixed_activations_imports_as_such() -> None:
    nodes = [
        helper.make_node("MatMul", ["x", "W1"], ["z1"]),
        helper.make_node("Tanh", ["z1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2"], ["z2"]),
        helper.make_node("Sigmoid", ["z2"], ["y"]),
    ]
    model = model_from_onnx(graph(nodes))
    assert model.arch.has_bias == (False, False) and model.params[0].b.shape == (0,)
    expected = sigmoid(np.tanh(X.astype(np.float64) @ W1) @ W2)
    assert np.abs(pn.forward(model.arch, model.params, X) - expected).max() <= 1e-5
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "B1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["a1"]),
        helper.make_node("Gemm", ["a1", "W2", "B2"], ["z2"]),
        helper.make_node("Tanh", ["z2"], ["a2"]),
        helper.make_node("Gemm", ["a2", "W3", "B3"], ["z3"]),
        helper.make_node("Softmax", ["z3"], ["y"]),
    ]
    w3, b3 = RNG.normal(size=(3, 3)).astype(np.float32), np.zeros(3, np.float32)
    extra = (numpy_helper.from_array(w3, "W3"), numpy_helper.from_array(b3, "B3"))
    model = model_from_onnx(graph(nodes, extra=extra))
    assert model.arch.activations == ("relu", "tanh") and model.arch.output == "softmax"


def test_standardized_targets_and_multilabel_models_export_their_meaning(tmp_path: Path) -> None:
    from purenet.modelfile.evaluation import predict_values
    from purenet.pipeline.steps import Standardize

    rng = np.random.default_rng(3)
    x_raw = rng.normal(size=(40, 3)).astype(np.float32)
    regression = pn.Architecture((3, 5, 2), hidden="tanh", output="identity", loss="mse")
    scaling = Standardize(
        mean=np.array([100.0, -3.0], np.float32), std=np.array([20.0, 0.5], np.float32)
    )
    model = pn.Model(regression, pn.init(regression, seed=0), (), targets=scaling)
    outputs = run_onnx(model_to_onnx(model), x_raw)["outputs"]
    expected = predict_values(model, x_raw)  # the scaling undone, as predict does
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-4)
    assert abs(float(np.mean(outputs[:, 0])) - 100.0) < 20.0  # in target units, not scaled

    tagging = pn.Architecture((3, 4, 3), output="sigmoid", loss="cross_entropy")
    labelled = pn.Model(tagging, pn.init(tagging, seed=1), (), multilabel=True)
    found = run_onnx(model_to_onnx(labelled), x_raw)
    probabilities = pn.forward(tagging, labelled.params, x_raw)
    np.testing.assert_array_equal(found["label"], (probabilities > 0.5).astype(np.int64))
    assert found["label"].shape == (40, 3)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_standardized_targets_and_multilabel_models_import_back(dtype: str, tmp_path: Path) -> None:
    from purenet.modelfile.io import model_to_data
    from purenet.pipeline.targets import fit_target_scaling

    rng = np.random.default_rng(5)
    regression = pn.Architecture((3, 5, 2), hidden="silu", output="identity", loss="huber")
    scaling = fit_target_scaling(rng.normal(50.0, 7.0, size=(40, 2)))  # float32, as runs fit it
    tagging = pn.Architecture((3, 4, 3), hidden="elu", output="sigmoid", loss="cross_entropy")
    models = [
        pn.Model(regression, pn.init(regression, seed=0, dtype=dtype), (), targets=scaling),
        pn.Model(tagging, pn.init(tagging, seed=1, dtype=dtype), (), multilabel=True),
    ]
    for model in models:
        onnx.save(model_to_onnx(model), str(tmp_path / "model.onnx"))
        back = import_onnx(tmp_path / "model.onnx")
        assert back.targets == model.targets and back.multilabel == model.multilabel
        assert model_to_data(back) == model_to_data(model)
