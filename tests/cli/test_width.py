"""Every table output fits an 80-column terminal, over one database and over
many: long cells and messages wrap as they do for one database, and a table
that cannot fit with a database column is drawn once per database."""

from __future__ import annotations

import sys
from typing import Any

import psycopg
import pytest

import pgpart.cli.write_commands as write_commands
from tests.cli.test_parity import seed
from tests.support.cli_helpers import NOW, Run, cli
from tests.support.fleet_helpers import Databases, databases

__all__ = ["databases"]  # the fixture, used by name

N = ["--now", NOW]
WIDTH = 80
LONG = "livechat_messages_with_a_rather_long_name"


def wide_seed(conn: psycopg.Connection[Any], i: int) -> None:
    """The parity tables, and one whose name and problems make long cells."""
    seed(conn, i)
    conn.execute(
        f"CREATE TABLE {LONG} (id bigint, at timestamptz NOT NULL) PARTITION BY RANGE (at)"
    )
    conn.execute(
        f"CREATE TABLE {LONG}_2026_09 PARTITION OF {LONG}"
        " FOR VALUES FROM ('2026-09-01') TO ('2026-10-01')"
    )
    conn.execute(f"CREATE TABLE {LONG}_default PARTITION OF {LONG} DEFAULT")
    conn.execute(f"INSERT INTO {LONG} (id, at) VALUES (1, '2026-11-05'), (2, '2026-12-24')")


def too_long(text: str) -> list[str]:
    return [line for line in text.splitlines() if len(line) > WIDTH]


def script_heads(text: str) -> str:
    """The summary and plan each dry-run script opens with (wrapped to the
    width), not the statements or each statement's comment (whole, as SQL)."""
    heads = []
    for script in text.split("\n\n"):
        if "pgpart dry run at" in script:
            heads.append(script.split("\n--\n")[0])
    return "\n".join(heads)


class _TerminalSys:
    """sys, with a terminal on stdin: drop shows its list and asks."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sys, name)

    @property
    def stdin(self) -> Any:
        class Tty:
            def __getattr__(self, name: str) -> Any:
                return getattr(sys.stdin, name)

            def isatty(self) -> bool:
                return True

        return Tty()


COMMANDS = [
    ["check", *N],
    ["check", "--timeline", *N],
    ["stats"],
    ["create", LONG, "--from", "2026-10-01", *N],
    ["maintain", *N],
    ["drop", "events", "--older-than", "2 days", "--yes", *N],
]


@pytest.mark.parametrize("many", [False, True], ids=["one database", "two databases"])
def test_table_output_fits_80_columns(databases: Databases, many: bool, monkeypatch) -> None:
    env = {"COLUMNS": str(WIDTH)}
    made = databases.make(2 if many else 1, wide_seed)
    where = [a for d in made for a in ("--dsn", d)]
    for args in COMMANDS:
        run = cli([*args, *where], env=env)
        assert run.code in (0, 1, 2), (args, run.stderr)
        assert run.stdout, args
        assert not too_long(run.stdout), (args, too_long(run.stdout))
    dry = cli(["maintain", "--dry-run", *where, *N], env=env)
    assert dry.code == 0 and script_heads(dry.stdout).count("pgpart dry run at") == len(made)
    assert not too_long(script_heads(dry.stdout)), too_long(script_heads(dry.stdout))
    # drop's list before it asks (on stderr), sizes and all
    monkeypatch.setattr(write_commands, "sys", _TerminalSys())
    asked: Run = cli(["drop", LONG, "--older-than", "1 month", *where, *N], env=env, input="n\n")
    assert asked.code == 0 and "pgpart is about to drop:" in asked.stderr, asked.stderr
    preview = asked.stderr.split("pgpart is about to drop:\n")[1].split("\n\n")[0]
    assert not too_long(preview), too_long(preview)


def test_wide_prints_whole_lines(databases: Databases) -> None:
    made = databases.make(2, wide_seed)
    where = [a for d in made for a in ("--dsn", d)]
    run = cli(["check", "--wide", *where, *N], env={"COLUMNS": str(WIDTH)})
    assert too_long(run.stdout)  # one table with its database column, messages whole
    assert run.stdout.splitlines()[0].split()[:2] == ["database", "table"]
