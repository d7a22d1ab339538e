"""Reading data for a model: recipe sources and raw input files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from purenet.data.inputs import read_inputs
from purenet.errors import DataFormatError, PurenetError
from purenet.recipe.schema import CsvSource, DatasetSource
from purenet.run.sources import load_source


def test_a_data_dir_that_does_not_exist_is_refused_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    for source in (DatasetSource("microchips", "train"), CsvSource(str(tmp_path / "t.csv"))):
        with pytest.raises(PurenetError, match=rf"^data_dir {missing}: no such directory"):
            load_source(source, data_dir=missing)
    (tmp_path / "file").write_text("", encoding="utf-8")
    with pytest.raises(PurenetError, match=r"^data_dir .*file: not a directory"):
        load_source(DatasetSource("microchips", "train"), data_dir=tmp_path / "file")


def test_a_data_dir_that_exists_is_looked_in_first(tmp_path: Path) -> None:
    folder = tmp_path / "microchips"
    folder.mkdir()
    (folder / "ex2data2.txt").write_text("0.5,0.25,1\n-0.5,0.75,0\n", encoding="utf-8")
    ds = load_source(DatasetSource("microchips", "train"), data_dir=tmp_path)
    assert ds.x.tolist() == [[0.5, 0.25], [-0.5, 0.75]] and ds.y.tolist() == [1, 0]
    assert ds.x.dtype == np.float32


@pytest.mark.parametrize("shape", [(0, 28, 28), (0,), (3, 0)])
def test_read_inputs_refuses_a_file_without_values(tmp_path: Path, shape: tuple[int, ...]) -> None:
    np.save(tmp_path / "empty.npy", np.zeros(shape, np.uint8))
    with pytest.raises(DataFormatError, match=r"empty.npy: (no rows|rows without values) \(an"):
        read_inputs(tmp_path / "empty.npy")


def write_idx(path: Path, array: np.ndarray) -> Path:
    """An IDX file (gzip) of uint8 data, written from the format's definition."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, ">u4").tobytes()
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def test_read_inputs_tells_formats_by_content(tmp_path: Path) -> None:
    images = np.random.default_rng(0).integers(0, 256, (4, 8, 8)).astype(np.uint8)
    assert np.array_equal(read_inputs(write_idx(tmp_path / "x.idx.gz", images)), images)
    np.save(tmp_path / "x.npy", images)
    assert np.array_equal(read_inputs(tmp_path / "x.npy"), images)
    np.save(tmp_path / "one.npy", images[0].ravel())
    assert read_inputs(tmp_path / "one.npy").shape == (1, 64)
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3,4.5\n", encoding="utf-8")
    assert read_inputs(tmp_path / "x.csv").tolist() == [[1.0, 2.0], [3.0, 4.5]]
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFormatError, match=r"obj.npy: cannot read NPY without pickle"):
        read_inputs(tmp_path / "obj.npy")
    (tmp_path / "x.bin").write_bytes(b"\x01\x02")
    with pytest.raises(DataFormatError, match=r"x.bin: unknown input format"):
        read_inputs(tmp_path / "x.bin")
    with pytest.raises(DataFormatError, match=r"nope.npy: no such file"):
        read_inputs(tmp_path / "nope.npy")
