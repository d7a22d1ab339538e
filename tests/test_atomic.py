"""Atomic writes: all or nothing, no temp files left behind, permissions from the umask."""

import os
from pathlib import Path

import pytest

from purenet.core.atomic import atomic_write, write_text_atomic


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "metrics.jsonl"
    write_text_atomic(target, "old\n")
    with pytest.raises(RuntimeError), atomic_write(target) as handle:
        handle.write("half of the new")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.jsonl"]


def test_binary_writes_and_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "figure.png"
    previous = os.umask(0o022)
    try:
        with atomic_write(target, binary=True) as handle:
            handle.write(b"\x89PNG")
    finally:
        os.umask(previous)
    assert target.read_bytes() == b"\x89PNG"
    assert target.stat().st_mode & 0o777 == 0o644
