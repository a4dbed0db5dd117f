"""Start-up: `--version`, `--help` and shell completion import neither
psycopg nor the commands they do not run; the summaries that `--help` and
completion list without loading a command are its docstring's."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pgpart.cli.app import COMMANDS, load_command

ROOT = Path(__file__).resolve().parents[2]
COMMAND_MODULES = {"pgpart.cli.read_commands", "pgpart.cli.write_commands"}

# Runs the console script's entry point as installed, then prints which of
# the modules that matter were imported, on a line of its own.
_PROBE = """
import json, sys
sys.argv = ["pgpart", *sys.argv[1:]]
from pgpart.__main__ import main
try:
    main()
except SystemExit:
    pass
print("\\nMODULES " + json.dumps(sorted(
    m for m in sys.modules if m.startswith(("psycopg", "pgpart.cli.", "pgpart.core.", "pgpart.db."))
)))
"""


def _imported(*args: str, env: dict[str, str] | None = None) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    line = next(x for x in run.stdout.splitlines() if x.startswith("MODULES "))
    return set(json.loads(line.removeprefix("MODULES ")))


def test_version_imports_no_cli_at_all() -> None:
    assert _imported("--version") == set()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--help",), None),
        ((), None),  # `pgpart` alone: the help on stderr, exit 3
        ((), {"_PGPART_COMPLETE": "complete_bash", "COMP_WORDS": "pgpart ", "COMP_CWORD": "1"}),
        ((), {"_PGPART_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "pgpart m"}),
    ],
)
def test_help_and_completion_load_no_command(
    args: tuple[str, ...], env: dict[str, str] | None
) -> None:
    imported = _imported(*args, env=env)
    assert not imported & COMMAND_MODULES, imported
    assert not any(m.startswith("psycopg") for m in imported), imported


def test_a_command_s_help_loads_that_command_only() -> None:
    imported = _imported("check", "--help")
    assert "pgpart.cli.read_commands" in imported
    assert "pgpart.cli.write_commands" not in imported
    assert not any(m.startswith("psycopg") for m in imported), imported


@pytest.mark.parametrize("name", list(COMMANDS))
def test_listed_summary_is_the_command_s_docstring(name: str) -> None:
    command = load_command(name)
    doc = inspect.cleandoc(command.help or "")
    assert COMMANDS[name][1] == doc.split("\n\n")[0]
    module = sys.modules[COMMANDS[name][0]]
    assert getattr(module, name).__doc__ is not None
