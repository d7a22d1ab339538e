"""Tests of purenet.data: IDX and CSV readers, Dataset and its pure steps, load_dataset."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from purenet.core.tree import tree_equal, tree_map
from purenet.data.csv import read_csv
from purenet.data.dataset import Dataset, batches, map_labels, one_hot, shuffle, split
from purenet.data.idx import read_idx, read_idx_pair
from purenet.data.load import load_dataset
from purenet.errors import DataFormatError, PurenetError

CODES = {
    np.dtype(np.uint8): 0x08,
    np.dtype(np.int8): 0x09,
    np.dtype(np.int16): 0x0B,
    np.dtype(np.int32): 0x0C,
    np.dtype(np.float32): 0x0D,
    np.dtype(np.float64): 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """A tiny independent IDX writer: magic, big-endian dimensions, big-endian payload."""
    code = CODES[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes, *, compress: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


# --- read_idx -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("compress", [False, True])
def test_read_idx_round_trips_every_dtype(tmp_path: Path, dtype: np.dtype, compress: bool) -> None:
    rng = np.random.default_rng(0)
    if dtype.kind == "f":
        array = rng.normal(size=(3, 4, 5)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True).astype(dtype)
    # The file name says nothing: compression is detected from the bytes.
    path = write(tmp_path / "data.idx", idx_bytes(array), compress=compress)
    out = read_idx(path)
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, array)


@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 1, 3, 2)])
def test_read_idx_keeps_shape(tmp_path: Path, shape: tuple[int, ...]) -> None:
    array = np.arange(int(np.prod(shape)), dtype=np.int32).reshape(shape)
    assert read_idx(write(tmp_path / "a", idx_bytes(array))).shape == shape


GOOD = idx_bytes(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3))

BAD_FILES = {
    "empty": (b"", "empty file"),
    "truncated magic": (GOOD[:3], "truncated header"),
    "truncated dims": (GOOD[:10], "truncated header"),
    "wrong magic": (b"\x01\x00" + GOOD[2:], "not an IDX file"),
    "bad dtype code": (GOOD[:2] + b"\x07" + GOOD[3:], "unknown IDX type code 0x07"),
    "zero dims": (b"\x00\x00\x08\x00", "0 dimensions"),
    "truncated payload": (GOOD[:-1], "header says 2 x 3 x 3 = 18 bytes, file holds 17"),
    "trailing bytes": (GOOD + b"\x00", "extra trailing bytes"),
    "lying dims": (GOOD[:4] + struct.pack(">3I", 3, 3, 3) + GOOD[16:], "= 27 bytes"),
}


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("case", list(BAD_FILES))
def test_read_idx_refuses_bad_files(tmp_path: Path, case: str, compress: bool) -> None:
    data, message = BAD_FILES[case]
    path = write(tmp_path / "t10k-images.gz", data, compress=compress)
    with pytest.raises(DataFormatError) as info:
        read_idx(path)
    assert "t10k-images.gz" in str(info.value)
    assert message in str(info.value)


def test_read_idx_message_names_expected_and_found(tmp_path: Path) -> None:
    path = write(tmp_path / "t10k-images.gz", idx_bytes(np.zeros((100, 28, 28), np.uint8))[:-16])
    with pytest.raises(DataFormatError, match="header says 100 x 28 x 28 = 78400 bytes, file"):
        read_idx(path)


def test_read_idx_refuses_huge_claim_before_allocating(tmp_path: Path) -> None:
    # 10^12 items claimed by a 30-byte file: refused from the header alone, raw and gzip.
    header = bytes([0, 0, 0x08, 2]) + struct.pack(">2I", 1_000_000, 1_000_000)
    raw = write(tmp_path / "huge.idx", header + b"\x00" * 18)
    assert raw.stat().st_size == 30
    packed = write(tmp_path / "huge.idx.gz", header + b"\x00" * 18, compress=True)
    tracemalloc.start()
    try:
        with pytest.raises(DataFormatError, match="1000000000000 bytes, file holds 18"):
            read_idx(raw)
        with pytest.raises(DataFormatError, match="cannot hold more than"):
            read_idx(packed)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def test_read_idx_gzip_that_ends_early(tmp_path: Path) -> None:
    data = gzip.compress(
        idx_bytes(np.random.default_rng(1).integers(0, 255, (50, 28, 28)).astype(np.uint8))
    )
    path = write(tmp_path / "short.gz", data[: len(data) // 2])
    with pytest.raises(DataFormatError, match=r"short\.gz"):
        read_idx(path)
    corrupt = bytearray(data)
    corrupt[len(data) // 2] ^= 0xFF
    with pytest.raises(DataFormatError, match=r"bad\.gz"):
        read_idx(write(tmp_path / "bad.gz", bytes(corrupt)))


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataFormatError, match=r"nope\.idx: no such file"):
        read_idx(tmp_path / "nope.idx")


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=64), compress=st.booleans())
def test_read_idx_random_bytes_raise_only_data_format_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, compress: bool
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "random.idx"
    write(path, data, compress=compress)
    try:
        read_idx(path)
    except DataFormatError as error:
        assert "random.idx" in str(error)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(min_size=1, max_size=40))
def test_read_idx_random_payload_after_valid_magic(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "magic.idx"
    write(path, b"\x00\x00\x08\x02" + data)
    try:
        read_idx(path)
    except DataFormatError:
        pass


# --- read_csv -------------------------------------------------------------------------------


def test_read_csv_label_first_like_mnist_csv(tmp_path: Path) -> None:
    path = tmp_path / "mnist_train.csv"
    path.write_text("5,0,0,255\n0,12,34,56\n")
    ds = read_csv(path)
    np.testing.assert_array_equal(ds.y, [5, 0])
    assert ds.y.dtype == np.int64
    assert ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.x, [[0, 0, 255], [12, 34, 56]])


def test_read_csv_label_last_named_and_header(tmp_path: Path) -> None:
    path = tmp_path / "chips.csv"
    path.write_text("test1,test2,QA\n0.5,-0.25,1\n\n0.125,0.75,0\n")
    ds = read_csv(path, label="last")
    np.testing.assert_array_equal(ds.y, [1, 0])
    np.testing.assert_array_equal(ds.x, np.array([[0.5, -0.25], [0.125, 0.75]], np.float32))
    named = read_csv(path, label="test1", dtype=np.float64)
    np.testing.assert_array_equal(named.y, [0.5, 0.125])
    np.testing.assert_array_equal(named.x, [[-0.25, 1], [0.75, 0]])


def test_read_csv_uint8_features(tmp_path: Path) -> None:
    path = tmp_path / "px.csv"
    path.write_text("1,0,255\n2,3,4\n")
    assert read_csv(path, dtype=np.uint8).x.dtype == np.uint8
    path.write_text("1,0,256\n")
    with pytest.raises(DataFormatError, match="do not fit uint8"):
        read_csv(path, dtype=np.uint8)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,3\n4,5\n", "line 2: expected 3 fields, found 2"),
        ("1,2,3\n\n4,5,6\n7,x,9\n", "line 4, column 2: expected a number, found 'x'"),
        ("a,b,c\n1,2,3\n4,nan,6\n", "line 3, column 2: expected a finite number"),
        ("", "empty file"),
        ("a,b,c\n", "no data rows"),
    ],
)
def test_read_csv_refuses_malformed_rows_with_line_number(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(DataFormatError) as info:
        read_csv(path)
    assert "bad.csv" in str(info.value) and message in str(info.value)


def test_read_csv_named_label_needs_header(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("1,2\n")
    with pytest.raises(DataFormatError, match="no header"):
        read_csv(path, label="y")
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataFormatError, match="no column named 'y'; columns: a, b"):
        read_csv(path, label="y")


# --- Dataset --------------------------------------------------------------------------------


def test_dataset_is_frozen_readonly_tree() -> None:
    x = np.zeros((3, 2), np.float32)
    ds = Dataset(x, np.arange(3))
    with pytest.raises(ValueError, match="read-only"):
        ds.x[0, 0] = 1.0
    x[0, 0] = 5.0  # the caller's own array stays writeable
    doubled = tree_map(lambda a: a * 2, ds)
    assert isinstance(doubled, Dataset) and doubled.x[0, 0] == 10.0
    with pytest.raises(ValueError, match="differ in length"):
        Dataset(np.zeros((3, 2)), np.zeros(4))


# --- real data ------------------------------------------------------------------------------

EXPECTED = {
    ("mnist", "test"): ((10000, 28, 28), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
    ("mnist", "train10k"): (
        (10000, 28, 28),
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978],
    ),
    ("fashion-mnist", "train"): ((60000, 28, 28), [6000] * 10),
    ("fashion-mnist", "test"): ((10000, 28, 28), [1000] * 10),
}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # An empty cache and an unreachable mirror: real-data tests never download.
    monkeypatch.setenv("PURENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PURENET_MIRROR", "http://127.0.0.1:9/{name}/")


@pytest.mark.parametrize(("name", "split_name"), list(EXPECTED))
def test_real_idx_data(data_dir: Path, offline: None, name: str, split_name: str) -> None:
    shape, counts = EXPECTED[name, split_name]
    ds = load_dataset(name, split_name)
    assert ds.x.shape == shape and ds.x.dtype == np.uint8
    assert ds.y.shape == shape[:1] and ds.y.dtype == np.uint8
    assert np.bincount(ds.y, minlength=10).tolist() == counts


def test_real_mnist_details(data_dir: Path, offline: None) -> None:
    test = load_dataset("mnist", "test", data_dir=data_dir)
    assert int(test.y[0]) == 7
    assert int(test.x.max()) == 255
    # Offline, "train" is the first 10k training digits.
    train = load_dataset("mnist", "train")
    assert tree_equal(train, load_dataset("mnist", "train10k"))
    first = read_idx(data_dir / "mnist" / "train10k-labels-idx1-ubyte.gz")
    assert first[:5].tolist() == [5, 0, 4, 1, 9]


def test_real_microchips(data_dir: Path, offline: None) -> None:
    ds = load_dataset("microchips", "train")
    assert ds.x.shape == (118, 2) and ds.x.dtype == np.float32
    assert ds.y.dtype == np.int64 and np.bincount(ds.y).tolist() == [60, 58]
    np.testing.assert_allclose(ds.x[0], [0.051267, 0.69956], rtol=1e-6)


def test_load_dataset_prefers_full_train_files(
    tmp_path: Path, offline: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PURENET_DATA_DIR", raising=False)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for split_name, n in [("train", 12), ("train10k", 10)]:
        write(
            folder / f"{split_name}-images-idx3-ubyte.gz",
            idx_bytes(np.full((n, 2, 2), n, np.uint8)),
            compress=True,
        )
        # Decompressed copies are found too.
        write(folder / f"{split_name}-labels-idx1-ubyte", idx_bytes(np.zeros(n, np.uint8)))
    assert len(load_dataset("mnist", "train", data_dir=tmp_path)) == 12
    assert len(load_dataset("mnist", "train10k", data_dir=tmp_path)) == 10
    (folder / "train10k-images-idx3-ubyte.gz").unlink()
    sliced = load_dataset("mnist", "train10k", data_dir=tmp_path)
    assert len(sliced) == 12  # fewer than 10,000 rows: all of them


def test_load_dataset_refuses_mismatched_files(tmp_path: Path, offline: None) -> None:
    write(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    write(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataFormatError, match="4 labels for 3 images"):
        load_dataset("fashion-mnist", "test", data_dir=tmp_path)


def test_read_idx_pair_reads_images_and_labels_or_names_both_files(tmp_path: Path) -> None:
    images = write(tmp_path / "i.gz", idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 2, 2)))
    labels = write(tmp_path / "l", idx_bytes(np.array([2, 0, 1], np.uint8)))
    ds = read_idx_pair(images, labels)
    assert ds.x[2].tolist() == [[8, 9], [10, 11]] and ds.y.tolist() == [2, 0, 1]
    short = write(tmp_path / "s", idx_bytes(np.zeros(2, np.uint8)))
    with pytest.raises(DataFormatError, match=f"^{short}: 2 labels for 3 images in {images}$"):
        read_idx_pair(images, short)


def test_load_dataset_unknown_names(offline: None) -> None:
    with pytest.raises(PurenetError, match="known: fashion-mnist, microchips, mnist"):
        load_dataset("cifar", "train")
    with pytest.raises(PurenetError, match="known: train, train10k, test"):
        load_dataset("mnist", "valid")


def test_load_dataset_missing_lists_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PURENET_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("PURENET_DATA_DIR", raising=False)
    monkeypatch.delenv("PURENET_MIRROR", raising=False)
    (tmp_path / "nowhere").mkdir()
    with pytest.raises(PurenetError, match=r"microchips:train: files ex2data2\.txt not found") as e:
        load_dataset("microchips", "train", data_dir=tmp_path / "nowhere")
    assert "nowhere" in str(e.value) and "no default mirror" in str(e.value)


def test_load_dataset_refuses_a_data_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(PurenetError, match=r"data_dir .*typo: no such directory"):
        load_dataset("microchips", "train", data_dir=tmp_path / "typo")


# --- one_hot, map_labels, shuffle, batches, split -------------------------------------------


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 9), min_size=0, max_size=50))
def test_one_hot_argmax_is_label(labels: list[int]) -> None:
    y = np.array(labels, dtype=np.int64)
    targets = one_hot(y, 10, on=0.99, off=0.01)
    assert targets.shape == (len(labels), 10) and targets.dtype == np.float32
    np.testing.assert_array_equal(np.argmax(targets, axis=1), y)
    assert set(np.unique(targets).tolist()) <= {np.float32(0.99), np.float32(0.01)}


def test_one_hot_refuses_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"must lie in \[0, 10\), found values in \[1, 10\]"):
        one_hot(np.array([1, 10]), 10)
    with pytest.raises(ValueError, match="must be integers of shape"):
        one_hot(np.array([0.5]), 2)
    with pytest.raises(TypeError, match=r"^n_classes must be an integer >= 1, found True$"):
        one_hot(np.array([0]), True)


def test_map_labels() -> None:
    y = np.array([10, 1, 10, 2], np.uint8)
    out = map_labels(y, {10: 0})
    assert out.dtype == np.uint8 and out.tolist() == [0, 1, 0, 2]
    assert y.tolist() == [10, 1, 10, 2]
    assert map_labels(np.array([1, 2]), {1: 2, 2: 1}).tolist() == [2, 1]
    with pytest.raises(ValueError, match="does not fit"):
        map_labels(y, {1: 300})


def small_dataset(n: int = 20) -> Dataset:
    return Dataset(np.arange(n * 2, dtype=np.float32).reshape(n, 2), np.arange(n) % 3)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(0, 200), seed=st.integers(0, 2**32 - 1))
def test_shuffle_is_a_seeded_permutation(n: int, seed: int) -> None:
    ds = Dataset(np.arange(n), np.arange(n) * 10)
    one, two = shuffle(ds, seed=seed), shuffle(ds, seed=seed)
    assert tree_equal(one, two)
    assert sorted(one.x.tolist()) == list(range(n))
    np.testing.assert_array_equal(one.y, one.x * 10)
    if n >= 20:
        assert not np.array_equal(one.x, shuffle(ds, seed=seed + 1).x)


def test_shuffle_accepts_seed_tuples_and_is_pure() -> None:
    ds = small_dataset()
    before = ds.x.copy()
    a = shuffle(ds, seed=(7, 1))
    assert tree_equal(a, shuffle(ds, seed=[7, 1]))
    assert not np.array_equal(a.y, shuffle(ds, seed=(7, 2)).y)
    np.testing.assert_array_equal(ds.x, before)


@pytest.mark.parametrize("size", [1, 3, 7, 20, 25])
def test_batches_cover_each_sample_once(size: int) -> None:
    ds = shuffle(small_dataset(), seed=0)
    parts = list(batches(ds, size))
    assert all(len(b) == size for b in parts[:-1]) and 0 < len(parts[-1]) <= size
    seen = np.concatenate([b.x[:, 0] for b in parts])
    np.testing.assert_array_equal(seen, ds.x[:, 0])
    if size >= 20:
        assert len(parts) == 1
    dropped = list(batches(ds, size, drop_last=True))
    assert all(len(b) == size for b in dropped)


def test_batches_refuse_bad_size() -> None:
    with pytest.raises(ValueError, match=r"^batch size must be an integer >= 1, found 0$"):
        next(batches(small_dataset(), 0))
    with pytest.raises(TypeError, match=r"^batch size must be an integer >= 1, found True$"):
        next(batches(small_dataset(), True))


@pytest.mark.parametrize("stratify", [False, True])
def test_split(stratify: bool) -> None:
    ds = small_dataset(30)
    train, valid = split(ds, 0.2, seed=3, stratify=stratify)
    assert len(train) + len(valid) == 30 and len(valid) == 6
    together = np.sort(np.concatenate([train.x[:, 0], valid.x[:, 0]]))
    np.testing.assert_array_equal(together, ds.x[:, 0])
    assert tree_equal(split(ds, 0.2, seed=3, stratify=stratify)[1], valid)
    if stratify:
        assert np.bincount(valid.y).tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match=r"in \(0, 1\)"):
        split(ds, 1.0, seed=0)
