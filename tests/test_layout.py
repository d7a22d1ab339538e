"""The package's shape: subpackages import only from those above them, and no import cycle.

The graph is built with `ast` from the source (no third-party tool), counting every `import` and
`from ... import` of a purenet module, at module level or inside functions: a lazy import is still
a dependency.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import purenet as pn

PACKAGE = Path(pn.__file__).parent

ORDER = (
    "errors",
    "core",
    "data",
    "pipeline",
    "nn",
    "optim",
    "training",
    "modelfile",
    "exchange",
    "plots",
    "recipe",
    "run",
    "sklearn",
    "cli",
)
"""Stages in the order they may import: each from itself and those listed before it."""

TOP = ("__init__", "__main__")
"""The flat public API and the `python -m purenet` entry point may import anything."""


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def purenet_imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every purenet import in the file, names resolved to modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "purenet":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] != "purenet":
                continue
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or (
                    PACKAGE.parent / candidate.replace(".", "/")
                ).is_dir()
                yield node.lineno, candidate if is_module else node.module


def stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        graph[module_name(path)] = {target for _, target in purenet_imports(path)}
    return graph


def test_every_stage_is_in_the_declared_order() -> None:
    stages = {stage(module_name(p)) for p in PACKAGE.rglob("*.py")}
    assert stages - set(TOP) - {"__init__"} <= set(ORDER), "add new subpackages to ORDER"


def test_imports_point_up_the_declared_order() -> None:
    against = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = stage(module_name(path))
        if here in TOP:
            continue
        for line, target in purenet_imports(path):
            there = stage(target)
            if there == "__init__" or ORDER.index(there) > ORDER.index(here):
                against.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}")
    assert against == []


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle() -> None:
    graph = import_graph()
    # A package's __init__ importing its own modules is how a package exposes them, not a cycle.
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(t + ".") and t != "purenet"}
    assert find_cycle(graph) is None


def test_the_cycle_finder_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_modules_stay_small(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= 600, f"{path.relative_to(PACKAGE.parent)} has {lines} lines"


LONG_BODY_REASON = "# long:"
"""A function may run past the limit only with a comment starting `# long:` that says why."""


def long_functions(path: Path, limit: int = 80) -> list[str]:
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        body = node.body
        if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # the docstring
        if not body:
            continue
        length = body[-1].end_lineno - body[0].lineno + 1  # type: ignore[operator]
        text = "\n".join(source.splitlines()[node.lineno - 1 : body[0].lineno + 1])
        if length > limit and LONG_BODY_REASON not in text:
            found.append(f"{node.name}: {length} lines")
    return found


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_function_bodies_stay_short(path: Path) -> None:
    assert long_functions(path) == []


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    (tmp_path / "m.py").write_text(f"def f():\n    '''Doc.'''\n{body}\n", encoding="utf-8")
    assert long_functions(tmp_path / "m.py") == ["f: 81 lines"]
