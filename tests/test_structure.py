"""The shape of the code base, checked: no import cycles, and no module that a reader cannot take in at once.

Both checks read the sources with ``ast`` (nothing is imported), so they are
fast and see every module, including those whose optional extras are missing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("memoryweave_core", "memoryweave_lc", "memoryweave_li", "memoryweave")
MAX_LINES = 400

#: Modules allowed over MAX_LINES, each with the reason; shrink it, never grow it.
OVERSIZED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the four packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not in functions or classes, not under ``if TYPE_CHECKING``."""
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                stack.extend(node.body)
            stack.extend(node.orelse)
        elif isinstance(node, (ast.Try, ast.With)):
            for block in ("body", "orelse", "finalbody"):
                stack.extend(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)


def _resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> set[str]:
    """The project modules an import statement loads (relative imports resolved)."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in MODULES}
    if node.level:
        base = module.split(".")
        if not is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    out = set()
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in MODULES:  # `from pkg import submodule`
            out.add(sub)
        elif target in MODULES:
            out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _module_level_imports(tree):
            edges |= _resolve(module, is_package, node)
        edges.discard(module)
        graph[module] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_checker_sees_the_packages_and_resolves_relative_imports():
    graph = import_graph()
    assert {"memoryweave_core", "memoryweave_core.cli", "memoryweave_lc.store"} <= set(graph)
    assert "memoryweave_core.memory" in graph["memoryweave_core"]  # `from .memory import ...` in __init__
    assert "memoryweave_core.cli.common" in graph["memoryweave_core.cli.parser"]  # `from .common import ...`
    assert "memoryweave_core" in graph["memoryweave_lc.store"]  # absolute import of a package


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (module-level imports): " + "; ".join(" <-> ".join(c) for c in found)


@pytest.mark.parametrize("module", sorted(OVERSIZED))
def test_oversized_allow_list_is_current(module):
    path = REPO / module
    assert path.exists(), f"{module} is gone: remove it from OVERSIZED"
    assert len(path.read_text(encoding="utf-8").splitlines()) > MAX_LINES, f"{module} fits now: remove it from OVERSIZED"


def test_no_module_over_the_line_limit():
    over = {}
    for path in MODULES.values():
        rel = path.relative_to(REPO).as_posix()
        n = len(path.read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES and rel not in OVERSIZED:
            over[rel] = n
    assert not over, f"modules over {MAX_LINES} lines (split them, or list them in OVERSIZED with a reason): {over}"


def test_one_version_read_from_the_installed_package():
    tomllib = pytest.importorskip("tomllib")
    import memoryweave_core

    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert memoryweave_core.__version__ == declared
    for path in MODULES.values():  # no version number written anywhere else
        assert not re.search(r"__version__\s*=\s*[\"']\d+\.\d", path.read_text(encoding="utf-8")), path


def test_every_package_ships_py_typed():
    for package in PACKAGES:
        assert (REPO / package / "py.typed").exists(), package
