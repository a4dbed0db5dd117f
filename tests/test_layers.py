"""The layers: pgpart.core is pure (it never imports psycopg, so planning,
the calendar and names are testable without a driver and `--version` stays
fast), and it never reaches into pgpart.db or pgpart.cli."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PGPART = Path(__file__).resolve().parents[1] / "pgpart"
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
            # pgpart.config is pure too: it defines the TablePolicy records planned with
            # (the package or any of its modules)
            allowed = ("pgpart.core", "pgpart.errors", "pgpart.config")
            inside = node.module.startswith(("pgpart.core.", "pgpart.config."))
            assert node.module in allowed or inside, f"pgpart/core/{name}.py imports {node.module}"


BELOW_THE_CLI = sorted(
    p
    for p in PGPART.rglob("*.py")
    if "cli" not in p.relative_to(PGPART).parts
    # the package facade (``from pgpart import render_check``) and `python -m pgpart`
    and p.relative_to(PGPART).as_posix() not in {"__init__.py", "__main__.py"}
)


@pytest.mark.parametrize("path", BELOW_THE_CLI, ids=lambda p: str(p.relative_to(PGPART)))
def test_nothing_below_the_command_line_imports_it(path: Path) -> None:
    """core, db, config, api and errors serve the CLI and library users alike."""
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
