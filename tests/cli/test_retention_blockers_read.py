"""check reads what blocks a partition's removal only for the tables whose
partitions retention may remove; drop --older-than still reads it for the
table it is given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg

from tests.support.cli_helpers import NOW, TODAY, cli, month_start, monthly_table

BLOCKERS = "WITH part AS MATERIALIZED"  # the start of retention_read.BLOCKERS_SQL


def _build(conn: psycopg.Connection[Any]) -> str:
    """Two monthly tables, each with a view on its oldest partition (a
    removal blocker); returns that partition's name suffix."""
    old = month_start(TODAY, -6)
    for name in ("kept", "aged"):
        monthly_table(conn, name, months=range(-6, 3))
        conn.execute(f"CREATE VIEW {name}_old AS SELECT * FROM {name}_{old:%Y_%m}")
    conn.commit()
    return f"{old:%Y_%m}"


def _config(tmp_path: Path, retention: bool) -> str:
    path = tmp_path / f"pgpart-{retention}.toml"
    aged = 'retention = "3 months"\n' if retention else ""
    path.write_text(
        '[[table]]\nname = "public.kept"\ninterval = "monthly"\n\n'
        f'[[table]]\nname = "public.aged"\ninterval = "monthly"\n{aged}'
    )
    return str(path)


def test_check_reads_blockers_only_for_tables_with_retention(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    old = _build(pg_conn)
    base = ["check", "-v", "--dsn", pg_dsn, "--now", NOW, "--format", "json"]

    none = cli([*base, "--config", _config(tmp_path, False)])
    assert none.code in (0, 1), none.stderr
    assert BLOCKERS not in none.stderr  # no table has retention: not asked
    assert "cannot_drop" not in none.stdout

    some = cli([*base, "--config", _config(tmp_path, True)])
    assert some.code in (0, 1), some.stderr
    assert BLOCKERS in some.stderr
    found = [p for t in some.json()["tables"] for p in t["problems"] if p["code"] == "cannot_drop"]
    assert [
        t["table"]
        for t in some.json()["tables"]
        if any(p["code"] == "cannot_drop" for p in t["problems"])
    ] == ["public.aged"], found
    assert f"aged_{old}" in found[0]["message"]


def test_drop_older_than_still_sees_the_blocker(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    old = _build(pg_conn)
    run = cli(
        [
            "drop", "public.kept", "--older-than", "3 months", "--dry-run", "-v",
            "--dsn", pg_dsn, "--now", NOW, "--config", _config(tmp_path, False),
        ]
    )  # fmt: skip
    assert BLOCKERS in run.stderr
    assert f"kept_{old}" in run.stdout + run.stderr
    assert "kept_old" in run.stdout + run.stderr  # the view that keeps it
