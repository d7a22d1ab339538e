"""Every Python block in README.md runs as written (in a fresh folder, with the bundled recipes).

A block that reads the real data sets needs `PURENET_DATA_DIR` and is skipped without it.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
NEEDS_DATA = re.compile(r"load_dataset\(|run_recipe\(|PURENET_DATA_DIR")


def readme_blocks() -> list[tuple[int, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in BLOCK.finditer(text)]


def test_the_readme_has_python_examples() -> None:
    assert len(readme_blocks()) >= 5


@pytest.mark.parametrize(
    ("line", "code"), readme_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else ""
)
def test_readme_block_runs(line: int, code: str, tmp_path: Path) -> None:
    if NEEDS_DATA.search(code) and not os.environ.get("PURENET_DATA_DIR"):
        pytest.skip("PURENET_DATA_DIR is not set: this README block reads the real data sets")
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"README.md line {line}:\n{done.stderr[-2000:]}"
