"""Sets pg_partman 4.7 made itself, taken over and extended by pgpart.

Every test here builds the set with pg_partman's own create_parent() (the
calls of pg_partman's test suite: native partitioning, its interval names or
a plain interval), asks pg_partman's show_partition_name() what the next
partitions would be called *before* pgpart touches the set, hands the set
over (deletes its part_config row) and has `pgpart create` extend it: names
and bounds must be pg_partman's. Tests whose name holds "partman" run on the
PostgreSQL major whose pg_partman package is installed (tests/conftest.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgpart.config import Overrides, load_settings
from pgpart.core.calendar import parse_interval
from tests.support.cli_helpers import cli

UTC = timezone.utc
SHORT = "time_taptest_table"
# Long enough that pg_partman cuts it for every suffix: <parent>_p<suffix> > 63.
LONG = "time_taptest_table_123456789012345678901234567890123456789012"


def _install(conn: psycopg.Connection[Any]) -> None:
    available = conn.execute(
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_partman'"
    ).fetchone()
    assert available and available[0], "pg_partman is needed: apt-get install postgresql-15-partman"
    conn.execute("CREATE SCHEMA partman")
    conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")


def _partman_set(
    conn: psycopg.Connection[Any],
    table: str,
    interval: str,
    key_type: str = "timestamptz",
    date_trunc: str | None = None,
) -> None:
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute(
        f'CREATE TABLE public."{table}" (col1 int NOT NULL, col3 {key_type} NOT NULL'
        " DEFAULT now()) PARTITION BY RANGE (col3)"
    )
    conn.execute(
        "SELECT partman.create_parent(%s, 'col3', 'native', %s, p_date_trunc_interval := %s)",
        (f"public.{table}", interval, date_trunc),
    )


def _children(conn: psycopg.Connection[Any], table: str) -> dict[str, str]:
    rows = conn.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass",
        (f'public."{table}"',),
    ).fetchall()
    return {name: bound for name, bound in rows}


def _next_by_partman(
    conn: psycopg.Connection[Any], table: str, step: str, count: int
) -> tuple[datetime, list[tuple[str, str]]]:
    """End of the set's coverage, and pg_partman's (name, bound text) for the
    ``count`` partitions that follow it, asked before any hand-over."""
    rows = conn.execute(
        """
        WITH b AS (
          SELECT max((regexp_match(pg_get_expr(c.relpartbound, c.oid),
                                   'TO \\(''([^'']+)''\\)'))[1]) AS hi
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = %(t)s::regclass
             AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT')
        SELECT (b.hi::timestamptz + n * %(step)s::interval),
               (partman.show_partition_name(%(p)s,
                  (b.hi::timestamptz + n * %(step)s::interval)::text)).partition_table
          FROM b, generate_series(0, %(count)s - 1) n ORDER BY n
        """,
        {"t": f'public."{table}"', "p": f"public.{table}", "step": step, "count": count},
    ).fetchall()
    return rows[0][0], [(str(name), str(lower)) for lower, name in rows]


def _hand_over(conn: psycopg.Connection[Any], table: str) -> None:
    conn.execute("DELETE FROM partman.part_config WHERE parent_table = %s", (f"public.{table}",))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


PARTMAN_INTERVALS = [
    # (create_parent interval, PostgreSQL interval of one partition)
    ("yearly", "1 year"),
    ("quarterly", "3 months"),
    ("monthly", "1 month"),
    ("weekly", "1 week"),
    ("daily", "1 day"),
    ("hourly", "1 hour"),
    ("half-hour", "30 minutes"),
    ("quarter-hour", "15 minutes"),
    ("7 hours", "7 hours"),
    ("3 days", "3 days"),
    ("2 weeks", "2 weeks"),
    ("11 weeks", "11 weeks"),
    ("3 months", "3 months"),
    ("2 years", "2 years"),
]


@pytest.mark.parametrize("table", [SHORT, LONG])
@pytest.mark.parametrize(("interval", "step"), PARTMAN_INTERVALS)
def test_partman_names_continue(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, table: str, interval: str, step: str
) -> None:
    made = _extend_after_hand_over(pg_conn, pg_dsn, table, interval, step, "timestamptz")
    if table == LONG:
        assert all(len(name) == 63 for name in made)
        assert all(name.startswith(LONG[:40]) and "_p" in name for name in made)


@pytest.mark.parametrize(
    ("interval", "step", "key_type"),
    [
        ("7 hours", "7 hours", "timestamp"),
        ("2 weeks", "2 weeks", "timestamp"),
        ("daily", "1 day", "date"),
        ("3 days", "3 days", "date"),
        ("monthly", "1 month", "date"),
    ],
)
def test_partman_names_continue_other_keys(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, interval: str, step: str, key_type: str
) -> None:
    _extend_after_hand_over(pg_conn, pg_dsn, LONG, interval, step, key_type)


@pytest.mark.parametrize("table", [SHORT, LONG])
@pytest.mark.parametrize(("interval", "trunc"), [("7 hours", "hour"), ("20 minutes", "minute")])
def test_partman_custom_sub_day_with_seconds(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, table: str, interval: str, trunc: str
) -> None:
    """p_date_trunc_interval makes pg_partman 4 name sub-day sets YYYY_MM_DD_HH24MISS."""
    made = _extend_after_hand_over(pg_conn, pg_dsn, table, interval, interval, "timestamptz", trunc)
    assert all(len(name.rsplit("_", 1)[1]) == 6 for name in made), made


def _extend_after_hand_over(
    conn: psycopg.Connection[Any],
    dsn: str,
    table: str,
    interval: str,
    step: str,
    key_type: str,
    date_trunc: str | None = None,
) -> list[str]:
    """Build the set, hand it over, have pgpart create the next three
    partitions; check them against pg_partman's answers; return their names."""
    _install(conn)
    _partman_set(conn, table, interval, key_type, date_trunc)
    start, expected = _next_by_partman(conn, table, step, 3)
    before = _children(conn, table)
    _hand_over(conn, table)
    report = cli(["check", f"public.{table}", "--dsn", dsn, "--format", "json"]).json()
    [row] = report["tables"]
    assert row["interval"] == parse_interval(step).value, row
    (end,) = conn.execute(
        "SELECT %s::timestamptz + 3 * %s::interval", (start, step)
    ).fetchone() or (None,)
    assert isinstance(end, datetime)
    run = cli(["create", f"public.{table}", "--dsn", dsn, "--from", _iso(start), "--to", _iso(end)])
    assert run.code == 0, run.stdout + run.stderr
    after = _children(conn, table)
    made = sorted(set(after) - set(before))
    assert made == sorted(name for name, _ in expected), (made, expected)
    for name, lower in expected:
        (same,) = conn.execute(
            "SELECT %s::timestamptz = (regexp_match(%s, 'FROM \\(''([^'']+)''\\)'))[1]::timestamptz",
            (lower, after[name]),
        ).fetchone() or (None,)
        assert same, (name, lower, after[name])
    return made


def _is_contiguous(conn: psycopg.Connection[Any], table: str) -> bool:
    (ok,) = conn.execute(
        """
        WITH b AS (
          SELECT (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \\(''([^'']+)''\\)'))[1]
                   ::timestamptz AS lo,
                 (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]
                   ::timestamptz AS hi
            FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = %s::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT')
        SELECT bool_and(hi = next_lo) FROM (SELECT hi, lead(lo) OVER (ORDER BY lo) AS next_lo
                                              FROM b) s WHERE next_lo IS NOT NULL
        """,
        (f'public."{table}"',),
    ).fetchone() or (None,)
    return bool(ok)


@pytest.mark.parametrize(("interval", "step"), [("daily", "1 day"), ("2 weeks", "2 weeks")])
def test_partman_managed_set_check_skip_and_repair(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, interval: str, step: str
) -> None:
    _install(pg_conn)
    _partman_set(pg_conn, LONG, interval)
    start, expected = _next_by_partman(pg_conn, LONG, step, 3)
    before = _children(pg_conn, LONG)
    args = ["--dsn", pg_dsn, "--format", "json"]
    check = cli(["check", f"public.{LONG}", *args])
    assert check.code == 0, check.stdout
    [note] = [p for p in check.json()["tables"][0]["problems"] if p["code"] == "managed_elsewhere"]
    assert note["severity"] == "info"
    # maintain and drop leave it alone: not a failure.
    assert cli(["maintain", *args]).code == 0
    assert cli(["drop", f"public.{LONG}", "--older-than", "1 day", "--yes", *args]).code == 0
    assert _children(pg_conn, LONG) == before
    # An explicit create proceeds, with pg_partman's names and bounds...
    (end,) = pg_conn.execute(
        "SELECT %s::timestamptz + 3 * %s::interval", (start, step)
    ).fetchone() or (None,)
    assert isinstance(end, datetime)
    run = cli(["create", f"public.{LONG}", *args, "--from", _iso(start), "--to", _iso(end)])
    assert run.code == 0, run.stdout + run.stderr
    made = set(_children(pg_conn, LONG)) - set(before)
    assert made == {name for name, _ in expected}
    # ...and pg_partman's own maintenance carries on after it.
    pg_conn.execute(
        "UPDATE partman.part_config SET premake = 12, infinite_time_partitions = true"
        " WHERE parent_table = %s",
        (f"public.{LONG}",),
    )
    pg_conn.execute("SELECT partman.run_maintenance(%s)", (f"public.{LONG}",))
    later = set(_children(pg_conn, LONG)) - set(before) - made
    assert later, "run_maintenance() made nothing after pgpart's partitions"
    assert _is_contiguous(pg_conn, LONG)
    assert cli(["check", f"public.{LONG}", *args]).code == 0


def test_partman_unreadable_part_config_fails_closed(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    _install(pg_conn)
    _partman_set(pg_conn, SHORT, "daily")
    pg_conn.execute("CREATE TABLE plain (ts timestamptz NOT NULL) PARTITION BY RANGE (ts)")
    pg_conn.execute(
        "CREATE TABLE plain_2026 PARTITION OF plain FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')"
    )
    pg_conn.execute("CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'")
    pg_conn.execute("REVOKE ALL ON SCHEMA partman FROM PUBLIC")
    before = {t: _children(pg_conn, t) for t in (SHORT, "plain")}
    dsn = f"{pg_dsn} user=outsider password=outsider-pw"
    run = cli(["maintain", "--dsn", dsn, "--format", "json"])
    assert run.code == 2, run.stdout + run.stderr
    notes = [
        p for t in run.json()["tables"] for p in t["problems"] if p["code"] == "managed_elsewhere"
    ]
    assert len(notes) == 2 and all("cannot read partman.part_config" in n["message"] for n in notes)
    assert {t: _children(pg_conn, t) for t in (SHORT, "plain")} == before
    check = cli(["check", "--dsn", dsn, "--format", "json"])
    assert "part_config" in check.stdout and check.code == 1


def test_partman_init_carries_part_config_over(
    pg_conn: psycopg.Connection[Any], pg_dsn: str, tmp_path: Path
) -> None:
    _install(pg_conn)
    _partman_set(pg_conn, "kept", "daily")
    _partman_set(pg_conn, "dropped", "quarter-hour")
    _partman_set(pg_conn, LONG, "2 weeks")
    pg_conn.execute(
        "UPDATE partman.part_config SET premake = 7, retention = '30 days'"
        " WHERE parent_table = 'public.kept'"
    )
    pg_conn.execute(
        "UPDATE partman.part_config SET retention = '2 hours', retention_keep_table = false"
        " WHERE parent_table = 'public.dropped'"
    )
    written = tmp_path / "pgpart.toml"
    run = cli(["init", "--dsn", pg_dsn, "--output", str(written)])
    assert run.code == 0, run.stdout + run.stderr
    text = written.read_text()
    settings = load_settings(Overrides(config=written), {}, tmp_path)
    policies = {p.name: p for p in settings.tables}
    kept, dropped, long = (
        policies["public.kept"],
        policies["public.dropped"],
        policies[f"public.{LONG}"],
    )
    assert (kept.interval, kept.premake, str(kept.retention), kept.retention_mode.value) == (
        parse_interval("daily"),
        7,
        "30 days",
        "detach",  # pg_partman's retention_keep_table (default true) keeps the tables
    )
    assert (dropped.interval, str(dropped.retention), dropped.retention_mode.value) == (
        parse_interval("15 minutes"),
        "2h",
        "drop",
    )
    assert long.interval == parse_interval("2 weeks") and long.premake == 4
    # Each says where its settings came from, right above its section.
    section = text.split('[[table]]\nname = "public.kept"')[0].rsplit("\n\n", 1)[-1]
    assert "# from pg_partman's part_config: partition_interval 1 day; premake 7" in section
    assert "DELETE FROM part_config WHERE parent_table = 'public.kept'" in section
    # Handed over, pgpart and the generated config agree with the bounds pg_partman made.
    pg_conn.execute("DELETE FROM partman.part_config")
    check = cli(["check", "--dsn", pg_dsn, "--config", str(written), "--format", "json"])
    assert check.code == 0, check.stdout
    assert not [p for t in check.json()["tables"] for p in t["problems"]], check.stdout
