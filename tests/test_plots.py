"""Tests of purenet.plots: every figure on small synthetic data, checked by image statistics."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import purenet as pn
from purenet.core.jsonio import read_jsonl
from purenet.data.dataset import Dataset
from purenet.errors import DataFormatError, MissingExtraError, PurenetError
from purenet.modelfile.model import Model
from purenet.pipeline.steps import Flatten, Scale
from purenet.plots import boundary
from purenet.plots.boundary import boundary_grid, plot_decision_boundary
from purenet.plots.common import DPI, MISTAKE_COLOR, RIGHT_COLOR, save_figure
from purenet.plots.curves import plot_convergence, plot_curves
from purenet.plots.digits import plot_digits, select_digits, show_digits
from purenet.plots.matrices import plot_confusion, plot_first_layer
from purenet.run.plot import draw_run_figure, plot_run
from purenet.run.read import RunData

RNG = np.random.default_rng(0)
IMAGES = RNG.integers(0, 256, (12, 8, 8)).astype(np.uint8)
LABELS = np.arange(12) % 3
HISTORY = [
    {
        "epoch": e,
        "train_loss": 1 / e,
        "valid_loss": None if e == 1 else 1.2 / e,
        "train_accuracy": 1 - 0.5 / e,
        "valid_accuracy": None,
        "learning_rate": 0.1 / e,
        "seconds": 0.5,
    }
    for e in range(1, 6)
]


def check_png(path: Path, fig: Any) -> np.ndarray:
    """The PNG has the figure's pixel size and is not blank; returns its RGB pixels."""
    width, height = fig.get_size_inches() * DPI
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (round(width), round(height))
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    ink = (pixels < 200).any(axis=-1).mean()
    assert 0.01 < ink < 0.95, f"{path.name}: {ink:.3f} of the pixels are drawn"
    assert pixels.std() > 20
    return pixels


def tiny_model(sizes: tuple[int, ...], output: str = "softmax") -> tuple[pn.Architecture, Any]:
    arch = pn.Architecture(sizes, hidden="tanh", output=output)
    return arch, pn.init(arch, seed=1)


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("curves", lambda: plot_curves(HISTORY)),
        ("loss", lambda: plot_curves(HISTORY, metrics=("loss",))),
        (
            "convergence",
            lambda: plot_convergence(
                {"layers[0].w[0, 0]": [0.1, 0.4, 0.5], "layers[1].b[0]": [0, -1, -1.2]},
                steps=[0, 1, 2],
            ),
        ),
        (
            "boundary",
            lambda: plot_decision_boundary(
                *tiny_model((2, 5, 1), "sigmoid"), RNG.normal(size=(30, 2)), np.arange(30) % 2
            ),
        ),
        (
            "boundary3",
            lambda: plot_decision_boundary(
                *tiny_model((2, 5, 3)), RNG.normal(size=(30, 2)), np.arange(30) % 3
            ),
        ),
        ("digits", lambda: plot_digits(IMAGES, labels=LABELS, predicted=LABELS[::-1])),
        ("unlabelled", lambda: plot_digits(IMAGES.reshape(12, 64), count=4)),
        ("confusion", lambda: plot_confusion(LABELS, LABELS[::-1], label_names=["a", "b", "c"])),
        ("weights", lambda: plot_first_layer(RNG.normal(size=(64, 10)))),
        ("show_one", lambda: show_digits(IMAGES, labels=LABELS, index=-1)),
        ("show_grid", lambda: show_digits(IMAGES, index=2, count=6)),
    ],
)
def test_each_figure_writes_a_png_of_its_size_that_is_not_blank(
    tmp_path: Path, name: str, make: Any
) -> None:
    fig = make()
    written = save_figure(fig, tmp_path / name)
    assert written == [tmp_path / f"{name}.png"]
    check_png(written[0], fig)
    assert [p.name for p in tmp_path.iterdir()] == [f"{name}.png"]  # no temp file left


def test_svg_on_request_and_same_data_gives_same_files(tmp_path: Path) -> None:
    first = save_figure(plot_confusion(LABELS, LABELS), tmp_path / "a.png", svg=True)
    second = save_figure(plot_confusion(LABELS, LABELS), tmp_path / "b.png", svg=True)
    assert [p.suffix for p in first] == [".png", ".svg"]
    assert "<svg" in first[1].read_text(encoding="utf-8")
    assert first[0].read_bytes() == second[0].read_bytes()
    assert first[1].read_bytes() == second[1].read_bytes()


def test_curves_put_a_changing_learning_rate_on_a_second_axis() -> None:
    fig = plot_curves(HISTORY)
    loss_axis, accuracy_axis, *rate_axes = fig.axes
    assert len(rate_axes) == 2
    assert rate_axes[0].get_ylabel() == "learning rate"
    labels = [line.get_label() for line in loss_axis.get_lines()]
    # valid_loss is null in epoch 1 only; valid_accuracy is null throughout: no line.
    # valid_loss = 1.2 / e is lowest in the last epoch, 5: the dotted mark on both panels.
    assert labels == ["train loss", "validation loss", "best epoch 5"]
    assert [line.get_label() for line in accuracy_axis.get_lines()] == [
        "train accuracy",
        "best epoch 5",
    ]
    constant = [dict(row, learning_rate=0.5) for row in HISTORY]
    fig = plot_curves(constant, metrics=("loss",))
    assert len(fig.axes) == 1
    assert "learning rate 0.5" in fig.axes[0].get_title()


@pytest.mark.parametrize(
    ("history", "metrics", "message"),
    [
        ([], ("loss",), "empty"),
        (HISTORY, ("speed",), "unknown metric 'speed'"),
        ([{"epoch": 1, "train_loss": 0.3}], ("accuracy",), "no train_accuracy"),
    ],
)
def test_curves_refuse_what_they_cannot_draw(
    history: list[dict[str, Any]], metrics: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_curves(history, metrics=metrics)


def test_boundary_grid_is_row_major_over_ys_then_xs() -> None:
    x = np.array([[0.0, 10.0], [1.0, 30.0]])
    xs, ys, points = boundary_grid(x, resolution=5, margin=0.0)
    assert np.array_equal(xs, np.linspace(0, 1, 5))
    assert np.array_equal(ys, np.linspace(10, 30, 5))
    grid = points.reshape(5, 5, 2)
    assert grid[1, 3].tolist() == [xs[3], ys[1]]


def test_decision_boundary_is_one_vectorized_forward_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, ...]] = []

    def counting_forward(arch: Any, params: Any, x: np.ndarray) -> np.ndarray:
        calls.append(np.shape(x))
        return pn.forward(arch, params, x)

    monkeypatch.setattr(boundary, "forward", counting_forward)
    # A hand-made logistic unit: P(class 1) = sigmoid(10 * (x0 - x1)); boundary x0 = x1.
    arch = pn.Architecture((2, 1), output="sigmoid")
    params = (pn.Dense(np.array([[10.0], [-10.0]]), np.zeros(1)),)
    x = np.array([[-1.0, -1.0], [1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]])
    fig = plot_decision_boundary(arch, params, x, np.array([0, 0, 1, 0]), resolution=40)
    assert calls == [(1600, 2)]
    # The black 0.5 contour runs along the diagonal x0 = x1.
    (line,) = [c for c in fig.axes[0].collections if c.get_gid() == "p=0.5"]
    vertices = np.concatenate([p.vertices for p in line.get_paths()])
    assert np.abs(vertices[:, 0] - vertices[:, 1]).max() < 0.05


def test_decision_boundary_transform_and_shape_errors() -> None:
    arch, params = tiny_model((3, 4, 1), "sigmoid")
    x = RNG.normal(size=(10, 2))

    def add_product(points: np.ndarray) -> np.ndarray:
        return np.column_stack([points, points[:, 0] * points[:, 1]])

    plot_decision_boundary(arch, params, x, np.arange(10) % 2, transform=add_product)
    with pytest.raises(ValueError, match=r"x has shape \(10, 3\)"):
        plot_decision_boundary(arch, params, np.zeros((10, 3)), np.zeros(10))


def test_select_digits_first_mistakes_and_least_confident() -> None:
    labels = np.array([0, 1, 2, 3, 4, 5])
    predicted = np.array([0, 2, 2, 0, 4, 1])
    confidence = np.array([0.9, 0.8, 0.3, 0.5, 0.2, 0.99])
    assert select_digits(3, total=6).tolist() == [0, 1, 2]
    assert select_digits(
        9, labels=labels, predicted=predicted, select="mistakes", total=6
    ).tolist() == [1, 3, 5]
    mistakes = select_digits(
        2, labels=labels, predicted=predicted, confidence=confidence, select="mistakes", total=6
    )
    assert mistakes.tolist() == [3, 1]
    assert select_digits(3, confidence=confidence, select="least_confident", total=6).tolist() == [
        4,
        2,
        3,
    ]
    with pytest.raises(ValueError, match="needs both labels and predicted"):
        select_digits(3, labels=labels, select="mistakes", total=6)
    with pytest.raises(ValueError, match="unknown selection 'worst'; supported: first"):
        select_digits(3, select="worst", total=6)


def test_digit_grid_marks_mistakes_in_red() -> None:
    predicted = LABELS.copy()
    predicted[1] = 0
    fig = plot_digits(
        IMAGES,
        labels=LABELS,
        predicted=predicted,
        confidence=np.full(12, 0.75),
        label_names=["zero", "one", "two"],
        count=4,
    )
    titles = [ax.get_title() for ax in fig.axes]
    colors = [ax.title.get_color() for ax in fig.axes]
    assert titles[:2] == ["true zero\nguess zero 75%", "true one\nguess zero 75%"]
    assert colors[1] == MISTAKE_COLOR and colors[0] == RIGHT_COLOR
    only = plot_digits(IMAGES, labels=LABELS, predicted=predicted, select="mistakes")
    assert [ax.get_title() for ax in only.axes] == ["true 1\nguess 0"]
    none = plot_digits(IMAGES, labels=LABELS, predicted=LABELS, select="mistakes")
    assert none.axes[0].texts[0].get_text() == "no mistakes among 12 images"


def test_confusion_counts_and_recall() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 1, 1, 1, 0])
    fig = plot_confusion(truth, predicted, label_names=["a", "b", "c", "d"])
    ax = fig.axes[0]
    cells = {(t.get_position(), t.get_text()) for t in ax.texts}
    assert cells == {((0, 0), "2"), ((1, 0), "1"), ((1, 1), "2"), ((0, 2), "1")}
    recall_axis = ax.child_axes[0]
    recall = [t.get_text() for t in recall_axis.get_yticklabels()]
    assert recall == ["66.7%", "100.0%", "0.0%", "-"]  # class d has no samples
    assert "accuracy 66.67% of 6" in ax.get_title()
    with pytest.raises(ValueError, match="must be equal"):
        plot_confusion(truth, predicted[:3])


def test_first_layer_tiles_are_the_columns_of_w() -> None:
    w = np.arange(16 * 3, dtype=np.float64).reshape(16, 3) - 20
    fig = plot_first_layer(w, columns=3)
    tiles = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(tiles) == 3
    assert np.array_equal(tiles[1], w[:, 1].reshape(4, 4))
    assert fig.axes[1].images[0].get_clim() == (-26.0, 26.0)  # symmetric around white 0
    with pytest.raises(ValueError, match="do not make 3x3 images"):
        plot_first_layer(w, image_shape=(3, 3))


def test_show_digits_checks_the_index() -> None:
    with pytest.raises(ValueError, match="index 12 is out of range for 12 images"):
        show_digits(IMAGES, index=12)
    with pytest.raises(ValueError, match="not square pictures"):
        show_digits(np.zeros((2, 10)))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def test_plot_run_draws_what_fits_a_folder_without_model(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "metrics.jsonl", HISTORY)
    tracked = [{"epoch": float(e), "step": e, "layers[0].w[0, 0]": 0.1 * e} for e in range(4)]
    write_jsonl(tmp_path / "tracked.jsonl", tracked)
    written = plot_run(tmp_path)
    names = ["loss", "accuracy", "convergence"]
    assert written == [tmp_path / f"{name}.png" for name in names]
    for path in written:
        with Image.open(path) as image:
            assert image.size == (640, 400)
    assert plot_run(tmp_path, names=["accuracy"], svg=True) == [
        tmp_path / "accuracy.png",
        tmp_path / "accuracy.svg",
    ]
    with pytest.raises(PurenetError, match=r"cannot draw confusion: no model\.json"):
        plot_run(tmp_path, names=["confusion"])
    with pytest.raises(PurenetError, match="unknown figure 'los'; choose from loss, accuracy"):
        plot_run(tmp_path, names=["los"])


def test_plot_run_says_when_a_run_folder_has_nothing_to_draw(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text("", encoding="utf-8")
    with pytest.raises(PurenetError) as caught:
        plot_run(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: nothing to draw: no loss values in the history; no accuracy values in "
        f"the history; no scalars were tracked during training; no model.json"
    )


def test_plot_run_refuses_a_data_dir_that_does_not_exist(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "metrics.jsonl", HISTORY)
    with pytest.raises(PurenetError, match=r"^data_dir .*nope: no such directory"):
        plot_run(tmp_path, data_dir=tmp_path / "nope")


def test_plot_run_refuses_what_is_not_a_run_folder(tmp_path: Path) -> None:
    with pytest.raises(PurenetError, match="no such directory"):
        plot_run(tmp_path / "missing")
    with pytest.raises(PurenetError, match=r"not a run folder: none of metrics\.jsonl"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"metrics.jsonl: line 2: expected a JSON object"):
        plot_run(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1,\n', encoding="utf-8")
    with pytest.raises(DataFormatError, match=r"metrics.jsonl: line 1: not valid JSON"):
        read_jsonl(tmp_path / "metrics.jsonl")


def test_model_figures_of_a_run(tmp_path: Path) -> None:
    arch = pn.Architecture((64, 6, 3))
    model = Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((8, 8))), labels=("a", "b", "c"))
    run = RunData(model=model, data=Dataset(IMAGES, LABELS))
    for name in ("weights", "digits", "mistakes", "confusion"):
        fig = draw_run_figure(run, name)
        check_png(save_figure(fig, tmp_path / name)[0], fig)
    with pytest.raises(
        PurenetError, match=r"cannot draw boundary: the data have shape \(12, 8, 8\)"
    ):
        draw_run_figure(run, "boundary")
    points = RunData(
        model=Model(*tiny_model((2, 4, 1), "sigmoid"), labels=("no", "yes")),
        data=Dataset(RNG.normal(size=(20, 2)), np.arange(20) % 2),
    )
    fig = draw_run_figure(points, "boundary")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["no", "yes"]
    with pytest.raises(PurenetError, match="the model's 2 inputs are not a square image"):
        draw_run_figure(points, "weights")


def test_run_figures_check_raw_data_where_it_enters_the_model() -> None:
    # The figures of a run refuse what `model_inputs` refuses for evaluate and predict.
    arch = pn.Architecture((64, 6, 3))
    model = Model(arch, pn.init(arch, seed=0), (Scale(), Flatten((8, 8))), labels=("a", "b", "c"))
    scaled = RunData(model=model, data=Dataset(IMAGES / 255.0, LABELS))
    for name in ("digits", "confusion"):
        with pytest.raises(DataFormatError, match=r"evaluation data: .*already scaled"):
            draw_run_figure(scaled, name)
    x = RNG.normal(size=(20, 2))
    x[3, 1] = np.nan
    points = RunData(
        model=Model(*tiny_model((2, 4, 1), "sigmoid"), labels=("no", "yes")),
        data=Dataset(x, np.arange(20) % 2),
    )
    with pytest.raises(DataFormatError, match="row 3 holds NaN or Inf"):
        draw_run_figure(points, "boundary")


def test_missing_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name == "matplotlib" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    with pytest.raises(MissingExtraError, match=r"pip install 'purenet\[plot\]'"):
        plot_confusion(LABELS, LABELS)


def test_no_pyplot_and_no_matplotlib_on_import() -> None:
    code = (
        "import sys, numpy as np, purenet.plots.matrices as p\n"
        "assert 'matplotlib' not in sys.modules\n"
        "p.plot_confusion(np.array([0, 1]), np.array([0, 1]))\n"
        "assert 'matplotlib.pyplot' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_plot_run_with_a_model_file(tmp_path: Path) -> None:
    from purenet.modelfile.io import save_model

    arch = pn.Architecture((64, 6, 3))
    save_model(tmp_path / "model.json", Model(arch, pn.init(arch, seed=0), (Scale(), Flatten())))
    # The model holds no recipe naming its data: only the weights can be drawn.
    assert plot_run(tmp_path) == [tmp_path / "weights.png"]
    with pytest.raises(PurenetError, match="cannot draw digits: no evaluation data"):
        plot_run(tmp_path, names=["digits"])
    written = plot_run(tmp_path, data=Dataset(IMAGES, LABELS))
    names = ["digits", "mistakes", "confusion", "weights"]  # in FIGURES order
    assert written == [tmp_path / f"{name}.png" for name in names]


def test_curves_tick_whole_epochs_and_mark_the_given_best_epoch() -> None:
    # Two epochs: matplotlib's default locator would put ticks at 1.5 too.
    fig = plot_curves(HISTORY[:2], metrics=("loss",), best_epoch=1)
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    best = [line for line in ax.get_lines() if line.get_label() == "best epoch 1"]
    assert len(best) == 1 and list(best[0].get_xdata()) == [1, 1]


@pytest.mark.parametrize("units", [1, 2, 3, 10])
def test_weights_title_fits_inside_the_figure_for_small_nets(units: int) -> None:
    fig = plot_first_layer(RNG.normal(size=(16, units)))
    renderer = fig.canvas.get_renderer()
    fig.canvas.draw()
    title = fig.get_suptitle()
    assert title == f"first-layer weights, {units} of {units} hidden units"
    box = fig._suptitle.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width


def test_convergence_takes_the_tracked_record_of_a_training_result() -> None:
    arch = pn.Architecture((2, 3, 2))
    data = Dataset(RNG.normal(size=(8, 2)).astype(np.float32), np.arange(8) % 2)
    result = pn.train(
        arch,
        pn.init(arch, seed=0),
        pn.optim.SGD(0.1),
        data,
        epochs=3,
        batch_size=4,
        seed=0,
        track=pn.Track(("layers[0].w[1, 2]", "layers[1].b[0]")),
    )
    assert result.tracked is not None
    fig = plot_convergence(result.tracked)
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == ["layers[0].w[1, 2]", "layers[1].b[0]"]
    # The start and one row per epoch, at epochs 0, 1, 2, 3; values as recorded.
    assert list(lines[0].get_xdata()) == [0.0, 1.0, 2.0, 3.0]
    assert np.array_equal(lines[1].get_ydata(), result.tracked.values[:, 1])
