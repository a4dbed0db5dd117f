"""The pure core never imports psycopg: planning, the calendar, names and
config are testable without a driver, and `--version` stays fast."""

from __future__ import annotations

import subprocess
import sys

import pytest

PURE = (
    "pgpart.bounds",
    "pgpart.calendar",
    "pgpart.config",
    "pgpart.duration",
    "pgpart.errors",
    "pgpart.localtime",
    "pgpart.names",
    "pgpart.naming",
    "pgpart.plan",
    "pgpart.planner",
    "pgpart.render_time",
    "pgpart.sibling",
)


@pytest.mark.parametrize("module", PURE)
def test_pure_module_does_not_import_psycopg(module: str) -> None:
    code = f"import sys, {module}; print(sorted(m for m in sys.modules if m.split('.')[0] == 'psycopg'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", f"{module} pulls in {out.stdout.strip()}"
