"""A DEFAULT partition without a single page holds no row: check counts it as
empty without reading it (one statement less on every run of a healthy
database). A DEFAULT whose size says nothing of its rows (a foreign table) is
still read, and so is one that has pages, even with no row left."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.support.cli_helpers import NOW, cli, daily_table


def _default_reads(pg_dsn: str) -> tuple[list[str], Any]:
    """The statements of `check -v` that read events_default, and the JSON."""
    run = cli(["check", "events", "--dsn", pg_dsn, "-v", "--format", "json", "--now", NOW])
    assert run.code in (0, 1), run.stderr
    logged = [line for line in run.stderr.splitlines() if line.startswith("pgpart: sql: ")]
    return [line for line in logged if '"events_default"' in line], run.json()


def _default_rows(report: Any) -> int:
    (table,) = report["tables"]
    return int(table["default_rows"])


def test_an_empty_default_is_not_read_and_counts_zero(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    daily_table(pg_conn)
    pg_conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    reads, report = _default_reads(pg_dsn)
    assert reads == []
    assert _default_rows(report) == 0


def test_a_default_with_pages_is_read_even_once_emptied(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    daily_table(pg_conn)
    pg_conn.execute("CREATE TABLE events_default PARTITION OF events DEFAULT")
    pg_conn.execute(
        "INSERT INTO events VALUES ('2027-03-01 10:00+00', 1), ('2027-03-01 11:00+00', 2)"
    )
    reads, report = _default_reads(pg_dsn)
    assert reads and _default_rows(report) == 2
    pg_conn.execute("DELETE FROM events_default")  # the page stays until VACUUM truncates it
    reads, report = _default_reads(pg_dsn)
    assert reads and _default_rows(report) == 0


def test_a_foreign_default_is_read_whatever_its_size(
    pg_conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    """A foreign table has no local pages: its size is no evidence of no rows."""
    daily_table(pg_conn)
    pg_conn.execute("CREATE FOREIGN DATA WRAPPER elsewhere")
    pg_conn.execute("CREATE SERVER far FOREIGN DATA WRAPPER elsewhere")
    pg_conn.execute("CREATE FOREIGN TABLE events_default PARTITION OF events DEFAULT SERVER far")
    run = cli(["check", "events", "--dsn", pg_dsn, "-v", "--format", "json", "--now", NOW])
    logged = [line for line in run.stderr.splitlines() if line.startswith("pgpart: sql: ")]
    assert any('"events_default"' in line for line in logged), run.stderr
    # A wrapper without a handler cannot be read: said, not taken for empty.
    (table,) = run.json()["tables"]
    messages = [p["message"] for p in table["problems"]]
    assert any("could not probe the DEFAULT" in m and "no handler" in m for m in messages), messages
