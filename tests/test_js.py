"""The JavaScript reader (js/purenet.mjs) run by Node.js: the same labels and probabilities as
purenet, and the same MNIST-style centring as `purenet predict` gives pictures."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from exchange_support import microchips_model, mnist_model

import purenet as pn
from purenet.data.images import to_mnist
from purenet.exchange.web import WEB_DIR
from purenet.modelfile.evaluation import predict_inputs
from purenet.modelfile.io import model_to_data

NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node.js (node) is not installed")

MODULE = (WEB_DIR / "purenet.mjs").as_uri()


def run_node(tmp_path: Path, body: str, payload: Any) -> Any:
    """Run an ES module body with `pn` (purenet.mjs) and `payload` in scope; return its `result`."""
    data = tmp_path / "payload.json"
    data.write_text(json.dumps(payload))
    script = (
        f'import * as pn from "{MODULE}";\n'
        'import { readFileSync } from "node:fs";\n'
        "const payload = JSON.parse(readFileSync(process.env.PAYLOAD, 'utf8'));\n"
        "let result;\n"
        f"{body}\n"
        "process.stdout.write(JSON.stringify(result));\n"
    )
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],  # type: ignore[list-item]
        env={**os.environ, "PAYLOAD": str(data)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


PREDICT = """
const model = pn.parseModel(payload.model);
const n = payload.raw.length;
const { labels, outputs } = pn.predict(model, payload.raw.flat(Infinity), n);
result = { labels: Array.from(labels), outputs: Array.from(outputs),
           top: payload.raw.map((_, i) => pn.topK(model, outputs, i, 3)) };
"""

PREDICT_ALL = """
result = payload.models.map((data) => {
  const raw = payload.raw.flat(Infinity);
  const { labels, outputs } = pn.predict(pn.parseModel(data), raw, payload.raw.length);
  return { labels: Array.from(labels), outputs: Array.from(outputs) };
});
"""


def test_the_node_reader_predicts_1000_mnist_digits_like_purenet(
    data_dir: Path, tmp_path: Path
) -> None:
    model = mnist_model(data_dir)
    pn.save_model(tmp_path / "model.json", model)
    images = data_dir / "mnist" / "t10k-images-idx3-ubyte.gz"
    out = tmp_path / "js.json"
    command = [NODE, WEB_DIR / "predict.mjs", tmp_path / "model.json", images]
    done = subprocess.run(
        [*command, "--first", "1000", "--out", out],  # type: ignore[list-item]
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(out.read_text())
    test = pn.load_dataset("mnist", "test", data_dir=data_dir)
    expected = pn.forward(
        model.arch, model.params, pn.apply_preprocess(model.preprocess, test.x[:1000])
    )
    assert np.array_equal(found["labels"], pn.labels_of(expected))
    assert np.abs(np.array(found["outputs"]) - expected).max() <= 1e-5
    # topK gives what `purenet predict` shows: the same classes and scores, best first.
    top = run_node(tmp_path, PREDICT, {"model": model_to_data(model), "raw": test.x[:20].tolist()})[
        "top"
    ]
    shown = predict_inputs(model, test.x[:20], 3)
    assert [[t["index"] for t in row] for row in top] == shown.classes.tolist()
    assert np.abs(np.array([[t["score"] for t in row] for row in top]) - shown.scores).max() <= 1e-6


def test_standardize_and_a_single_sigmoid_unit(data_dir: Path, tmp_path: Path) -> None:
    model = microchips_model(data_dir)
    raw = pn.load_dataset("microchips", "train", data_dir=data_dir).x
    found = run_node(tmp_path, PREDICT, {"model": model_to_data(model), "raw": raw.tolist()})
    expected = pn.forward(model.arch, model.params, pn.apply_preprocess(model.preprocess, raw))
    assert np.array_equal(found["labels"], pn.labels_of(expected))
    assert np.abs(np.array(found["outputs"]) - expected[:, 0]).max() <= 1e-6
    shown = predict_inputs(model, raw[:5], 2)
    assert [[t["label"] for t in row] for row in found["top"][:5]] == [list(n) for n in shown.names]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_activation_and_output_in_both_dtypes(tmp_path: Path, dtype: str) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (25, 3, 4), dtype=np.uint8)
    steps = pn.fit_preprocess(
        [pn.Scale(0.01, 1.0), pn.Flatten(), pn.Standardize(per_feature=False)], images
    )
    cases = [
        (hidden, output, loss, width)
        for hidden in sorted(pn.ACTIVATIONS)
        for (output, loss), width in zip(sorted(pn.LOSSES), (3, 3, 1, 1, 4, 2), strict=False)
    ]
    tolerance = 1e-5 if dtype == "float32" else 1e-12
    models = []
    for hidden, output, loss, width in cases:
        arch = pn.Architecture((12, 6, width), hidden, output, loss)
        models.append(pn.Model(arch, pn.init(arch, seed=1, dtype=dtype, scheme="normal"), steps))
    # Every other model in base64 (format version 2): the reader gives the same numbers.
    files = [model_to_data(model, compact=i % 2 == 1) for i, model in enumerate(models)]
    payload = {"models": files, "raw": images.tolist()}
    body = PREDICT_ALL
    for model, found in zip(models, run_node(tmp_path, body, payload), strict=True):
        arch = model.arch
        expected = pn.forward(arch, model.params, pn.apply_preprocess(steps, images, dtype=dtype))
        gap = np.abs(np.array(found["outputs"]) - expected.ravel()).max()
        assert gap <= tolerance, (arch, gap)
        if arch.output != "identity":
            assert np.array_equal(found["labels"], pn.labels_of(expected)), arch


CENTRE = """
result = payload.map(({ gray, h, w }) => Array.from(pn.toMnist(gray.flat(), h, w)));
"""


def pictures(data_dir: Path) -> list[np.ndarray]:
    """Pictures of digits as a phone or a canvas gives them: large, dark ink on light paper,
    with noise, specks, odd shapes and sizes."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(9)
    digits = pn.load_dataset("mnist", "test", data_dir=data_dir).x[:12]
    found = []
    for i, digit in enumerate(digits):
        big = np.kron(digit.astype(np.float64), np.ones((3 + i % 3, 3 + i % 2)))
        paper = 230 - big * 0.8 + rng.normal(0, 4, big.shape)
        if i % 4 == 0:
            paper[2:4, -5:-3] = 10  # a speck of dust
        found.append(np.clip(paper, 0, 255).round())
    for size, width in (((140, 100), 9), ((60, 200), 4), ((280, 280), 20)):
        canvas = Image.new("L", size[::-1], 255)
        draw = ImageDraw.Draw(canvas)
        h, w = size
        draw.line([(w * 0.3, h * 0.2), (w * 0.7, h * 0.2), (w * 0.4, h * 0.9)], fill=0, width=width)
        found.append(np.asarray(canvas, dtype=np.float64))
    dot = np.zeros((5, 5))
    dot[0, 0] = 255
    found.append(dot)
    edge = np.zeros((30, 30))
    edge[0:25, 0:3] = 200
    edge[22:25, 0:20] = 90
    found.append(edge)
    return found


def test_the_centring_is_purenets_to_mnist(data_dir: Path, tmp_path: Path) -> None:
    images = pictures(data_dir)
    payload = [
        {"gray": image.tolist(), "h": image.shape[0], "w": image.shape[1]} for image in images
    ]
    found = run_node(tmp_path, CENTRE, payload)
    same = 0
    for i, (image, js) in enumerate(zip(images, found, strict=True)):
        expected = to_mnist(image).ravel().astype(np.int64)
        gaps = np.abs(np.array(js) - expected)
        # Where a pixel lands exactly on a half grey level, the last bit of a sum taken in
        # another order (numpy's BLAS against a plain loop) can round it the other way.
        assert gaps.max() <= 1 and (gaps > 0).sum() <= 8, (i, gaps.max(), (gaps > 0).sum())
        same += int(gaps.max() == 0)
    assert same >= len(images) - 2


def test_round_half_even_is_pythons_round(tmp_path: Path) -> None:
    values = [
        -2.5,
        -1.5,
        -0.5,
        0.5,
        1.5,
        2.5,
        3.5,
        2.4999999,
        -3.5000001,
        14.5,
        13.5,
        0.49999999999999994,
    ]
    found = run_node(tmp_path, "result = payload.map(pn.roundHalfEven);", values)
    assert found == [round(v) for v in values]


def compact(data: dict[str, Any], w: dict[str, Any]) -> None:
    """A version-2 file whose first weights are `w`."""
    data.update(format_version=2)
    data["layers"][0].update(w=w)


PARSE = "try { pn.parseModel(payload); result = 'accepted'; } catch (e) { result = e.message; }"


def test_a_zero_standard_deviation_is_refused(tmp_path: Path) -> None:
    arch = pn.Architecture((2, 2))
    steps = (pn.Standardize(np.zeros(2, np.float32), np.ones(2, np.float32)),)
    for compact in (False, True):
        data = model_to_data(pn.Model(arch, pn.init(arch, seed=0), steps), compact=compact)
        std = data["preprocess"][0]["std"]
        if compact:
            std["base64"] = "AAAAAAAAgD8="  # 0.0 and 1.0, little-endian float32
        else:
            std["data"] = [0.0, 1.0]
        found = run_node(tmp_path, PARSE, data)
        assert found.startswith("$.preprocess[0].std: value 0 is 0"), (compact, found)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["layers"][0]["w"]["data"].pop(),
            "$.layers[0].w: shape [4,3] needs 12 values, got 11",
        ),
        (lambda d: d.update(format_version=3), "$.format_version: this reader reads version 2"),
        (
            lambda d: d["layers"][0].update(w={"dtype": "float32", "shape": [0], "base64": ""}),
            "$.layers[0].w: a base64 array in a version-1 file",
        ),
        (
            lambda d: compact(d, {"dtype": "float32", "shape": [4, 3], "base64": "A"}),
            "$.layers[0].w.base64: not base64",
        ),
        (
            lambda d: compact(d, {"dtype": "float32", "shape": [4, 3], "base64": ""}),
            "$.layers[0].w.base64: shape [4,3] of float32 needs 48 bytes, found 0",
        ),
        (lambda d: d["layers"][1].update(bias=1), "$.layers[1]: unknown key 'bias'"),
        (
            lambda d: d["architecture"].update(hidden="rellu"),
            "$.architecture.hidden: unknown activation",
        ),
        (lambda d: d.update(format="keras"), "$.format: expected 'purenet.model'"),
    ],
)
def test_the_reader_refuses_malformed_files_naming_the_path(
    tmp_path: Path, change: Any, message: str
) -> None:
    arch = pn.Architecture((4, 3, 2), hidden="tanh")
    data = model_to_data(pn.Model(arch, pn.init(arch, seed=0)))
    change(data)
    body = "try { pn.parseModel(payload); result = 'accepted'; } catch (e) { result = e.message; }"
    assert run_node(tmp_path, body, data).startswith(message)


def test_per_layer_activations_layers_without_bias_and_training_options(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(size=(30, 6))
    steps = pn.fit_preprocess([pn.Standardize()], raw)
    models = []
    for dtype in ("float32", "float64"):
        arch = pn.Architecture(
            (6, 5, 4, 4, 3),
            hidden=("relu", "tanh", "elu"),
            bias=(True, False, True, False),
            dropout=(0.5, 0.0, 0.2),
            input_dropout=0.1,
        )
        models.append(pn.Model(arch, pn.init(arch, seed=2, dtype=dtype), steps))
    payload = {"models": [model_to_data(model) for model in models], "raw": raw.tolist()}
    for model, found in zip(models, run_node(tmp_path, PREDICT_ALL, payload), strict=True):
        expected = pn.forward(model.arch, model.params, pn.apply_preprocess(steps, raw))
        assert np.abs(np.array(found["outputs"]) - expected.ravel()).max() <= 1e-6
        assert np.array_equal(found["labels"], pn.labels_of(expected))


def test_standardized_targets_and_multilabel_models(tmp_path: Path) -> None:
    from purenet.modelfile.evaluation import predict_values
    from purenet.pipeline.steps import Standardize

    raw = np.random.default_rng(5).normal(size=(12, 3))
    regression = pn.Architecture((3, 4, 2), hidden="tanh", output="identity", loss="mse")
    scaling = Standardize(mean=np.array([100.0, -3.0]), std=np.array([20.0, 0.5]))
    values = pn.Model(regression, pn.init(regression, seed=0, dtype="float64"), (), targets=scaling)
    tagging = pn.Architecture((3, 4, 3), output="sigmoid", loss="cross_entropy")
    labelled = pn.Model(tagging, pn.init(tagging, seed=1, dtype="float64"), (), multilabel=True)
    payload = {"models": [model_to_data(values), model_to_data(labelled)], "raw": raw.tolist()}
    found_values, found_labels = run_node(tmp_path, PREDICT_ALL, payload)
    expected = predict_values(values, raw)
    assert np.abs(np.array(found_values["outputs"]) - expected.ravel()).max() <= 1e-9
    probabilities = pn.forward(tagging, labelled.params, raw)
    assert found_labels["labels"] == (probabilities > 0.5).astype(int).ravel().tolist()
