"""The layers: pgpart.core is pure (it never imports psycopg, so planning,
the calendar and names are testable without a driver and `--version` stays
fast), and it never reaches into pgpart.config, pgpart.db or pgpart.cli
(configuration parses into the core's records); nothing below the
command line (the package facade included) imports it; and no module
imports itself back through others (the graph is computed from the source)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PGPART = Path(__file__).resolve().parents[2] / "pgpart"
CORE = sorted(p.stem for p in (PGPART / "core").glob("*.py") if p.stem != "__init__")
CONFIG = sorted(p.stem for p in (PGPART / "config").glob("*.py") if p.stem != "__init__")
PURE = (
    [f"pgpart.core.{m}" for m in CORE]
    + ["pgpart.config"]
    + [f"pgpart.config.{m}" for m in CONFIG]
    + ["pgpart.errors"]
)


def test_the_core_is_not_empty() -> None:
    assert {"planner", "calendar", "siblings", "snapshot"} <= set(CORE)


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_not_import_psycopg(module: str) -> None:
    code = (
        f"import sys, {module};"
        " print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"{module} pulls in {out.stdout.strip()}"


@pytest.mark.parametrize("name", CORE)
def test_core_imports_nothing_outside_the_core(name: str) -> None:
    tree = ast.parse((PGPART / "core" / f"{name}.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("pgpart"):
            # Policy is the core's own (pgpart.core.policy): configuration
            # parses into it, the core never reads configuration.
            allowed = ("pgpart.core", "pgpart.errors")
            inside = node.module.startswith("pgpart.core.")
            assert node.module in allowed or inside, f"pgpart/core/{name}.py imports {node.module}"


BELOW_THE_CLI = sorted(
    p
    for p in PGPART.rglob("*.py")
    if "cli" not in p.relative_to(PGPART).parts
    # `python -m pgpart` runs the command line; the package facade is the library
    and p.relative_to(PGPART).as_posix() != "__main__.py"
)


@pytest.mark.parametrize("path", BELOW_THE_CLI, ids=lambda p: str(p.relative_to(PGPART)))
def test_nothing_below_the_command_line_imports_it(path: Path) -> None:
    """core, db, config, api, errors and the facade serve the CLI and library
    users alike."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            assert not name.startswith("pgpart.cli"), f"{path.name} imports {name}"


# --- the import graph: no circles, the facade above nothing of the CLI --------------------


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PGPART.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PGPART.rglob("*.py")}


def _imported(module: str, node: ast.AST) -> list[str]:
    """The pgpart modules an import statement names (``from pkg import sub``:
    the submodule when there is one, else the module the name comes from)."""
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        found = [
            f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
            for a in node.names
        ]
    elif isinstance(node, ast.Import):
        found = [a.name for a in node.names]
    else:
        return []
    out = []
    for name in found:
        while name and name not in MODULES:  # an attribute's module, or a package's
            name = name.rpartition(".")[0]
        # A module's packages are imported before it anyway: naming one (for
        # its __version__) adds no order; what a package imports itself counts.
        if name and name != module and not module.startswith(name + "."):
            out.append(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """Every import of every module, where it stands (inside a function, or
    for type checking only: each is a dependency all the same)."""
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[module] = {name for node in ast.walk(tree) for name in _imported(module, node)}
    return graph


def circles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[frozenset[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle() -> None:
    """No module imports itself back through others, anywhere in pgpart
    (packages included: a package's __init__ imports nothing of its own)."""
    found = circles(import_graph())
    assert found == [], sorted(sorted(c) for c in found)


def test_the_circle_finder_finds_circles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [frozenset({"a", "b", "c"})]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_facade_never_imports_the_command_line() -> None:
    """``import pgpart`` is the library: it names nothing of pgpart.cli, neither
    in an import (type-checking ones included) nor among its lazy exports."""
    import pgpart

    assert not {m for m in import_graph()["pgpart"] if m.startswith("pgpart.cli")}
    exported = {module for module, _ in pgpart._EXPORTS.values()}
    assert exported and not {m for m in exported if m.startswith("pgpart.cli")}
    code = "import sys, pgpart; [getattr(pgpart, n) for n in pgpart.__all__]; print(sorted(m for m in sys.modules if m.startswith('pgpart.cli')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
