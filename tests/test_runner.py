"""The runner and the evaluation functions, on tiny synthetic IDX data sets."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import purenet as pn
from purenet.errors import DataFormatError, PurenetError, RecipeError
from purenet.modelfile.evaluation import evaluate_model
from purenet.modelfile.io import load_model
from purenet.pipeline.augment import rotate
from purenet.pipeline.steps import Flatten, Scale, apply_preprocess
from purenet.recipe.load import load_recipe, read_recipe_data, recipe_from_data
from purenet.recipe.toml import to_toml
from purenet.run.prepare import prepare_data
from purenet.run.runner import RunInterrupted, run_recipe
from purenet.training.reports import EpochReport


def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file (gzip) of uint8 data, written from the format's definition."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def blobs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """8x8 uint8 images of three classes: a bright 3x3 square at a class-specific place."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = rng.integers(0, 40, (n, 8, 8))
    for i, label in enumerate(labels):
        row, col = [(1, 1), (1, 4), (4, 2)][label]
        images[i, row : row + 3, col : col + 3] = 255
    return images.astype(np.uint8), labels.astype(np.uint8)


@pytest.fixture
def data_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    x, y = blobs(120, 0)
    tx, ty = blobs(30, 1)
    return {
        "images": write_idx(folder / "train-images.gz", x),
        "labels": write_idx(folder / "train-labels.gz", y),
        "test_images": write_idx(folder / "test-images.gz", tx),
        "test_labels": write_idx(folder / "test-labels.gz", ty),
    }


def write_tiny_data(tmp_path: Path) -> None:
    """The tiny recipe's IDX files: 120 training and 30 test blobs in `tmp_path / "data"`."""
    folder = tmp_path / "data"
    folder.mkdir()
    for name, (n, seed) in {"train": (120, 0), "test": (30, 1)}.items():
        x, y = blobs(n, seed)
        write_idx(folder / f"{name}-images.gz", x)
        write_idx(folder / f"{name}-labels.gz", y)


def tiny_recipe(tmp_path: Path, **changes: object) -> Path:
    data = {
        "data": {
            "train": {
                "kind": "idx",
                "images": "data/train-images.gz",
                "labels": "data/train-labels.gz",
            },
            "test": {
                "kind": "idx",
                "images": "data/test-images.gz",
                "labels": "data/test-labels.gz",
            },
            "valid_fraction": 0.25,
            "labels": ["a", "b", "c"],
        },
        "pipeline": {"steps": [{"kind": "scale"}, {"kind": "flatten"}]},
        "model": {"sizes": [64, 16, 3], "hidden": "tanh"},
        "optimizer": {"kind": "sgd", "learning_rate": 0.5, "momentum": 0.5},
        "train": {"epochs": 4, "batch_size": 16, "seed": 3},
        "output": {"dir": str(tmp_path / "run")},
    }
    for key, value in changes.items():
        section, name = key.split("__")
        data[section][name] = value  # type: ignore[index]
    path = tmp_path / "tiny.toml"
    path.write_text(to_toml(data), encoding="utf-8")
    return path


def test_run_writes_a_complete_run_folder(tmp_path: Path, data_files: dict[str, Path]) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    reports = []
    result = run_recipe(recipe, on_epoch=reports.append)
    out = tmp_path / "run"
    assert result.out_dir == out
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.json",
        "metrics.jsonl",
        "model.json",
        "recipe.toml",
    ]
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2, 3, 4] == [r.epoch for r in reports]
    assert lines[-1]["valid_accuracy"] == reports[-1].valid_accuracy
    assert recipe_from_data(read_recipe_data(out / "recipe.toml")) == recipe
    model = load_model(out / "model.json")
    assert pn.tree_equal(model.params, result.model.params)
    assert model.labels == ("a", "b", "c")
    assert model.meta.recipe is not None and recipe_from_data(model.meta.recipe) == recipe
    test_x, test_y = blobs(30, 1)
    evaluation = evaluate_model(model, test_x, test_y)
    assert model.meta.metrics["test_accuracy"] == evaluation.accuracy == result.test.accuracy
    assert model.meta.metrics["valid_accuracy"] == reports[-1].valid_accuracy
    assert evaluation.accuracy > 0.9  # three easy blobs


def test_interrupt_then_resume_equals_an_uninterrupted_run(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    whole = run_recipe(recipe, out_dir=tmp_path / "whole")

    def stop_after_two(report: EpochReport) -> None:
        if report.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as caught:
        run_recipe(recipe, out_dir=tmp_path / "cut", on_epoch=stop_after_two)
    assert caught.value.epoch == 2
    assert caught.value.checkpoint == tmp_path / "cut" / "checkpoint.json"
    resumed = run_recipe(recipe, out_dir=tmp_path / "cut", resume=True)
    assert pn.tree_equal(resumed.model.params, whole.model.params)
    lines = (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4]


def test_resume_refuses_a_changed_recipe_but_allows_more_epochs(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    path = tiny_recipe(tmp_path)
    run_recipe(load_recipe(path))
    changed = load_recipe(path, overrides=["optimizer.learning_rate=0.1"])
    with pytest.raises(RecipeError, match=r"optimizer.learning_rate differ"):
        run_recipe(changed, resume=True)
    longer = run_recipe(load_recipe(path, overrides=["train.epochs=6"]), resume=True)
    assert [r.epoch for r in longer.history] == [1, 2, 3, 4, 5, 6]


def test_resume_refuses_fewer_epochs_than_the_checkpoint_holds(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    path = tiny_recipe(tmp_path)
    run_recipe(load_recipe(path))
    checkpoint = tmp_path / "run" / "checkpoint.json"
    with pytest.raises(RecipeError) as caught:
        run_recipe(load_recipe(path, overrides=["train.epochs=3"]), resume=True)
    assert str(caught.value) == (
        f"{checkpoint}: the checkpoint is at epoch 4, more than the 3 epochs asked for "
        f"($.train.epochs in {path}); resume with train.epochs >= 4, or start afresh"
    )
    # As many epochs as the checkpoint holds: nothing left to train, the result stands.
    again = run_recipe(load_recipe(path), resume=True)
    assert [r.epoch for r in again.history] == [1, 2, 3, 4]


def test_a_fresh_run_removes_the_earlier_runs_files_and_nothing_else(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    earlier = ["digits.png", "weights.png", "weights.svg", "convergence.png", "tracked.jsonl"]
    earlier += ["checkpoint.json", "model.json", "metrics.jsonl"]
    for name in earlier:
        (out / name).write_text("from an earlier run", encoding="utf-8")
    mine = ["notes.txt", "photo.png", "digits.jpg", "model.json.bak"]
    for name in mine:
        (out / name).write_text("the user's own", encoding="utf-8")
    run_recipe(load_recipe(tiny_recipe(tmp_path)))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*mine, "checkpoint.json", "metrics.jsonl", "model.json", "recipe.toml"])
    for name in mine:
        assert (out / name).read_text(encoding="utf-8") == "the user's own"


def test_a_recipe_that_fails_before_training_leaves_the_earlier_run_alone(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "digits.png").write_text("from an earlier run", encoding="utf-8")
    with pytest.raises(RecipeError):
        run_recipe(load_recipe(tiny_recipe(tmp_path, model__sizes=[10, 3])))
    assert (out / "digits.png").is_file()


def test_resume_without_a_checkpoint_starts_from_the_beginning(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    whole = run_recipe(recipe, out_dir=tmp_path / "whole")
    resumed = run_recipe(recipe, out_dir=tmp_path / "never", resume=True)
    assert resumed.started_over and not whole.started_over
    assert pn.tree_equal(resumed.model.params, whole.model.params)
    again = run_recipe(recipe, out_dir=tmp_path / "never", resume=True)
    assert not again.started_over


def _rows_without_seconds(path: Path) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]


def test_resume_cuts_metrics_lines_after_the_checkpoint_and_removes_stale_temps(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    whole = tmp_path / "whole"
    run_recipe(recipe, out_dir=whole)

    def stop_after_two(report: EpochReport) -> None:
        if report.epoch == 2:
            raise KeyboardInterrupt

    cut = tmp_path / "cut"
    with pytest.raises(RunInterrupted):
        run_recipe(recipe, out_dir=cut, on_epoch=stop_after_two)
    metrics = cut / "metrics.jsonl"
    assert json.loads((cut / "checkpoint.json").read_text())["epoch"] == 2  # saved on Ctrl-C
    # What a kill can leave: lines of epochs after the checkpoint (one whole, one torn by
    # the kill or a full disk), and temp files of atomic writes.
    third = (whole / "metrics.jsonl").read_text().splitlines()[2]
    with metrics.open("a") as handle:
        handle.write(third + '\n{"epoch": 4, "train_lo')
    stale = [cut / ".checkpoint.json.0123456789ab.tmp", cut / ".model.json.ba9876543210.tmp"]
    for tmp in stale:
        tmp.write_text("{")
    mine = cut / ".notes.tmp"
    mine.write_text("the user's own")
    run_recipe(recipe, out_dir=cut, resume=True)
    assert _rows_without_seconds(metrics) == _rows_without_seconds(whole / "metrics.jsonl")
    assert not any(tmp.exists() for tmp in stale) and mine.exists()


def test_resume_refuses_metrics_lines_changed_under_the_checkpoint(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    run_recipe(recipe)
    metrics = tmp_path / "run" / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    longer = load_recipe(tiny_recipe(tmp_path, train__epochs=9))
    metrics.write_text("".join([lines[0], *lines[2:]]))  # a line the checkpoint holds, lost
    with pytest.raises(PurenetError, match=r"metrics.jsonl: 1,\d{3} bytes, fewer than the"):
        run_recipe(longer, resume=True)
    edited = "".join([lines[0], lines[1].replace('"epoch": 2', '"epoch": 7'), *lines[2:]])
    metrics.write_text(edited + "\n")  # the same length or longer, other bytes
    with pytest.raises(PurenetError, match=r"metrics.jsonl: its first 4 lines are not those"):
        run_recipe(longer, resume=True)


def test_resume_refuses_a_checkpoint_whose_history_does_not_match_its_epoch(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(tiny_recipe(tmp_path))
    run_recipe(recipe)
    checkpoint = tmp_path / "run" / "checkpoint.json"
    data = json.loads(checkpoint.read_text())
    data["epoch"] = 9
    checkpoint.write_text(json.dumps(data))
    with pytest.raises(PurenetError, match=r"checkpoint.json: \$.history.lines: 4, expected one"):
        run_recipe(load_recipe(tiny_recipe(tmp_path, train__epochs=9)), resume=True)
    data["epoch"] = "4"
    checkpoint.write_text(json.dumps(data))
    with pytest.raises(PurenetError, match=r"checkpoint.json: \$.epoch: expected an integer"):
        run_recipe(recipe, resume=True)


def test_data_that_do_not_fit_the_model_name_the_recipe_key(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    wide = load_recipe(tiny_recipe(tmp_path, model__sizes=[784, 16, 3]))
    with pytest.raises(RecipeError, match=r"\$.model.sizes: the input layer has 784 units, .* 64"):
        prepare_data(wide)
    narrow = load_recipe(tiny_recipe(tmp_path, model__sizes=[64, 16, 2]))
    with pytest.raises(RecipeError, match=r"\$.model.sizes: 2 output unit\(s\) .* \[0, 2\]"):
        prepare_data(narrow)
    names = load_recipe(tiny_recipe(tmp_path, data__labels=["a", "b"]))
    with pytest.raises(RecipeError, match=r"\$.data.labels: 2 names for 3 classes"):
        prepare_data(names)


def test_faults_found_after_loading_start_with_the_recipe_file(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    path = tiny_recipe(tmp_path, model__sizes=[784, 16, 3])
    with pytest.raises(RecipeError) as caught:
        run_recipe(load_recipe(path))
    assert str(caught.value).startswith(f"{path}: $.model.sizes: the input layer has 784 units")
    path = tiny_recipe(tmp_path, data__labels=["a", "b"])
    with pytest.raises(RecipeError) as caught:
        prepare_data(load_recipe(path))
    assert str(caught.value) == f"{path}: $.data.labels: 2 names for 3 classes"
    # A recipe built in code has no file: the message still names the key.
    with pytest.raises(RecipeError, match=r"^recipe: \$.data.labels: 2 names"):
        prepare_data(recipe_from_data(read_recipe_data(path), base_dir=tmp_path))


def test_a_truncated_idx_file_names_the_file(tmp_path: Path, data_files: dict[str, Path]) -> None:
    raw = gzip.decompress(data_files["images"].read_bytes())
    data_files["images"].write_bytes(gzip.compress(raw[:-10]))
    with pytest.raises(DataFormatError, match=r"train-images.gz: header says 120 x 8 x 8"):
        run_recipe(load_recipe(tiny_recipe(tmp_path)))


def test_validation_is_split_off_before_augmented_copies(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(
        tiny_recipe(
            tmp_path,
            pipeline__augment=[{"kind": "rotate", "max_degrees": 10.0, "copies": 2}],
        )
    )
    prepared = prepare_data(recipe)
    assert prepared.valid is not None and len(prepared.valid) == 30
    assert len(prepared.train) == 90 * 3
    assert prepared.augment is None
    # Originals first, then each copy in the same order: labels repeat in blocks.
    y = prepared.train.y
    assert np.array_equal(y[:90], y[90:180]) and np.array_equal(y[:90], y[180:])


def test_per_batch_augmentation_rotates_raw_images_then_preprocesses(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    recipe = load_recipe(
        tiny_recipe(
            tmp_path,
            pipeline__augment=[{"kind": "rotate", "max_degrees": 15.0}],
            data__valid_fraction=0.0,
        )
    )
    prepared = prepare_data(recipe)
    assert prepared.augment is not None
    images, _ = blobs(120, 0)
    batch = prepared.train.x[:5]
    assert np.array_equal(batch, images[:5].reshape(5, 64).astype(np.float32))
    expected = apply_preprocess(
        (Scale(), Flatten((8, 8))), rotate(images[:5], seed=(3, 1, 0, 0), max_degrees=15.0)
    )
    assert np.array_equal(prepared.augment(batch, seed=(3, 1, 0)), expected)
    run = run_recipe(recipe)
    assert run.test is not None and run.test.accuracy > 0.8


def test_augmentation_of_non_image_data_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "points.csv"
    table.write_text("".join(f"{i % 2},{i},{-i}\n" for i in range(20)), encoding="utf-8")
    recipe = recipe_from_data(
        {
            "data": {"train": {"kind": "csv", "path": str(table)}},
            "pipeline": {"augment": [{"kind": "shift", "max_pixels": 1}]},
            "model": {"sizes": [2, 2]},
            "optimizer": {"kind": "sgd", "learning_rate": 0.1},
            "train": {"epochs": 1},
        }
    )
    with pytest.raises(RecipeError, match=r"\$.pipeline.augment: augmentation needs images"):
        prepare_data(recipe)


def test_plots_named_by_the_recipe_are_drawn_into_the_run_folder(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    pytest.importorskip("matplotlib")
    recipe = load_recipe(tiny_recipe(tmp_path, output__plots=["loss", "confusion"]))
    run_recipe(recipe)
    assert (tmp_path / "run" / "loss.png").is_file()
    assert (tmp_path / "run" / "confusion.png").is_file()
    assert not (tmp_path / "run" / "accuracy.png").exists()


def test_a_validation_split_of_too_few_samples_names_the_key(
    tmp_path: Path, data_files: dict[str, Path]
) -> None:
    with pytest.raises(RecipeError, match=r"\$.data.valid_fraction: split needs at least 2"):
        prepare_data(load_recipe(tiny_recipe(tmp_path)), limit=1)


def test_ctrl_c_while_the_figures_are_drawn_says_the_model_is_written(
    tmp_path: Path, data_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import purenet.run.plot as plot

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(plot, "plot_run", interrupted)
    recipe = load_recipe(tiny_recipe(tmp_path, output__plots=["loss"]))
    with pytest.raises(RunInterrupted) as caught:
        run_recipe(recipe)
    assert caught.value.model_written and caught.value.epoch == 4
    assert (tmp_path / "run" / "model.json").is_file()
