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
from typing import Any

import psycopg
import pytest

from pgpart.calendar import parse_interval
from tests.cli_helpers import cli

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
