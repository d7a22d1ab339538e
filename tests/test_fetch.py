"""Tests of purenet.fetch against a local http.server on 127.0.0.1 (never the network)."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import struct
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from purenet.data.fetch import fetch_dataset, verify_file
from purenet.data.idx import read_idx
from purenet.data.load import load_dataset
from purenet.data.registry import DATASETS, DatasetSpec, RemoteFile, default_cache_dir
from purenet.errors import FetchError, PurenetError


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A folder served over HTTP on 127.0.0.1 (port chosen by the OS) and its base URL."""
    root = tmp_path / "served"
    root.mkdir()
    handler = partial(QuietHandler, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("PURENET_CACHE", str(cache))
    monkeypatch.delenv("PURENET_MIRROR", raising=False)
    return cache


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


IMAGES = np.random.default_rng(0).integers(0, 256, (50, 28, 28)).astype(np.uint8)
LABELS = (np.arange(50) % 10).astype(np.uint8)
PAYLOADS = {
    "t10k-images-idx3-ubyte.gz": idx_bytes(IMAGES),
    "t10k-labels-idx1-ubyte.gz": idx_bytes(LABELS),
}


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch, served: tuple[Path, str]) -> tuple[Path, str]:
    """A registry entry `tiny` (made-up data) and its files on the local server."""
    root, url = served
    files = tuple(
        RemoteFile(name, hashlib.sha256(data).hexdigest(), len(data))
        for name, data in PAYLOADS.items()
    )
    spec = DatasetSpec(
        name="tiny",
        kind="idx",
        mirror=url + "tiny/",
        files=files,
        splits={"test": tuple(PAYLOADS)},
    )
    monkeypatch.setitem(DATASETS, "tiny", spec)  # type: ignore[index]
    (root / "tiny").mkdir()
    for name, data in PAYLOADS.items():
        (root / "tiny" / name).write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    return root / "tiny", url


def leftovers(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "tiny").iterdir()) if (cache / "tiny").exists() else []


def test_fetch_downloads_verifies_and_caches(tiny: tuple[Path, str], isolated: Path) -> None:
    events: list[tuple[str, str]] = []
    folder = fetch_dataset("tiny", on_file=lambda name, status: events.append((name, status)))
    assert folder == isolated / "tiny"
    assert leftovers(isolated) == sorted(PAYLOADS)
    np.testing.assert_array_equal(read_idx(folder / "t10k-images-idx3-ubyte.gz"), IMAGES)
    assert [s for _, s in events] == ["downloading", "downloaded"] * 2
    # A second call finds the verified files and downloads nothing, even with no server files.
    shutil.rmtree(tiny[0])
    events.clear()
    fetch_dataset("tiny", on_file=lambda name, status: events.append((name, status)))
    assert [s for _, s in events] == ["cached", "cached"]


def test_recompressed_payload_still_verifies(tiny: tuple[Path, str], isolated: Path) -> None:
    for name, data in PAYLOADS.items():
        (tiny[0] / name).write_bytes(gzip.compress(data, compresslevel=1))
    fetch_dataset("tiny")
    # Served without compression under the same name: the payload is what counts.
    (tiny[0] / "t10k-labels-idx1-ubyte.gz").write_bytes(PAYLOADS["t10k-labels-idx1-ubyte.gz"])
    fetch_dataset("tiny", cache_dir=isolated / "other")
    np.testing.assert_array_equal(
        read_idx(isolated / "other" / "tiny" / "t10k-labels-idx1-ubyte.gz"), LABELS
    )


def test_corrupted_download_is_refused_and_not_cached(
    tiny: tuple[Path, str], isolated: Path
) -> None:
    name = "t10k-images-idx3-ubyte.gz"
    bad = bytearray(PAYLOADS[name])
    bad[100] ^= 0xFF  # valid gzip of the wrong payload
    (tiny[0] / name).write_bytes(gzip.compress(bytes(bad)))
    with pytest.raises(FetchError, match="refused, not cached") as info:
        fetch_dataset("tiny", [name])
    assert "SHA-256 of the decompressed data" in str(info.value)
    assert leftovers(isolated) == []


def test_truncated_download_is_refused(tiny: tuple[Path, str], isolated: Path) -> None:
    name = "t10k-images-idx3-ubyte.gz"
    data = (tiny[0] / name).read_bytes()
    (tiny[0] / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(FetchError, match="corrupt or truncated download"):
        fetch_dataset("tiny")
    assert name not in leftovers(isolated)
    assert not any(n.startswith(".download-") for n in leftovers(isolated))


def test_http_404_is_a_clear_purenet_error(tiny: tuple[Path, str], isolated: Path) -> None:
    (tiny[0] / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(PurenetError, match=r"t10k-labels-idx1-ubyte\.gz: HTTP error 404"):
        fetch_dataset("tiny")


def test_corrupted_cache_is_downloaded_again(tiny: tuple[Path, str], isolated: Path) -> None:
    fetch_dataset("tiny")
    cached = isolated / "tiny" / "t10k-labels-idx1-ubyte.gz"
    cached.write_bytes(b"garbage")
    events: list[str] = []
    fetch_dataset("tiny", on_file=lambda name, status: events.append(status))
    assert events == ["cached", "downloading", "downloaded"]
    np.testing.assert_array_equal(read_idx(cached), LABELS)


def test_mirror_argument_and_environment(
    tiny: tuple[Path, str], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = tiny[1]
    # The spec's default mirror is wrong here; the environment and the argument override it.
    monkeypatch.setitem(DATASETS, "tiny", _with_mirror("http://127.0.0.1:9/none/"))  # type: ignore[index]
    monkeypatch.setenv("PURENET_MIRROR", url + "{name}")
    fetch_dataset("tiny")
    monkeypatch.setenv("PURENET_MIRROR", "http://127.0.0.1:9/")
    fetch_dataset("tiny", mirror=url + "tiny", cache_dir=isolated / "b")
    assert leftovers(isolated / "b") == sorted(PAYLOADS)


def _with_mirror(mirror: str) -> DatasetSpec:
    import attrs

    return attrs.evolve(DATASETS["tiny"], mirror=mirror)


def test_unknown_name_and_missing_mirror(isolated: Path) -> None:
    with pytest.raises(FetchError, match="known: fashion-mnist, microchips, mnist"):
        fetch_dataset("cifar")
    with pytest.raises(FetchError, match="microchips has no default mirror"):
        fetch_dataset("microchips")


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert default_cache_dir() == tmp_path / "cache"
    monkeypatch.delenv("PURENET_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert default_cache_dir() == tmp_path / "xdg" / "purenet"


# --- with the real files --------------------------------------------------------------------


def test_registry_hashes_match_the_shared_files(data_dir: Path) -> None:
    checked = 0
    for name, spec in DATASETS.items():
        for remote in spec.files:
            local = data_dir / name / remote.name
            if local.exists():
                verify_file(local, remote)
                checked += 1
    assert checked == 7  # all but the MNIST 60k train files, which are not offline


def test_load_dataset_fetches_when_missing(
    data_dir: Path, served: tuple[Path, str], monkeypatch: pytest.MonkeyPatch, isolated: Path
) -> None:
    root, url = served
    shutil.copytree(data_dir / "mnist", root / "mnist")
    shutil.copy(data_dir / "microchips" / "ex2data2.txt", root / "ex2data2.txt")
    monkeypatch.delenv("PURENET_DATA_DIR")
    monkeypatch.setenv("PURENET_MIRROR", url + "{name}/")
    (isolated.parent / "empty").mkdir()
    test = load_dataset("mnist", "test", data_dir=isolated.parent / "empty")
    assert test.x.shape == (10000, 28, 28) and int(test.y[0]) == 7
    assert (isolated / "mnist" / "t10k-images-idx3-ubyte.gz").is_file()
    chips = fetch_dataset("microchips", mirror=url)
    assert len(load_dataset("microchips", "train")) == 118
    assert chips == isolated / "microchips"
    # The 60k train files are not on this mirror: a clear error naming where it looked.
    with pytest.raises(PurenetError, match="HTTP error 404") as info:
        load_dataset("mnist", "train")
    assert "mnist:train" in str(info.value) and str(isolated) in str(info.value)
