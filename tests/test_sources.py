"""Reading data for a model: recipe sources and raw input files."""

from __future__ import annotations

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
