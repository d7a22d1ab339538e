"""The recipes that ship with purenet: found by name, listed, and copied as starters.

The top-level `recipes/` folder of the source tree is installed as the package data
`purenet/bundled/` (pyproject maps the package `purenet.bundled` to `recipes`), so
`purenet run mnist` works after `pip install purenet` as in a checkout.

Example:
    >>> from purenet.recipe.bundled import bundled_recipes, find_recipe
    >>> "mnist" in bundled_recipes()
    True
    >>> find_recipe("mnist").name
    'mnist.toml'
"""

from __future__ import annotations

import os
import re
import typing
from pathlib import Path

from purenet.data.registry import DATASETS
from purenet.errors import PurenetError, RecipeError
from purenet.nn.activations import ACTIVATIONS, OUTPUTS
from purenet.nn.losses import LOSSES
from purenet.optim.optimizers import OPTIMIZERS
from purenet.optim.schedules import SCHEDULES
from purenet.pipeline.steps import PREPROCESS_STEPS
from purenet.plots.common import FIGURES
from purenet.recipe.load import read_recipe_data
from purenet.recipe.schema import Augmentation

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
"""The `purenet` package folder."""

SUFFIXES = (".toml", ".json")


def recipes_folder() -> Path:
    """The folder of the bundled recipes: `purenet/bundled` when installed from a wheel, the
    checkout's `recipes/` when run from the source tree (or an editable install).

    Raises:
        PurenetError: neither exists (a broken installation).
    """
    for folder in (PACKAGE_ROOT / "bundled", PACKAGE_ROOT.parent / "recipes"):
        if folder.is_dir() and any(folder.glob("*.toml")):
            return folder
    raise PurenetError(f"no bundled recipes in {PACKAGE_ROOT / 'bundled'}; reinstall purenet")


def bundled_recipes() -> dict[str, Path]:
    """Name (file stem) -> file of every bundled recipe, sorted by name."""
    return {path.stem: path for path in sorted(recipes_folder().glob("*.toml"))}


SHORT_DESCRIPTION = 80
"""A description longer than this is cut to its part before the first colon, or to words."""


def describe_recipe(path: str | os.PathLike[str]) -> str:
    """A recipe's description on one line: the first sentence of its leading comment, cut
    short (`SHORT_DESCRIPTION`) at its first colon or at a word; '' without a comment.
    """
    lines = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if not text:
            break
        lines.append(text)
    text = " ".join(lines)
    # A sentence ends at a full stop before a capital letter or the end ("e.g. x" goes on).
    match = re.match(r"(.+?\.)(?=\s+[A-Z]|\s*$)", text)
    sentence = (match[1] if match else text).rstrip(".")
    if len(sentence) <= SHORT_DESCRIPTION:
        return sentence
    head = sentence.split(":", 1)[0]
    if len(head) <= SHORT_DESCRIPTION:
        return head
    return sentence[: SHORT_DESCRIPTION - 3].rsplit(" ", 1)[0] + "..."


def recipe_command(path: str | os.PathLike[str]) -> str:
    """The command that runs a recipe: `sweep` for one with a `[sweep]` table, else `run`."""
    return "sweep" if "sweep" in read_recipe_data(path) else "run"


def find_recipe(name_or_path: str | os.PathLike[str]) -> Path:
    """The recipe a command was given: an existing file, else the bundled recipe of that name.

    Args:
        name_or_path: a recipe file, or the name of a bundled recipe (`mnist`).

    Returns:
        The recipe file.

    Raises:
        RecipeError: no such file and no bundled recipe of that name (the names are listed).
    """
    path = Path(name_or_path)
    if path.exists() or path.suffix.lower() in SUFFIXES or len(path.parts) > 1:
        return path
    known = bundled_recipes()
    if path.name in known:
        return known[path.name]
    raise RecipeError(
        f"{path}: no such recipe file or bundled recipe; bundled: {', '.join(known)} "
        "(purenet recipes lists them)"
    )


def _choices(names: typing.Iterable[str]) -> str:
    return ", ".join(sorted(names))


def _options_comment() -> list[str]:
    augment = [cls.kind for cls in typing.get_args(Augmentation)]
    return [
        "# What each section can say (the whole schema: purenet schema recipe):",
        f'#   [data] train, test: a data set split ({_choices(DATASETS)}, e.g. "mnist:train"),',
        '#          {kind = "idx", images = "...", labels = "..."} or {kind = "csv", path = "..."}',
        f"#   [pipeline] steps kinds: {_choices(PREPROCESS_STEPS)}; augment kinds: "
        f"{_choices(augment)}",
        f"#   [model] hidden: {_choices(ACTIVATIONS)}",
        f"#           output: {_choices(OUTPUTS)}; loss: {_choices({loss for _, loss in LOSSES})}",
        f"#   [optimizer] kind: {_choices(OPTIMIZERS)}; learning_rate: a number or a schedule",
        f"#               {{kind = ...}}: {_choices(SCHEDULES)}",
        f"#   [output] plots: {_choices(FIGURES)}",
    ]


def _absolute(match: re.Match[str], folder: Path) -> str:
    """A `key = "file"` match with a relative file of `folder` made absolute."""
    name = match[2]
    if Path(name).is_absolute() or not (folder / name).is_file():
        return match[0]
    return f'{match[1]}"{(folder / name).as_posix()}"'


def starter_recipe(name: str, *, base: str = "mnist") -> str:
    """The text of a new recipe to edit: a bundled recipe under a header of comments.

    The header says how to run and quickly check the recipe and lists the choices of each
    section (from the package's registries); `[output] dir` becomes `runs/<name>`, and data
    files the bundled recipe names relative to its folder become absolute paths.

    Args:
        name: the new recipe's name (its file is `<name>.toml`).
        base: the bundled recipe to start from.

    Raises:
        RecipeError: `base` is not a bundled recipe, or `name` is not a plain file name.
    """
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise RecipeError(f"{name!r}: a recipe name is letters, digits, '.', '_' and '-'")
    known = bundled_recipes()
    if base not in known:
        raise RecipeError(
            f"--from {base}: no bundled recipe of that name; bundled: {', '.join(known)}"
        )
    text = known[base].read_text(encoding="utf-8")
    # Files the bundled recipe names relative to its folder stay where they are.
    text = re.sub(
        r'((?:path|images|labels)\s*=\s*)"([^"\n]+)"',
        lambda m: _absolute(m, known[base].parent),
        text,
    )
    # Without a `dir` line the run folder is runs/<file stem> already.
    text = re.sub(
        r'^(\[output\][^\[]*?^dir = )"[^"\n]*"', rf'\1"runs/{name}"', text, flags=re.M | re.S
    )
    header = [
        f"# {name}: a starter recipe, copied from the bundled recipe {base!r} (purenet new).",
        "# Edit it, try it in seconds with",
        f"#     purenet run {name}.toml --limit 500 --set train.epochs=1",
        f"# then train with `purenet run {name}.toml` (the run folder is runs/{name}).",
        "#",
        *_options_comment(),
        "#",
        f"# The recipe {base!r} follows.",
        "",
    ]
    return "\n".join(header) + "\n" + text
