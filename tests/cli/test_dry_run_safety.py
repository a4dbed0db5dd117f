"""What --dry-run prints is safe to run (issue 19, row 5).

A table named ``evx`` + newline + ``DROP TABLE victim; --``: ``pgpart
maintain --dry-run > plan.sql; psql -f plan.sql`` dropped ``victim``, because
the plan's ``--`` comment lines showed names raw and the newline ended the
comment. Now every name in a comment line is shown as PostgreSQL would quote
it (a name with a newline or another unprintable character in its U&"..."
form) and every comment line passes through one function that cannot let a
line break through: the script does what its statements say and nothing
else. The statements themselves always quoted names (psycopg's Identifier).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from devcluster import find_bindir
from pgpart.cli.output.common import sql_comment
from tests.support.cli_helpers import NOW, cli

# Names that must not escape a comment, or that are merely unusual.
ODD_NAMES = [
    "evx\nDROP TABLE victim; --",
    "evx\rDROP TABLE victim; --",
    'it\'s "quoted" */ /* -- \\ $$',
    "Événements ☃\u2028DROP TABLE victim; --",
]
KEY = "at\n*/ DROP TABLE victim; --"


def psql(dsn: str, script: Path) -> subprocess.CompletedProcess[str]:
    env_bin = os.environ.get("PGPART_TEST_PGBIN")
    binary = Path(env_bin or find_bindir()) / "psql"
    params = conninfo_to_dict(dsn)
    args = [str(binary), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)]
    args += ["-d", str(params["dbname"]), "-h", str(params["host"]), "-p", str(params["port"])]
    args += ["-U", str(params["user"])]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def names(conn: psycopg.Connection[Any], parent: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        (sql.Identifier("public", parent).as_string(conn),),
    ).fetchall()
    return {r[0] for r in rows}


def victim_exists(conn: psycopg.Connection[Any]) -> bool:
    return conn.execute("SELECT to_regclass('public.victim')").fetchone() != (None,)


def odd_tables(conn: psycopg.Connection[Any]) -> None:
    """Each odd name a monthly table (Aug..Nov 2026, its partitions named
    after it), with a DEFAULT holding a December row and an odd key column;
    and the victim."""
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE TABLE victim (x int)")
    key = sql.Identifier(KEY)
    for name in ODD_NAMES:
        parent = sql.Identifier("public", name)
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint GENERATED ALWAYS AS IDENTITY, {} timestamptz NOT NULL,"
                " body text, PRIMARY KEY (id, {})) PARTITION BY RANGE ({})"
            ).format(parent, key, key, key)
        )
        for month in range(8, 12):
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier("public", f"{name}_2026_{month:02d}"),
                    parent,
                    sql.Literal(f"2026-{month:02d}-01"),
                    sql.Literal(f"2026-{month + 1:02d}-01"),
                )
            )
        conn.execute(
            sql.SQL("CREATE TABLE {} PARTITION OF {} DEFAULT").format(
                sql.Identifier("public", f"{name}_default"), parent
            )
        )
        conn.execute(
            sql.SQL("INSERT INTO {} ({}, body) VALUES ('2026-12-05', 'waiting')").format(
                parent, key
            )
        )


def config_for(tmp_path: Path, retention: str) -> Path:
    config = tmp_path / "pgpart.toml"
    entries = [
        f"[[table]]\nname = {json.dumps('public.' + sql.Identifier(n).as_string(None))}\n"
        f'retention = "{retention}"\npremake = 2\n'
        for n in ODD_NAMES
    ]
    config.write_text("\n".join(entries))
    return config


def run_plan(pg_dsn: str, tmp_path: Path, args: list[str]) -> tuple[str, Any]:
    """The dry run's script run by psql; and the plan as JSON."""
    dry = cli([*args, "--dry-run", "--dsn", pg_dsn, "--now", NOW])
    assert dry.code == 0, dry.stdout + dry.stderr
    as_json = cli([*args, "--dry-run", "--dsn", pg_dsn, "--now", NOW, "-f", "json"])
    assert as_json.code == 0, as_json.stdout + as_json.stderr
    script = tmp_path / "plan.sql"
    script.write_text(dry.stdout)
    ran = psql(pg_dsn, script)
    assert ran.returncode == 0, ran.stderr
    return dry.stdout, as_json.json()


def test_running_the_dry_run_of_maintain_does_what_it_shows(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    odd_tables(pg_conn)
    config = config_for(tmp_path, "2 months")
    text, plan = run_plan(pg_dsn, tmp_path, ["maintain", "--config", str(config)])
    assert victim_exists(pg_conn)
    # every comment line is one line, printable, and each name is shown quoted
    for line in text.splitlines():
        assert line.isprintable(), line
    assert 'public.U&"evx\\000aDROP TABLE victim; --"' in text
    assert 'public.U&"evx\\000dDROP TABLE victim; --"' in text
    # and the plan's work was done: created, rows relocated, expired dropped
    actions = plan["actions"]
    assert {a["action"] for a in actions} == {"create", "drop", "analyze"}
    for name in ODD_NAMES:
        now = names(pg_conn, name)
        assert f"{name}_2026_12" in now and f"{name}_2027_01" in now, name
        assert f"{name}_2026_08" not in now and f"{name}_2026_09" in now, name
        moved = pg_conn.execute(
            sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"{name}_2026_12"))
        ).fetchone()
        assert moved == (1,), name


def test_running_the_dry_run_of_create_and_drop_does_what_it_shows(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    odd_tables(pg_conn)
    table = "public." + sql.Identifier(ODD_NAMES[0]).as_string(None)
    run_plan(pg_dsn, tmp_path, ["create", table, "--to", "2027-02-01"])
    run_plan(pg_dsn, tmp_path, ["drop", table, "--before", "2026-10-01", "--yes"])
    run_plan(pg_dsn, tmp_path, ["drop", table, "--before", "2026-11-01", "--detach", "--yes"])
    assert victim_exists(pg_conn)
    now = names(pg_conn, ODD_NAMES[0])
    assert {f"{ODD_NAMES[0]}_2026_12", f"{ODD_NAMES[0]}_2027_01"} <= now
    assert not {f"{ODD_NAMES[0]}_2026_{m:02d}" for m in (8, 9, 10)} & now


@pytest.mark.parametrize(
    "text",
    [
        "a\nb",
        "a\rDROP TABLE victim; --",
        "a\r\nb",
        "x\x1b[31m\x00\u2028y\x85z",
        "",
    ],
)
def test_a_comment_is_only_a_comment(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path, text: str
) -> None:
    pg_conn.execute("CREATE TABLE victim (x int)")
    comment = sql_comment(text)
    assert all(line.startswith("--") and line.isprintable() for line in comment.split("\n"))
    script = tmp_path / "c.sql"
    script.write_text(comment + "\n")
    ran = psql(pg_dsn, script)
    assert ran.returncode == 0 and ran.stdout == "", ran.stdout + ran.stderr
    assert victim_exists(pg_conn)
