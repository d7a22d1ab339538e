"""The package as a whole: the public names, and the core working without the extras."""

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import purenet as pn
from purenet.cli.app import app

DESIGN_NAMES = (
    "Architecture Dense init forward loss grad value_and_grad sgd_step predict tree_map "
    "tree_leaves tree_allclose read_idx read_csv Dataset load_dataset scale fit_standardizer "
    "standardize flatten one_hot map_labels split shuffle batches rotate shift affine train Model "
    "save_model load_model load_recipe run_recipe ACTIVATIONS optim"
).split()


def test_all_lists_exactly_the_public_names() -> None:
    # Both ways (as Thinc's test_import__all__): every listed name is bound, and every public
    # name bound at top level (other than the subpackages themselves) is listed.
    assert set(DESIGN_NAMES) <= set(pn.__all__)
    assert len(pn.__all__) == len(set(pn.__all__))
    missing = [name for name in pn.__all__ if not hasattr(pn, name)]  # imported on first use
    assert missing == []
    bound = {
        name
        for name, value in vars(pn).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert bound - set(pn.__all__) == set()


def test_import_purenet_loads_nothing_heavy_until_a_name_is_used() -> None:
    code = (
        "import sys, purenet as pn\n"
        "assert 'numpy' not in sys.modules and 'purenet.training' not in sys.modules\n"
        "assert pn.train.__module__ == 'purenet.training.loop' and 'numpy' in sys.modules\n"
        "assert 'train' in vars(pn)\n"  # bound after its first use
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    with pytest.raises(AttributeError, match="no attribute 'trian'"):
        pn.trian  # noqa: B018


def test_optimizer_names_live_in_purenet_optim() -> None:
    for name in ("SGD", "Adam", "Constant", "InverseTimeDecay", "ExponentialDecay", "StepDecay"):
        assert hasattr(pn.optim, name)
    assert callable(pn.optim.init) and callable(pn.optim.update)
    assert callable(pn.optim.apply_updates)


def test_the_core_imports_and_trains_without_any_extra() -> None:
    # Block the optional packages as if they were not installed.
    code = (
        "import sys\n"
        "for name in ('matplotlib', 'PIL', 'pooch'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, purenet as pn\n"
        "arch = pn.Architecture((2, 4, 2))\n"
        "x = np.eye(2, dtype=np.float32)\n"
        "result = pn.train(arch, pn.init(arch, seed=0), pn.optim.SGD(0.1), pn.Dataset(x, [0, 1]),"
        " epochs=2, batch_size=2, seed=0)\n"
        "assert len(result.history) == 2\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_a_missing_extra_is_one_line_naming_it_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "matplotlib" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(app, ["plot", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "pip install 'purenet[plot]'" in result.stderr


def test_version_is_a_string() -> None:
    from importlib.metadata import version

    assert pn.__version__ == version("purenet")


def test_the_console_script_runs_the_typer_app() -> None:
    from importlib.metadata import entry_points

    from purenet.__main__ import main

    (script,) = [ep for ep in entry_points(group="console_scripts") if ep.name == "purenet"]
    assert script.load() is main
    done = subprocess.run(["purenet", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "run" in done.stdout


def test_every_package_folder_is_a_regular_package() -> None:
    # setuptools' find_packages skips folders without __init__.py: they would be missing
    # from a wheel although an editable install finds them.
    root = Path(pn.__file__).parent
    folders = [p for p in root.rglob("*") if p.is_dir() and any(p.glob("*.py"))]
    assert [str(p) for p in folders if not (p / "__init__.py").exists()] == []
